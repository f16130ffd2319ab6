package bench

import (
	"fmt"
	"io"
	"slices"
)

// WritePairedReports sets the rows of report b against those of report a
// seed by seed, as Markdown: for every row of b that a has (the same
// model, regime, N and filter, scored on the same seeds over the same
// cycles), the mean over the seeds both kept of b − a RMSE with its 95%
// CI, in % of a's mean on those seeds (pairRows), beside each side's
// mean spread over its mean RMSE. It is how two schemes,
// each with its own tuning, are compared on the same truths; names label
// the two sides. The reports must share their evaluation seeds.
func WritePairedReports(w io.Writer, a, b LatentReport, aName, bName string) error {
	if !slices.Equal(a.EvalSeeds, b.EvalSeeds) {
		return fmt.Errorf("bench pair: %s was scored on the evaluation seeds %v, %s on %v; a paired comparison needs the same truths", aName, a.EvalSeeds, bName, b.EvalSeeds)
	}
	var out []string
	below, above, compared := 0, 0, 0
	for _, row := range b.Rows {
		t := findRow(a.Rows, row)
		if t == nil {
			continue
		}
		if t.Cycles != row.Cycles {
			return fmt.Errorf("bench pair: %s %s N = %d %s was scored over %d cycles in %s, %d in %s", row.Model, row.Regime, row.N, row.Filter, t.Cycles, aName, row.Cycles, bName)
		}
		change := "— (fewer than 2 seeds both kept)"
		if pd, ok := pairRows(&row, t); ok {
			compared++
			change = fmt.Sprintf("%+.1f%% ± %.1f%% (lower on %d of %d)", 100*pd.mean/pd.base, 100*pd.half/pd.base, pd.lower, pd.n)
			switch {
			case pd.mean+pd.half < 0:
				below++
			case pd.mean-pd.half > 0:
				above++
			}
		}
		out = append(out, fmt.Sprintf("| %s | %s | %d | %s | %s (%s) | %s (%s) | %s | %s | %s |\n", row.Model, row.Regime, row.N, row.Filter,
			rowRMSE(t), t.Hyperparameters, rowRMSE(&row), row.Hyperparameters, dispersion(t), dispersion(&row), change))
	}
	if len(out) == 0 {
		return fmt.Errorf("bench pair: %s and %s have no row in common", aName, bName)
	}
	if _, err := fmt.Fprintf(w, "Paired, seed by seed on the evaluation seeds %v: B = %s against A = %s; the change is the mean of B − A RMSE over the seeds both kept, with its 95%% CI, in %% of A's mean on them.\n\n"+
		"| model | regime | N | filter | A rmse (chosen) | B rmse (chosen) | A spread / rmse | B spread / rmse | paired change B − A (95%% CI) |\n|---|---|---|---|---|---|---|---|---|\n", a.EvalSeeds, bName, aName); err != nil {
		return err
	}
	for _, line := range out {
		if _, err := io.WriteString(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\nRows in common: %d, paired: %d; the paired interval lies wholly below 0 on %d and wholly above on %d.\n", len(out), compared, below, above)
	return err
}

// dispersion returns a row's mean spread over its mean RMSE (1 for an
// ensemble as wide as its error), or "—" without both.
func dispersion(r *LatentRow) string {
	if r.RMSEMean == nil || r.SpreadMean == nil || *r.RMSEMean == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", *r.SpreadMean / *r.RMSEMean)
}
