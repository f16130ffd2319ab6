package observations

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFamilywiseOutliersCases checks the two procedures on hand-made
// scores, against p-values computed from their definition.
func TestFamilywiseOutliersCases(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name, control string
		z             []float64
		want          []bool
	}{
		// m = 4, α = 0.05: Bonferroni cut p ≤ 0.0125, |z| ≥ 2.498.
		{"bonferroni", ControlBonferroni, []float64{2.6, -2.4, 0.1, nan, 1}, []bool{true, false, false, false, false}},
		// BH: p = 0.0093, 0.0164, 0.92, 0.317; sorted thresholds jα/m =
		// 0.0125, 0.025, 0.0375, 0.05: both small ones pass (step-up).
		{"bh step-up", ControlBH, []float64{2.6, -2.4, 0.1, nan, 1}, []bool{true, true, false, false, false}},
		{"bh none", ControlBH, []float64{2.2, 0.1, 1, 0}, []bool{false, false, false, false}},
		{"all missing", ControlBH, []float64{nan, nan}, []bool{false, false}},
		// A score so large that its p-value underflows to 0 is flagged.
		{"underflow", ControlBH, []float64{50, 0}, []bool{true, false}},
	} {
		flags := make([]bool, len(tc.z))
		batchP, cut, err := FamilywiseOutliers(flags, tc.z, 0.05, tc.control)
		if err != nil {
			t.Fatal(err)
		}
		any := false
		for i := range flags {
			if flags[i] != tc.want[i] {
				t.Errorf("%s: flags %v, want %v", tc.name, flags, tc.want)
				break
			}
			any = any || flags[i]
			if flags[i] && math.Abs(tc.z[i]) < cut-1e-12 {
				t.Errorf("%s: flagged |z| = %v below the cut %v", tc.name, tc.z[i], cut)
			}
		}
		if any != (batchP <= 0.05) {
			t.Errorf("%s: batch p-value %v disagrees with the flags %v", tc.name, batchP, flags)
		}
	}
	if _, _, err := FamilywiseOutliers(make([]bool, 1), []float64{1}, 0.05, "holm"); err == nil {
		t.Error("unknown control accepted")
	}
}

// TestFamilywiseOutliersLevel draws batches of 40 independent N(0, 1)
// scores: the fraction of batches with any flag must be within the 99.9%
// binomial interval of α = 1% (Bonferroni: of 1 − (1 − α/40)⁴⁰ = 0.995%),
// while |z| > 3 on its own flags about 10%.
func TestFamilywiseOutliersLevel(t *testing.T) {
	const n, p, alpha = 20000, 40, 0.01
	rng := rand.New(rand.NewPCG(3, 5))
	z, flags := make([]float64, p), make([]bool, p)
	count := map[string]int{}
	for b := 0; b < n; b++ {
		raw := false
		for i := range z {
			z[i] = rng.NormFloat64()
			raw = raw || math.Abs(z[i]) > 3
		}
		if raw {
			count["k=3"]++
		}
		for _, c := range []string{ControlBonferroni, ControlBH} {
			batchP, _, err := FamilywiseOutliers(flags, z, alpha, c)
			if err != nil {
				t.Fatal(err)
			}
			if batchP <= alpha {
				count[c]++
			}
		}
	}
	for c, want := range map[string]float64{ControlBonferroni: 1 - math.Pow(1-alpha/p, p), ControlBH: alpha, "k=3": 1 - math.Pow(1-OutlierPValue(3), p)} {
		got := float64(count[c]) / n
		if tol := 3.3 * math.Sqrt(want*(1-want)/n); math.Abs(got-want) > tol {
			t.Errorf("%s: batch false-alarm rate %.4f, want %.4f ± %.4f", c, got, want, tol)
		}
	}
}
