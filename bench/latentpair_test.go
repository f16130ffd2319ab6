package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestWritePairedReports: the paired change is B − A over the seeds both
// kept, in % of A's mean on them (a lost seed on either side leaves the
// pair out); rows only one report has are skipped; reports on other seeds
// or lengths are refused.
func TestWritePairedReports(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	row := func(filter string, rmse ...float64) LatentRow {
		r := LatentRow{Model: "ks", Regime: "small", N: 4, Filter: filter, Seeds: len(rmse), Cycles: 400, RMSEMean: f(0.2), RMSECI95: f(0.01), SpreadMean: f(0.16)}
		for i, x := range rmse {
			r.Evaluation = append(r.Evaluation, SeedResult{Seed: uint64(i + 1), RMSE: x, Diverged: x < 0})
			if x < 0 {
				r.Diverged++
			}
		}
		return r
	}
	seeds := []uint64{1, 2, 3, 4}
	a := LatentReport{EvalSeeds: seeds, Rows: []LatentRow{row("letkf", 0.2, 0.2, 0.2, 0.2), row("latent-hybrid-local-pca", 0.2, 0.2, 0.2, 0.2)}}
	// letkf: B − A = −0.02, −0.03, −0.02 on seeds 1–3 (seed 4 lost by B):
	// mean −0.02333, in % of A's 0.2 on them −11.7%; half-width t(2) ×
	// 0.00577/√3 = 0.0143, 7.2%.
	b := LatentReport{EvalSeeds: seeds, Rows: []LatentRow{row("letkf", 0.18, 0.17, 0.18, -1), row("latent-hybrid-local-conv", 0.1, 0.1, 0.1, 0.1)}}
	var out strings.Builder
	if err := WritePairedReports(&out, a, b, "a.json", "b.json", 0); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"| ks | small | 4 | letkf |", "| 0.80 | 0.80 | -11.7% ± 7.2% (lower on 3 of 3) | -10.0% |", "Rows in common: 1, paired: 1; the paired interval lies wholly below 0 on 1 and wholly above on 0. Evaluation runs lost (diverged) on these rows: A 0 of 4, B 1 of 4.",
		// Within on every draw but those of seed 4 (lost by B) alone: 1 − 4⁻⁴.
		"How much of the count is chance: on the seeds both kept (a seed one side lost left out), B's mean RMSE is at most 5% above A's on 1 of 1 rows. Drawing 4 of the 4 seeds with replacement 10000 times (a paired bootstrap: these two methods on another draw of 4 truths), all 1 rows are within on 99.6% of the draws"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "latent-hybrid-local") {
		t.Errorf("a row only one report has was paired:\n%s", got)
	}
	other := b
	other.EvalSeeds = []uint64{5, 6, 7, 8}
	if err := WritePairedReports(&out, a, other, "a.json", "b.json", 0); err == nil || !strings.Contains(err.Error(), "the same truths") {
		t.Errorf("other seeds: %v", err)
	}
	longer := LatentReport{EvalSeeds: seeds, Rows: []LatentRow{row("letkf", 0.2, 0.2, 0.2, 0.2)}}
	longer.Rows[0].Cycles = 800
	if err := WritePairedReports(&out, a, longer, "a.json", "b.json", 0); err == nil || !strings.Contains(err.Error(), "over 400 cycles in a.json, 800 in b.json") {
		t.Errorf("other lengths: %v", err)
	}
}

// TestCountChance checks the count's two distributions against ones worked
// out by hand. Each share is a mean of chanceDraws Bernoulli draws, so its
// standard error is at most 0.005; the tolerance, 0.02, is four of them.
func TestCountChance(t *testing.T) {
	pairs := func(b, a []float64, kept ...bool) rowPairs {
		if kept == nil {
			kept = []bool{true, true, true, true}
		}
		return rowPairs{b: b, a: a, kept: kept}
	}
	ones := []float64{1, 1, 1, 1}
	for _, c := range []struct {
		name     string
		rows     []rowPairs
		exchange bool
		all      float64
	}{
		// B = A on every seed: within on every draw, either way.
		{"equal", []rowPairs{pairs(ones, ones), pairs(ones, ones)}, false, 1},
		{"equal exchanged", []rowPairs{pairs(ones, ones), pairs(ones, ones)}, true, 1},
		// B 20% above A on every seed: never within. Traded, k of the 4
		// draws give (1.2(4−k) + k)/(4 − k + 1.2k), within for k ≥ 2:
		// P = (6 + 4 + 1)/16.
		{"worse", []rowPairs{pairs([]float64{1.2, 1.2, 1.2, 1.2}, ones)}, false, 0},
		{"worse exchanged", []rowPairs{pairs([]float64{1.2, 1.2, 1.2, 1.2}, ones)}, true, 11.0 / 16},
		// One seed of four 16% above: within when it is drawn at most
		// once in four (+4%; twice is +8%), (3/4)⁴ + 4 (1/4)(3/4)³.
		{"one bad seed", []rowPairs{pairs([]float64{1.16, 1, 1, 1}, ones)}, false, math.Pow(0.75, 4) + math.Pow(0.75, 3)},
		// A seed B lost is not compared, however large its RMSE; a draw of
		// it alone shows nothing: 1 − 4⁻⁴.
		{"lost seed", []rowPairs{pairs([]float64{100, 1, 1, 1}, ones, false, true, true, true)}, false, 1 - math.Pow(0.25, 4)},
		// Rows share the seeds drawn and the sides traded: two rows alike
		// are within together (drawn or traded apart, 0.738² and
		// (11/16)²).
		{"two rows, one bad seed", []rowPairs{pairs([]float64{1.16, 1, 1, 1}, ones), pairs([]float64{1.16, 1, 1, 1}, ones)}, false, math.Pow(0.75, 4) + math.Pow(0.75, 3)},
		{"two rows worse, exchanged", []rowPairs{pairs([]float64{1.2, 1.2, 1.2, 1.2}, ones), pairs([]float64{1.2, 1.2, 1.2, 1.2}, ones)}, true, 11.0 / 16},
	} {
		all, mean := countChance(c.rows, 0.05, 4, c.exchange, rand.New(rand.NewPCG(3, 4)))
		if math.Abs(all-c.all) > 0.02 {
			t.Errorf("%s: every row within on %.4f of the draws, want %.4f", c.name, all, c.all)
		}
		if len(c.rows) == 1 && math.Abs(mean-all) > 1e-12 {
			t.Errorf("%s: one row, mean count %v differs from its share %v", c.name, mean, all)
		}
	}
}

