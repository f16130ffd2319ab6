package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/bench/ood"
	"github.com/latentda/latentda/internal/strictjson"
	"github.com/latentda/latentda/store"
)

// benchOODOptions holds the flags of `latentda bench ood`.
type benchOODOptions struct {
	ood.Options
	Report string
	JSON   string
	Merge  []string
}

func newBenchOODCmd() *cobra.Command {
	o := &benchOODOptions{}
	cmd := &cobra.Command{
		Use:   "ood",
		Short: "Evaluate the out-of-distribution detectors on L96 and KS; writes docs/results-ood.md and .json",
		Long: `Fits a PCA generator on the Lorenz-96 (F = 8) and Kuramoto-Sivashinsky
(L = 32π) climatologies, then runs cycled LETKF twin experiments, several
seeds each, in which the world leaves that climatology (regime shifts both
ways, sensor faults, unseen structures, anomalies on unobserved variables,
static and dynamical). Reports each detector's false-alarm rate with a
block-bootstrap 95% interval, detection rate, ROC AUC and detection latency,
and the per-channel false-alarm rates, as Markdown and JSON ({"rows": [...]});
with --policies also the analysis RMSE per policy (warn, reject, inflate).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd.Context(), cmd.ErrOrStderr(), strings.Join(os.Args[1:], " "))
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Cycles, "cycles", 0, "cycles per run after the onset (default 2000)")
	f.IntVar(&o.Seeds, "seeds", 0, "seeds per case (default 5)")
	f.IntVar(&o.FirstSeed, "first-seed", 1, "the first seed: the seeds are first, first+1, ...")
	f.StringToIntVar(&o.AnomalyCycles, "anomaly-cycles", nil, "shorter runs for the anomalous cases, by model, e.g. ks=500 (default --cycles)")
	f.StringSliceVar(&o.Models, "models", nil, "models to run: lorenz96, ks (default both)")
	f.Float64Var(&o.Variance, "variance", 0, "explained variance of the Lorenz-96 PCA generator (default 0.90)")
	f.IntVar(&o.KSDim, "ks-dim", 0, "latent dimension of the KS PCA generator (default 32)")
	f.IntVar(&o.Samples, "samples", 0, "archive snapshots for each generator (default 5000)")
	f.BoolVar(&o.Policies, "policies", false, "also run every case under the reject and inflate policies with every seed (analysis RMSE table)")
	f.StringVar(&o.Report, "report", "docs/results-ood.md", "Markdown report to write")
	f.StringSliceVar(&o.Merge, "merge", nil, "run nothing: join the JSON results of earlier runs on other models and write the report and JSON from them")
	f.StringVar(&o.JSON, "json", "docs/results-ood.json", "JSON results to write ({\"rows\": [...]}); empty: none")
	return cmd
}

func (o *benchOODOptions) Run(ctx context.Context, stderr io.Writer, cmdline string) error {
	start := time.Now()
	if o.FirstSeed < 1 {
		return usageError{fmt.Errorf("--first-seed must be >= 1, got %d", o.FirstSeed)}
	}
	var res ood.Result
	if len(o.Merge) > 0 {
		var parts []ood.Result
		for _, path := range o.Merge {
			var r ood.Result
			if err := strictjson.DecodeFile(path, &r); err != nil {
				return fmt.Errorf("bench ood: merge: %w", err)
			}
			parts = append(parts, r)
		}
		var err error
		if res, err = ood.Merge(parts); err != nil {
			return err
		}
	} else {
		o.Log = func(s string) { fmt.Fprintln(stderr, s) }
		var err error
		if res, err = ood.Run(ctx, o.Options); err != nil {
			return fmt.Errorf("bench ood: %w", err)
		}
		res.Command, res.Seconds = cmdline, time.Since(start).Seconds()
	}
	var b strings.Builder
	ood.WriteReport(&b, res)
	if err := store.WriteFileAtomic(o.Report, []byte(b.String())); err != nil {
		return err
	}
	if o.JSON != "" {
		data, err := json.MarshalIndent(res, "", " ")
		if err != nil {
			return err
		}
		if err := store.WriteFileAtomic(o.JSON, data); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "wrote %s in %s\n", o.Report, time.Since(start).Round(time.Second))
	return nil
}
