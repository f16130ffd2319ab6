package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/bench"
)

func newBenchGeneratorsCmd() *cobra.Command {
	var o bench.GeneratorOptions
	var report, js string
	cmd := &cobra.Command{
		Use:   "generators",
		Short: "Held-out reconstruction error against d of every generator kind on the latent benchmark's archives; writes docs/results-generators.md and .json",
		Long: `Fits every selected generator kind (pca, quadratic, autoencoder, conv) at
every selected latent dimension on the latent benchmark's archive of each
model, with the benchmark's settings, and reports the held-out
reconstruction RMSE beside the PCA reference curve. The networks take most
of the time (about 40 minutes for the default set on 2 cores).

  latentda bench generators --model ks --generator conv --d 32 --epochs 150 --report /tmp/g.md --json /tmp/g.json

--conv-width 2 doubles the convolutional autoencoder's channels in every
stage, to see what a wider network buys at the same epochs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			stderr := cmd.ErrOrStderr()
			o.Log = timestampedLog(stderr)
			start := time.Now()
			gens, err := bench.RunGenerators(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("bench generators: %w", err)
			}
			rep := bench.GeneratorReport{Generators: gens, Command: "latentda " + strings.Join(os.Args[1:], " "), Seconds: time.Since(start).Seconds(), Epochs: o.Epochs, ConvWidth: o.ConvWidth}
			if err := rep.WriteFiles(report, js); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "wrote %s and %s in %s\n", report, js, time.Since(start).Round(time.Second))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Models, "model", nil, "models: ks, lorenz96 (default both)")
	f.StringSliceVar(&o.Kinds, "generator", nil, "generator kinds: pca, quadratic, autoencoder, conv (default all)")
	f.IntSliceVar(&o.Dims, "d", nil, "latent dimensions (default 8, 16, 32)")
	f.IntVar(&o.Epochs, "epochs", 0, fmt.Sprintf("the networks' epochs at most (0: the latent benchmark's %d)", bench.NetworkEpochs))
	f.IntVar(&o.ConvWidth, "conv-width", 0, "multiply the convolutional autoencoder's channels by this (0: the latent benchmark's)")
	f.StringVar(&report, "report", "docs/results-generators.md", "Markdown report to write")
	f.StringVar(&js, "json", "docs/results-generators.json", "JSON to write")
	return cmd
}
