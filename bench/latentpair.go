package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
)

// WritePairedReports sets the rows of report b against those of report a
// seed by seed, as Markdown: for every row of b that a has (the same
// model, regime, N and filter, scored on the same seeds over the same
// cycles), the mean over the seeds both kept of b − a RMSE with its 95%
// CI, in % of a's mean on those seeds (pairRows), beside each side's
// mean spread over its mean RMSE. It is how two schemes,
// each with its own tuning, are compared on the same truths; names label
// the two sides. The reports must share their evaluation seeds. It ends
// with how much of the count of rows within adaptiveTolerance chance
// would move, on draws of draws seeds (writeCountChance; 0: as many as
// the reports were scored on).
func WritePairedReports(w io.Writer, a, b LatentReport, aName, bName string, draws int) error {
	if err := SameTruths(a, b, aName, bName); err != nil {
		return err
	}
	var out []string
	below, above, compared := 0, 0, 0
	var lostA, lostB, runsA, runsB int
	for _, row := range b.Rows {
		t := findRow(a.Rows, row)
		if t == nil {
			continue
		}
		lostA, runsA = lostA+t.Diverged, runsA+t.Seeds
		lostB, runsB = lostB+row.Diverged, runsB+row.Seeds
		if t.Cycles != row.Cycles {
			return fmt.Errorf("bench pair: %s %s N = %d %s was scored over %d cycles in %s, %d in %s", row.Model, row.Regime, row.N, row.Filter, t.Cycles, aName, row.Cycles, bName)
		}
		change := "— (fewer than 2 seeds both kept) | —"
		if pd, ok := pairRows(&row, t); ok {
			compared++
			change = fmt.Sprintf("%+.1f%% ± %.1f%% (lower on %d of %d) | %+.1f%%", 100*pd.mean/pd.base, 100*pd.half/pd.base, pd.lower, pd.n, 100*(pd.median-1))
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
	if _, err := fmt.Fprintf(w, "Paired, seed by seed on the evaluation seeds %v: B = %s against A = %s; the change is the mean of B − A RMSE over the seeds both kept, with its 95%% CI, in %% of A's mean on them; the median is that of B / A RMSE seed by seed, which one seed's spell on either side does not move.\n\n"+
		"| model | regime | N | filter | A rmse (chosen) | B rmse (chosen) | A spread / rmse | B spread / rmse | paired change B − A (95%% CI) | median B / A − 1 |\n|---|---|---|---|---|---|---|---|---|---|\n", a.EvalSeeds, bName, aName); err != nil {
		return err
	}
	for _, line := range out {
		if _, err := io.WriteString(w, line); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "\nRows in common: %d, paired: %d; the paired interval lies wholly below 0 on %d and wholly above on %d. Evaluation runs lost (diverged) on these rows: A %d of %d, B %d of %d.\n",
		len(out), compared, below, above, lostA, runsA, lostB, runsB); err != nil {
		return err
	}
	return writeCountChance(w, seedPairs(a, b), adaptiveTolerance, draws)
}

// SameTruths refuses two reports scored on different evaluation seeds.
func SameTruths(a, b LatentReport, aName, bName string) error {
	if !slices.Equal(a.EvalSeeds, b.EvalSeeds) {
		return fmt.Errorf("bench pair: %s was scored on the evaluation seeds %v, %s on %v; a paired comparison needs the same truths", aName, a.EvalSeeds, bName, b.EvalSeeds)
	}
	return nil
}

// PoolReports returns one report holding the evaluation runs of all of
// reports (named by names, for errors), as if they were scored together:
// their evaluation seeds, which must be disjoint, one after the other,
// and each row that every report has, its choice and length the same in
// each, with its statistics over all their seeds. It pools registered
// sets of the same protocol into one larger set for WritePairedReports.
func PoolReports(reports []LatentReport, names []string) (LatentReport, error) {
	pooled := reports[0]
	pooled.EvalSeeds = slices.Clone(pooled.EvalSeeds)
	pooled.Rows = nil
	for i, r := range reports[1:] {
		for _, seed := range r.EvalSeeds {
			if slices.Contains(pooled.EvalSeeds, seed) {
				return LatentReport{}, fmt.Errorf("bench pair: %s and an earlier report were both scored on seed %d; pooled sets need disjoint seeds", names[i+1], seed)
			}
		}
		pooled.EvalSeeds = append(pooled.EvalSeeds, r.EvalSeeds...)
	}
	for _, row := range reports[0].Rows {
		row.Evaluation = slices.Clone(row.Evaluation)
		inAll := true
		for i, r := range reports[1:] {
			t := findRow(r.Rows, row)
			if t == nil {
				inAll = false
				break
			}
			if t.Hyperparameters.String() != row.Hyperparameters.String() || t.Cycles != row.Cycles {
				return LatentReport{}, fmt.Errorf("bench pair: %s %s N = %d %s chose %s over %d cycles in %s, %s over %d in %s; pooled sets need the same choices",
					row.Model, row.Regime, row.N, row.Filter, row.Hyperparameters, row.Cycles, names[0], t.Hyperparameters, t.Cycles, names[i+1])
			}
			row.Evaluation = append(row.Evaluation, t.Evaluation...)
		}
		if inAll {
			row.Seeds, row.EvalSeeds = len(row.Evaluation), pooled.EvalSeeds
			row.setStats()
			pooled.Rows = append(pooled.Rows, row)
		}
	}
	return pooled, nil
}

// rowPairs holds one row's RMSEs of B and A by evaluation seed (the
// reports' order), and whether both kept the seed.
type rowPairs struct {
	b, a []float64
	kept []bool
}

// seedPairs returns the rowPairs of every row of b that a has, with two
// or more seeds both kept (the rows WritePairedReports pairs).
func seedPairs(a, b LatentReport) []rowPairs {
	var rows []rowPairs
	for _, row := range b.Rows {
		t := findRow(a.Rows, row)
		if t == nil {
			continue
		}
		byA, byB := seedMap(t), seedMap(&row)
		p, n := rowPairs{}, 0
		for _, seed := range b.EvalSeeds {
			sb, okB := byB[seed]
			sa, okA := byA[seed]
			kept := okA && okB && !sa.Diverged && !sb.Diverged
			p.b, p.a, p.kept = append(p.b, sb.RMSE), append(p.a, sa.RMSE), append(p.kept, kept)
			if kept {
				n++
			}
		}
		if n >= 2 {
			rows = append(rows, p)
		}
	}
	return rows
}

// seedMap indexes a row's evaluation runs by seed.
func seedMap(r *LatentRow) map[uint64]SeedResult {
	m := map[uint64]SeedResult{}
	for _, s := range r.Evaluation {
		m[s.Seed] = s
	}
	return m
}

// within reports whether B's mean RMSE is at most tol above A's over the
// seeds both kept among draw (indices into the row's seeds; a seed drawn
// twice counts twice), with B and A traded on the draws swap marks. A
// row with no kept seed drawn is not within: nothing shows it is.
func (p rowPairs) within(draw []int, swap []bool, tol float64) bool {
	var sb, sa float64
	for k, i := range draw {
		if !p.kept[i] {
			continue
		}
		b, a := p.b[i], p.a[i]
		if swap[k] {
			b, a = a, b
		}
		sb, sa = sb+b, sa+a
	}
	return sa > 0 && sb/sa-1 <= tol
}

// chanceDraws is how many draws the count's distributions take: the share
// of draws with every row within has a standard error of at most 0.5%.
const chanceDraws = 10000

// countChance draws m of the evaluation seeds with replacement, the same
// draw for every row (a paired bootstrap: these methods on another draw of
// m truths), and returns the share of draws in which every row is within
// tol and the mean count of rows within. With exchange, each drawn seed's
// two sides are also traded with probability 1/2, every row's together
// (the seed is the unit the rows share): the null of two exchangeable
// sides, as if one method ran twice. rng fixes the draws, so the output
// is reproducible.
func countChance(rows []rowPairs, tol float64, m int, exchange bool, rng *rand.Rand) (all, mean float64) {
	if len(rows) == 0 {
		return 0, 0
	}
	n := len(rows[0].kept)
	draw, swap := make([]int, m), make([]bool, m)
	allWithin, total := 0, 0
	for range chanceDraws {
		for i := range draw {
			draw[i] = rng.IntN(n)
			swap[i] = exchange && rng.IntN(2) == 1
		}
		count := 0
		for _, p := range rows {
			if p.within(draw, swap, tol) {
				count++
			}
		}
		total += count
		if count == len(rows) {
			allWithin++
		}
	}
	return float64(allWithin) / chanceDraws, float64(total) / chanceDraws
}

// writeCountChance says how much of the count of rows within tol (on the
// seeds both kept) chance alone would move (countChance), on draws of m
// seeds (0: as many as the reports were scored on).
func writeCountChance(w io.Writer, rows []rowPairs, tol float64, m int) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows[0].kept)
	if m == 0 {
		m = n
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	count := 0
	for _, p := range rows {
		if p.within(all, make([]bool, n), tol) {
			count++
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	nullAll, nullMean := countChance(rows, tol, m, true, rng)
	bootAll, bootMean := countChance(rows, tol, m, false, rng)
	_, err := fmt.Fprintf(w, "\nHow much of the count is chance: on the seeds both kept (a seed one side lost left out), B's mean RMSE is at most %.0f%% above A's on %d of %d rows. "+
		"Drawing %d of the %d seeds with replacement %d times (a paired bootstrap: these two methods on another draw of %d truths), all %d rows are within on %.1f%% of the draws, %.1f on average; "+
		"were the sides exchangeable (each drawn seed's two sides traded with probability 1/2, as if one method ran twice), on %.1f%%, %.1f on average.\n",
		100*tol, count, len(rows), m, n, chanceDraws, m, len(rows), 100*bootAll, bootMean, 100*nullAll, nullMean)
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
