package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/bench/dapper"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Reproducible benchmarks (run in process, no Temporal needed)",
	}
	cmd.AddCommand(newBenchDapperCmd(), newBenchLatentCmd(), newBenchGeneratorsCmd(), newBenchOODCmd(), newBenchScaleCmd(), newBenchPairCmd())
	return cmd
}

// benchDapperOptions holds the flags of `latentda bench dapper`.
type benchDapperOptions struct {
	dapper.Options
	Output    string
	Pattern   string // --match
	Inflation string
}

func newBenchDapperCmd() *cobra.Command {
	o := &benchDapperOptions{}
	cmd := &cobra.Command{
		Use:   "dapper",
		Short: "Reproduce the DAPPER benchmark table (L63, L96, KS) and compare with the published RMSEs",
		Long: `Runs each row of the DAPPER reference table (Sakov 2012 L63, Sakov 2008 L96,
Bocquet 2019 KS) as an in-process twin experiment and prints the time-mean
analysis RMSE beside the published value. Rows run concurrently (--parallel).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().IntVar(&o.Cycles, "cycles", 0, "cycles per row (0: the defaults, 20000 L63, 10000 L96, 5000 KS)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "output format: text or json (one object per line)")
	cmd.Flags().StringVar(&o.Pattern, "match", "", "only rows whose \"case method\" matches this regular expression")
	cmd.Flags().IntVar(&o.Parallel, "parallel", 2, "rows run at once")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 0, "run seed (0: the table's fixed seed)")
	cmd.Flags().StringVar(&o.Inflation, "inflation", "", "adaptive: replace every row's hand-set inflation by the adaptive inflation of the method's default scheme (enkf-n; innovation for the stochastic EnKF)")
	cmd.Flags().Float64Var(&o.XN, "xn", 0, "with --inflation adaptive, the hyperprior weight filter.adaptive.xn of the EnKF-N rows (0: the default, 1)")
	cmd.Flags().Float64Var(&o.PriorSD, "prior-sd", 0, "with --inflation adaptive, the prior standard deviation filter.adaptive.prior_sd of the innovation schemes' rows (0: the default, 0.08)")
	cmd.Flags().BoolVar(&o.LocalLETKF, "local-letkf", false, "with --inflation adaptive, the LETKF rows take the local innovation scheme (filter.adaptive.scheme: local-innovation) instead of the local EnKF-N")
	cmd.Flags().BoolVar(&o.EnKFN, "enkf-n", false, "with --local-letkf, the LETKF rows' local innovation scheme gets the EnKF-N on top (filter.adaptive.enkf_n; --xn sets its weight)")
	return cmd
}

func (o *benchDapperOptions) Validate() error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	if o.Cycles < 0 {
		return usageError{fmt.Errorf("--cycles must be >= 0, got %d", o.Cycles)}
	}
	if o.Parallel < 1 {
		return usageError{fmt.Errorf("--parallel must be >= 1, got %d", o.Parallel)}
	}
	switch o.Inflation {
	case "":
	case "adaptive":
		o.Adaptive = true
	default:
		return usageError{fmt.Errorf("--inflation: want adaptive (or nothing, for the table's), got %q", o.Inflation)}
	}
	if !(o.XN >= 0) || math.IsInf(o.XN, 0) || (o.XN != 0 && !o.Adaptive) {
		return usageError{fmt.Errorf("--xn: a finite number > 0, with --inflation adaptive (got %v)", o.XN)}
	}
	if !(o.PriorSD >= 0) || math.IsInf(o.PriorSD, 0) || (o.PriorSD != 0 && !o.Adaptive) {
		return usageError{fmt.Errorf("--prior-sd: a finite number > 0, with --inflation adaptive (got %v)", o.PriorSD)}
	}
	if o.LocalLETKF && !o.Adaptive {
		return usageError{fmt.Errorf("--local-letkf: with --inflation adaptive")}
	}
	if o.EnKFN && !o.LocalLETKF {
		return usageError{fmt.Errorf("--enkf-n: with --local-letkf (it adds the EnKF-N to the local innovation scheme)")}
	}
	re, err := regexp.Compile(o.Pattern)
	if err != nil {
		return usageError{fmt.Errorf("--match: %w", err)}
	}
	o.Match = re
	return nil
}

func (o *benchDapperOptions) Run(ctx context.Context, stdout, stderr io.Writer) error {
	cases := dapper.Select(o.Options)
	if len(cases) == 0 {
		return usageError{fmt.Errorf("--match %q selects no row", o.Pattern)}
	}
	o.Done = func(r dapper.Row) {
		fmt.Fprintf(stderr, "done %s %s: rmse_a %.4f (reference %.3f) in %.1fs\n", r.Case, r.Method, r.RMSEa, r.Reference, r.Seconds)
	}
	rows, err := dapper.Run(ctx, cases, o.Options)
	if err != nil {
		return err
	}
	if err := dapper.WriteTable(stdout, rows, o.Output == "json"); err != nil {
		return err
	}
	return dapper.Failed(rows)
}
