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

// benchLatentOptions holds the flags of `latentda bench latent`.
type benchLatentOptions struct {
	bench.LatentBenchOptions
	Report string
	JSON   string
}

func newBenchLatentCmd() *cobra.Command {
	o := &benchLatentOptions{}
	cmd := &cobra.Command{
		Use:   "latent",
		Short: "Evaluate the latent EnKF against full-space ETKF/LETKF on L96 and KS; writes docs/results-latent.md",
		Long: `Builds a simulation archive for each model, fits PCA generators and trains
autoencoders for each latent dimension, then runs the latent ETKF for every
generator, dimension, ensemble size, encoding and update variant beside the
full-space ETKF and LETKF at the same ensemble size, and the brittleness check
(generators trained on fully observed states, used with every 4th variable
observed). Writes a Markdown report. The default grid takes tens of minutes
on 2 cores; narrow it with the flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd.Context(), cmd.ErrOrStderr(), strings.Join(os.Args[1:], " "))
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Models, "models", nil, "models (default lorenz96,ks)")
	f.IntSliceVar(&o.Dims, "dims", nil, "latent dimensions (default 8,16,24,32; the full dimension is always added)")
	f.IntSliceVar(&o.Members, "members", nil, "ensemble sizes (default 8,16,24)")
	f.StringSliceVar(&o.Generators, "generators", nil, "pca, autoencoder (default both)")
	f.StringSliceVar(&o.Encodings, "encodings", nil, "amortised, projection (default both)")
	f.StringSliceVar(&o.Updates, "updates", nil, "decode, increment (default both)")
	f.IntVar(&o.CyclesL96, "cycles-l96", 0, "cycles per L96 run (default 1000)")
	f.IntVar(&o.CyclesKS, "cycles-ks", 0, "cycles per KS run (default 600)")
	f.IntVar(&o.Samples, "samples", 0, "archive snapshots per model (default 10000)")
	f.IntVar(&o.Epochs, "epochs", 0, "autoencoder epochs at most (default 40)")
	f.IntVar(&o.Parallel, "parallel", 0, "runs at once (default 2)")
	f.StringVar(&o.Report, "report", "docs/results-latent.md", "Markdown report to write")
	f.StringVar(&o.JSON, "json", "", "also write the rows as JSON to this file")
	return cmd
}

func (o *benchLatentOptions) Run(ctx context.Context, stderr io.Writer, cmdline string) error {
	start := time.Now()
	o.Log = func(s string) { fmt.Fprintln(stderr, s) }
	gens, rows, err := bench.RunLatentBench(ctx, o.LatentBenchOptions)
	if err != nil {
		return fmt.Errorf("bench latent: %w", err)
	}
	var b strings.Builder
	bench.WriteLatentReport(&b, cmdline, time.Since(start), gens, rows)
	if err := store.WriteFileAtomic(o.Report, []byte(b.String())); err != nil {
		return err
	}
	if o.JSON != "" {
		data, err := json.MarshalIndent(struct {
			Generators []bench.GeneratorRow   `json:"generators"`
			Rows       []bench.LatentBenchRow `json:"rows"`
		}{gens, rows}, "", " ")
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
