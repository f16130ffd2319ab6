package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/experiment"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Reproducible benchmarks (run in process, no Temporal needed)",
	}
	cmd.AddCommand(newBenchDapperCmd(), newBenchLatentCmd(), newBenchOODCmd(), newBenchScaleCmd())
	return cmd
}

// benchDapperOptions holds the flags of `latentda bench dapper`.
type benchDapperOptions struct {
	Cycles   int
	Output   string
	Match    string
	Parallel int
	Seed     uint64
	match    *regexp.Regexp
}

// dapperRow is one line of the report.
type dapperRow struct {
	Case      string  `json:"case"`
	Source    string  `json:"source"`
	Method    string  `json:"method"`
	Cycles    int     `json:"cycles"`
	Seed      uint64  `json:"seed"`
	RMSEa     float64 `json:"rmse_a"`
	RMSEf     float64 `json:"rmse_f"`
	SpreadA   float64 `json:"spread_a"`
	NISRatio  float64 `json:"nis_ratio"`
	Reference float64 `json:"reference"`
	RelError  float64 `json:"rel_error"`
	Within10  bool    `json:"within_10pct"`
	Seconds   float64 `json:"seconds"`
	Error     string  `json:"error,omitempty"`
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
	cmd.Flags().StringVar(&o.Match, "match", "", "only rows whose \"case method\" matches this regular expression")
	cmd.Flags().IntVar(&o.Parallel, "parallel", 2, "rows run at once")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 0, "run seed (0: the table's fixed seed)")
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
	re, err := regexp.Compile(o.Match)
	if err != nil {
		return usageError{fmt.Errorf("--match: %w", err)}
	}
	o.match = re
	return nil
}

func (o *benchDapperOptions) Run(ctx context.Context, stdout, stderr io.Writer) error {
	var cases []experiment.BenchCase
	for _, c := range experiment.DapperCases(o.Cycles) {
		if o.match.MatchString(c.Case + " " + c.Method) {
			if o.Seed != 0 {
				c.Config.Seed = o.Seed
			}
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		return usageError{fmt.Errorf("--match %q selects no row", o.Match)}
	}
	rows := make([]dapperRow, len(cases))
	var mu sync.Mutex
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			s, err := experiment.Run(ctx, c.Config, nil)
			r := dapperRow{
				Case: c.Case, Source: c.Source, Method: c.Method, Cycles: c.Config.Cycles, Seed: c.Config.Seed,
				RMSEa: s.RMSEa, RMSEf: s.RMSEf, SpreadA: s.SpreadA, NISRatio: s.NISRatio,
				Reference: c.Reference, RelError: (s.RMSEa - c.Reference) / c.Reference,
				Seconds: time.Since(start).Seconds(),
			}
			r.Within10 = math.Abs(r.RelError) <= 0.10
			if err != nil {
				r.Error = err.Error()
			}
			rows[i] = r
			mu.Lock()
			fmt.Fprintf(stderr, "done %s %s: rmse_a %.4f (reference %.3f) in %.1fs\n", c.Case, c.Method, r.RMSEa, c.Reference, r.Seconds)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.Output == "json" {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "case\tmethod\tcycles\treference\trmse_a\trel.err\tspread_a\tnis_ratio\tok")
		for _, r := range rows {
			ok := "yes"
			if !r.Within10 {
				ok = "NO"
			}
			if r.Error != "" {
				ok = "error: " + r.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.4f\t%+.1f%%\t%.4f\t%.3f\t%s\n",
				r.Case, r.Method, r.Cycles, r.Reference, r.RMSEa, 100*r.RelError, r.SpreadA, r.NISRatio, ok)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if r.Error != "" {
			return fmt.Errorf("bench dapper: %s %s: %s", r.Case, r.Method, r.Error)
		}
	}
	return nil
}