// TestPoolReports: pooled reports hold every seed of each, one after the
// other, and each row all of them have, its statistics over all the
// seeds; overlapping seeds and rows that chose differently are refused.
func TestPoolReports(t *testing.T) {
	row := func(filter string, hyper Hyper, first uint64, rmse ...float64) LatentRow {
		r := LatentRow{Model: "ks", Regime: "small", N: 4, Filter: filter, Seeds: len(rmse), Cycles: 400, Hyperparameters: hyper}
		for i, x := range rmse {
			r.Evaluation = append(r.Evaluation, SeedResult{Seed: first + uint64(i), RMSE: x, Diverged: x < 0})
		}
		r.setStats()
		return r
	}
	h := Hyper{"inflation": 1.05}
	a := LatentReport{EvalSeeds: []uint64{1, 2}, Rows: []LatentRow{row("letkf", h, 1, 0.1, 0.2), row("etkf", h, 1, 0.3, 0.3)}}
	b := LatentReport{EvalSeeds: []uint64{3, 4}, Rows: []LatentRow{row("letkf", h, 3, 0.3, -1)}}
	got, err := PoolReports([]LatentReport{a, b}, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.EvalSeeds, []uint64{1, 2, 3, 4}) || len(got.Rows) != 1 {
		t.Fatalf("pooled seeds %v, %d rows; want 1..4 and the one row both have", got.EvalSeeds, len(got.Rows))
	}
	// Seeds 1–3 kept, 4 lost: mean 0.2.
	if r := got.Rows[0]; r.Seeds != 4 || r.Diverged != 1 || r.RMSEMean == nil || math.Abs(*r.RMSEMean-0.2) > 1e-15 {
		t.Errorf("pooled row: %d seeds, %d lost, mean %v; want 4, 1 and 0.2", r.Seeds, r.Diverged, r.RMSEMean)
	}
	if len(a.Rows[0].Evaluation) != 2 {
		t.Error("pooling changed its input")
	}
	if _, err := PoolReports([]LatentReport{a, a}, []string{"a", "a2"}); err == nil || !strings.Contains(err.Error(), "a2 and an earlier report were both scored on seed 1") {
		t.Errorf("overlapping seeds: %v", err)
	}
	other := LatentReport{EvalSeeds: []uint64{3, 4}, Rows: []LatentRow{row("letkf", Hyper{"inflation": 1.1}, 3, 0.3, 0.3)}}
	if _, err := PoolReports([]LatentReport{a, other}, []string{"a", "c"}); err == nil || !strings.Contains(err.Error(), "chose inflation=1.05 over 400 cycles in a, inflation=1.1 over 400 in c") {
		t.Errorf("other choices: %v", err)
	}
}

// TestPairRowsMedian: the median of the seed-by-seed ratios is the middle
// one of an odd number, the mean of the middle two of an even number.
func TestPairRowsMedian(t *testing.T) {
	row := func(rmse ...float64) *LatentRow {
		r := &LatentRow{}
		for i, x := range rmse {
			r.Evaluation = append(r.Evaluation, SeedResult{Seed: uint64(i), RMSE: x})
		}
		return r
	}
	for _, c := range []struct {
		b    *LatentRow
		want float64
	}{
		{row(0.5, 1, 1.5), 1},       // ratios 0.5, 1, 1.5
		{row(2, 0.5, 1.5, 1), 1.25}, // ratios 0.5, 1, 1.5, 2
	} {
		pd, ok := pairRows(c.b, row(slices.Repeat([]float64{1}, len(c.b.Evaluation))...))
		if !ok || pd.median != c.want {
			t.Errorf("%d seeds: median %v (%v), want %v", len(c.b.Evaluation), pd.median, ok, c.want)
		}
	}
}
