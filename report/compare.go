package report

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// CycleDiag is one run's diagnostics of one cycle of a [Comparison].
type CycleDiag struct {
	RMSEa   float64 `json:"rmse_a"`
	RMSEf   float64 `json:"rmse_f"`
	SpreadA float64 `json:"spread_a"`
	SpreadF float64 `json:"spread_f"`
}

// CycleRow is one cycle of both runs; a run without the cycle has nil.
type CycleRow struct {
	Cycle int           `json:"cycle"`
	Runs  [2]*CycleDiag `json:"runs"`
}

// Comparison aligns the diagnostics of two runs cycle by cycle (what
// `latentda compare -o json` prints).
type Comparison struct {
	Runs [2]string `json:"runs"`
	// Cycles holds every cycle of either run, in order.
	Cycles []CycleRow `json:"cycles"`
	// Summary holds each run's time means over the cycles both runs have
	// and both score (past both burn-ins). With Cycles 0 there are no
	// means: each run's scored is 0 and its means are 0, not measurements.
	Summary struct {
		Cycles int                   `json:"cycles"`
		Runs   [2]experiment.Summary `json:"runs"`
	} `json:"summary"`
}

// CompareRuns aligns the diagnostics of runs a and b under runsDir.
func CompareRuns(runsDir, a, b string) (Comparison, error) {
	var c Comparison
	c.Runs = [2]string{a, b}
	var rows [2]map[int]store.DiagRow
	var cfgs [2]config.Config
	var cycles []int
	seen := map[int]bool{}
	for i, run := range c.Runs {
		d, err := LoadDiagnostics(filepath.Join(runsDir, run))
		if err != nil {
			return c, fmt.Errorf("compare run %s: %w", run, err)
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
	var hyper [2]experiment.HyperMeans
	for _, k := range cycles {
		row := CycleRow{Cycle: k}
		both := true
		for i := range 2 {
			r, ok := rows[i][k]
			if !ok {
				both = false
				continue
			}
			row.Runs[i] = &CycleDiag{RMSEa: r.RMSEA, RMSEf: r.RMSEF, SpreadA: r.SpreadA, SpreadF: r.SpreadF}
		}
		c.Cycles = append(c.Cycles, row)
		if both && cfgs[0].Scored(k) && cfgs[1].Scored(k) {
			for i := range 2 {
				st := experiment.StatsOfRow(rows[i][k])
				sums[i].Add(st, true)
				hyper[i].Add(st)
			}
		}
	}
	for i := range 2 {
		c.Summary.Runs[i] = sums[i].Summary()
		hyper[i].Set(&c.Summary.Runs[i])
	}
	c.Summary.Cycles = sums[0].Scored
	return c, nil
}

// WriteText writes c as a table of the cycles and the time means.
func (c Comparison) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "cycle\trmse_a A\trmse_a B\tspread_a A\tspread_a B\trmse_f A\trmse_f B\t\n")
	cell := func(d *CycleDiag, f func(*CycleDiag) float64) string {
		if d == nil {
			return "-"
		}
		return fmt.Sprintf("%.4f", f(d))
	}
	ra := func(d *CycleDiag) float64 { return d.RMSEa }
	sa := func(d *CycleDiag) float64 { return d.SpreadA }
	rf := func(d *CycleDiag) float64 { return d.RMSEf }
	for _, r := range c.Cycles {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Cycle,
			cell(r.Runs[0], ra), cell(r.Runs[1], ra), cell(r.Runs[0], sa), cell(r.Runs[1], sa), cell(r.Runs[0], rf), cell(r.Runs[1], rf))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := c.Summary
	if s.Cycles == 0 {
		// No means, as the run summary and status say before the burn-in ends.
		_, err := fmt.Fprintf(w, "\nA = %s\nB = %s\ntime means: — (no cycle that both runs have is past both burn-ins)\n", c.Runs[0], c.Runs[1])
		return err
	}
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
