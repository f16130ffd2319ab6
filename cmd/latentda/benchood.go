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

	"github.com/latentda/latentda/bench"
	"github.com/latentda/latentda/store"
)

// benchOODOptions holds the flags of `latentda bench ood`.
type benchOODOptions struct {
	bench.OODBenchOptions
	Report string
	JSON   string
}

func newBenchOODCmd() *cobra.Command {
	o := &benchOODOptions{}
	cmd := &cobra.Command{
		Use:   "ood",
		Short: "Evaluate the out-of-distribution detectors on L96; writes docs/results-ood.md",
		Long: `Fits a PCA generator on the Lorenz-96 (F = 8) climatology, then runs cycled
LETKF twin experiments in which the world leaves that climatology (regime
shifts, sensor faults, unseen structures, an anomaly on unobserved variables)
with quality control under each policy (warn, reject, inflate). Reports each
detector's false-alarm rate, detection rate and ROC AUC, and the analysis RMSE
per policy, as Markdown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd.Context(), cmd.ErrOrStderr(), strings.Join(os.Args[1:], " "))
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Cycles, "cycles", 0, "cycles per run after the onset (default 1000)")
	f.Float64Var(&o.Variance, "variance", 0, "explained variance of the PCA generator (default 0.99)")
	f.IntVar(&o.Samples, "samples", 0, "archive snapshots for the generator (default 5000)")
	f.StringVar(&o.Report, "report", "docs/results-ood.md", "Markdown report to write")
	f.StringVar(&o.JSON, "json", "", "also write the results as JSON to this file")
	return cmd
}

func (o *benchOODOptions) Run(ctx context.Context, stderr io.Writer, cmdline string) error {
	start := time.Now()
	o.Log = func(s string) { fmt.Fprintln(stderr, s) }
	res, err := bench.RunOODBench(ctx, o.OODBenchOptions)
	if err != nil {
		return fmt.Errorf("bench ood: %w", err)
	}
	var b strings.Builder
	bench.WriteOODReport(&b, cmdline, time.Since(start), res)
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
