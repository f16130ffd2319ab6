package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/report"
	"github.com/latentda/latentda/store"
)

// cycleDiag is one run's diagnostics of one cycle in `latentda compare`.
type cycleDiag struct {
	RMSEa   float64 `json:"rmse_a"`
	RMSEf   float64 `json:"rmse_f"`
	SpreadA float64 `json:"spread_a"`
	SpreadF float64 `json:"spread_f"`
}

// cycleRow is one cycle of both runs; a run without the cycle has nil.
type cycleRow struct {
	Cycle int           `json:"cycle"`
	Runs  [2]*cycleDiag `json:"runs"`
}

// comparison is what `latentda compare -o json` prints.
type comparison struct {
	Runs [2]string `json:"runs"`
	// Cycles holds every cycle of either run, in order.
	Cycles []cycleRow `json:"cycles"`
	// Summary holds each run's time means over the cycles both runs have
	// and both score (past both burn-ins).
	Summary struct {
		Cycles int                   `json:"cycles"`
		Runs   [2]experiment.Summary `json:"runs"`
	} `json:"summary"`
}

func newCompareCmd() *cobra.Command {
	var o connOptions
	var output string
	cmd := &cobra.Command{
		Use:   "compare RUN_A RUN_B",
		Short: "Print the diagnostics of two runs side by side",
		Long: `Reads the diagnostics of two runs under --state-dir/runs and prints them side
by side, aligned by cycle index, with each run's time-mean RMSE and spread
over the cycles both runs have and score (past both burn-ins): how a rerun
with changed settings compares with the original.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if _, err := stateDirAbs(o.StateDir); err != nil {
				return err
			}
			for _, r := range args {
				if err := checkRunID("run", r); err != nil {
					return err
				}
			}
			c, err := compareRuns(filepath.Join(o.StateDir, "runs"), args[0], args[1])
			if err != nil {
				return err
			}
			return printComparison(cmd.OutOrStdout(), output, c)
		},
	}
	sd := os.Getenv("LATENTDA_STATE_DIR")
	if sd == "" {
		sd = defaultStateDir
	}
	cmd.Flags().StringVar(&o.StateDir, "state-dir", sd, "directory holding run state (env LATENTDA_STATE_DIR)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// compareRuns aligns the diagnostics of runs a and b under runsDir.
func compareRuns(runsDir, a, b string) (comparison, error) {
	var c comparison
	c.Runs = [2]string{a, b}
	var rows [2]map[int]store.DiagRow
	var cfgs [2]config.Config
	var cycles []int
	seen := map[int]bool{}
	for i, run := range c.Runs {
		d, err := report.LoadDiagnostics(filepath.Join(runsDir, run))
		if err != nil {
			return c, fmt.Errorf("compare: run %s: %w", run, err)
		}
		cfg, rs := d.Config, d.Rows
		cfgs[i], rows[i] = cfg, map[int]store.DiagRow{}
		for _, r := range rs {
			rows[i][r.Cycle] = r
			if !seen[r.Cycle] {
				seen[r.Cycle] = true
				cycles = append(cycles, r.Cycle)
			}
		}
	}
	slices.Sort(cycles)
	var sums [2]experiment.Sums
	for _, k := range cycles {
		row := cycleRow{Cycle: k}
		both := true
		for i := range 2 {
			r, ok := rows[i][k]
			if !ok {
				both = false
				continue
			}
			row.Runs[i] = &cycleDiag{RMSEa: r.RMSEA, RMSEf: r.RMSEF, SpreadA: r.SpreadA, SpreadF: r.SpreadF}
		}
		c.Cycles = append(c.Cycles, row)
		if both && cfgs[0].Scored(k) && cfgs[1].Scored(k) {
			for i := range 2 {
				sums[i].Add(experiment.StatsOfRow(rows[i][k]), true)
			}
		}
	}
	for i := range 2 {
		c.Summary.Runs[i] = sums[i].Summary()
	}
	c.Summary.Cycles = sums[0].Scored
	return c, nil
}

func printComparison(w io.Writer, format string, c comparison) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "cycle\trmse_a A\trmse_a B\tspread_a A\tspread_a B\trmse_f A\trmse_f B\t\n")
	cell := func(d *cycleDiag, f func(*cycleDiag) float64) string {
		if d == nil {
			return "-"
		}
		return fmt.Sprintf("%.4f", f(d))
	}
	ra := func(d *cycleDiag) float64 { return d.RMSEa }
	sa := func(d *cycleDiag) float64 { return d.SpreadA }
	rf := func(d *cycleDiag) float64 { return d.RMSEf }
	for _, r := range c.Cycles {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Cycle,
			cell(r.Runs[0], ra), cell(r.Runs[1], ra), cell(r.Runs[0], sa), cell(r.Runs[1], sa), cell(r.Runs[0], rf), cell(r.Runs[1], rf))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := c.Summary
	_, err := fmt.Fprintf(w, `
A = %s
B = %s
time means over the %d cycles both runs have and score:
           A        B
rmse_a     %.4f   %.4f
rmse_f     %.4f   %.4f
spread_a   %.4f   %.4f
nis ratio  %.3f    %.3f
`, c.Runs[0], c.Runs[1], s.Cycles, s.Runs[0].RMSEa, s.Runs[1].RMSEa, s.Runs[0].RMSEf, s.Runs[1].RMSEf,
		s.Runs[0].SpreadA, s.Runs[1].SpreadA, s.Runs[0].NISRatio, s.Runs[1].NISRatio)
	return err
}
