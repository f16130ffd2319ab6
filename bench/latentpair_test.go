package bench

import (
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
	if err := WritePairedReports(&out, a, b, "a.json", "b.json"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"| ks | small | 4 | letkf |", "| 0.80 | 0.80 | -11.7% ± 7.2% (lower on 3 of 3)", "Rows in common: 1, paired: 1; the paired interval lies wholly below 0 on 1 and wholly above on 0."} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "latent-hybrid-local") {
		t.Errorf("a row only one report has was paired:\n%s", got)
	}
	other := b
	other.EvalSeeds = []uint64{5, 6, 7, 8}
	if err := WritePairedReports(&out, a, other, "a.json", "b.json"); err == nil || !strings.Contains(err.Error(), "the same truths") {
		t.Errorf("other seeds: %v", err)
	}
	longer := LatentReport{EvalSeeds: seeds, Rows: []LatentRow{row("letkf", 0.2, 0.2, 0.2, 0.2)}}
	longer.Rows[0].Cycles = 800
	if err := WritePairedReports(&out, a, longer, "a.json", "b.json"); err == nil || !strings.Contains(err.Error(), "over 400 cycles in a.json, 800 in b.json") {
		t.Errorf("other lengths: %v", err)
	}
}
