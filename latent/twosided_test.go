package latent

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats"

	"github.com/latentda/latentda/observations"
)

// TestTwoSidedCalibration checks the moment-matched laws on a sample
// with known moments and the input checks.
func TestTwoSidedCalibration(t *testing.T) {
	// χ²(6) draws: mean 6, variance 12, so 2k ≈ 6 within sampling error
	// (5% relative for 20000 draws).
	rng := rand.New(rand.NewPCG(1, 2))
	const m = 20000
	res, code := make([]float64, m), make([]float64, m)
	for i := range res {
		for range 6 {
			v := rng.NormFloat64()
			res[i] += v * v
		}
	}
	for i := range code {
		code[i] = 2 * res[(i+1)%m] // a scaled χ²(6) too
	}
	ts, err := CalibrateTwoSided(res, code, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := ts.DegreesOfFreedom(); math.Abs(r-6) > 0.3 || math.Abs(c-6) > 0.3 {
		t.Errorf("calibrated dof %v and %v, want 6", r, c)
	}
	// The median of χ²(6) (5.348) is typical: p ≈ 1; 0 and a huge value are not.
	if _, p, _ := ts.Score(5.348, 10.7); p < 0.95 {
		t.Errorf("p at the median %v", p)
	}
	if stat, p, _ := ts.Score(0.01, 10.7); p > 1e-5 || stat < ts.Threshold() {
		t.Errorf("p at 0.01 is %v, T = %v (threshold %v)", p, stat, ts.Threshold())
	}
	if stat, _, _ := ts.Score(math.NaN(), 10.7); !math.IsInf(stat, 1) {
		t.Errorf("NaN residual scores %v", stat)
	}
	for _, tc := range []struct {
		res, code []float64
		alpha     float64
	}{
		{[]float64{1, 2}, []float64{1}, 0.5},
		{make([]float64, 50), make([]float64, 50), 0.01},
		{[]float64{1, math.Inf(1)}, []float64{1, 2}, 0.5},
		{[]float64{1, 1}, []float64{1, 2}, 0.5},
	} {
		if _, err := CalibrateTwoSided(tc.res, tc.code, tc.alpha); err == nil {
			t.Errorf("accepted %v, %v at α = %v", tc.res, tc.code, tc.alpha)
		}
	}
}

// twoSidedDraw makes observations of a state x = μ + s(Wz + ξ) of the
// linear problem with z ~ N(0, I) and ξ ~ N(0, 0.5²I) orthogonal to the
// generator's range (what a generator does not represent), y = Hx + ε:
// s = 1 is the climatology, s < 1 a low-energy regime.
func twoSidedDraw(g *PCA, n int, s float64, y []float64, op observations.Operator, rVar []float64, rng *rand.Rand) {
	d := g.LatentDim()
	z, x, w := make([]float64, d), make([]float64, n), make([]float64, n)
	for k := range z {
		z[k] = rng.NormFloat64()
	}
	g.Decode(x, z)
	for j := range w {
		w[j] = 0.5 * rng.NormFloat64()
	}
	// Remove w's part in the range: w ← w − Σₖ (uₖ·w) uₖ, uₖ orthonormal.
	for k := 0; k < d; k++ {
		u := g.comp[k*n : (k+1)*n]
		floats.AddScaled(w, -floats.Dot(u, w), u)
	}
	for j := range x {
		x[j] = g.mean[j] + s*(x[j]-g.mean[j]+w[j])
	}
	op.Apply(y, x)
	for i := range y {
		y[i] += math.Sqrt(rVar[i]) * rng.NormFloat64()
	}
}

// calibratedTwoSided calibrates the two-sided test on m draws of the
// climatology and returns it with the one-sided J* threshold calibrated on
// the same draws.
func calibratedTwoSided(t *testing.T, test *ManifoldTest, g *PCA, n, m int, alpha float64, op observations.Operator, rVar []float64, rng *rand.Rand) (*TwoSided, float64) {
	t.Helper()
	y := make([]float64, op.OutDim())
	res, code, js := make([]float64, m), make([]float64, m), make([]float64, m)
	z0 := make([]float64, g.LatentDim())
	for i := 0; i < m; i++ {
		twoSidedDraw(g, n, 1, y, op, rVar, rng)
		r := test.Test(y, z0)
		res[i], code[i], js[i] = r.Residual, r.CodeDistance, r.Statistic
	}
	ts, err := CalibrateTwoSided(res, code, alpha)
	if err != nil {
		t.Fatal(err)
	}
	thr, err := observations.EmpiricalThreshold(js, alpha)
	if err != nil {
		t.Fatal(err)
	}
	return ts, thr
}

// TestTwoSidedFlagsLowEnergy: a regime with a fifth of the climatology's
// amplitude, on and off the manifold, projects to a small residual and a
// code near the mean. The one-sided J* flags it less often than an
// in-distribution batch (at most α plus 3 binomial standard errors); the
// two-sided score flags at least 95% of its batches.
func TestTwoSidedFlagsLowEnergy(t *testing.T) {
	const n, d, m, M, alpha = 60, 20, 2000, 1000, 0.01
	// Equal scales, 4 per code: every code is observed well (its
	// observation noise in code space, ≈ R/(16·½), is small beside its
	// unit prior), so the code distance has about d degrees of freedom, not
	// the few of linearProblem's decaying scales 3/(k+1).
	g, op, rVar := linearProblemScaled(t, n, d, func(int) float64 { return 4 })
	test, err := NewManifoldTest(g, op, rVar, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	ts, jThr := calibratedTwoSided(t, test, g, n, m, alpha, op, rVar, rng)
	y := make([]float64, op.OutDim())
	one, two := 0, 0
	for i := 0; i < M; i++ {
		twoSidedDraw(g, n, 0.2, y, op, rVar, rng)
		r := test.Test(y, make([]float64, d))
		if r.Statistic > jThr {
			one++
		}
		if stat, _, _ := ts.Score(r.Residual, r.CodeDistance); stat > ts.Threshold() {
			two++
		}
	}
	if lim := alpha + 3*math.Sqrt(alpha*(1-alpha)/M); float64(one)/M > lim {
		t.Errorf("one-sided J* flagged %d of %d low-energy batches (want <= %.3f)", one, M, lim)
	}
	if float64(two)/M < 0.95 {
		t.Errorf("two-sided score flagged %d of %d low-energy batches, want >= 95%%", two, M)
	}
}

// TestTwoSidedNominalRate: calibrated on m in-distribution batches, the
// test flags a fraction of M new ones within the 99.9% interval of α,
// ±3.3·√(α(1 − α)(1/m + 1/M)): the new batches' binomial error plus that of
// the calibrated quantile.
func TestTwoSidedNominalRate(t *testing.T) {
	const n, d, m, M, alpha = 30, 5, 10000, 20000, 0.01
	g, op, rVar := linearProblem(t, n, d)
	test, err := NewManifoldTest(g, op, rVar, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	ts, _ := calibratedTwoSided(t, test, g, n, m, alpha, op, rVar, rng)
	y := make([]float64, op.OutDim())
	hits := 0
	for i := 0; i < M; i++ {
		twoSidedDraw(g, n, 1, y, op, rVar, rng)
		r := test.Test(y, make([]float64, d))
		if stat, _, _ := ts.Score(r.Residual, r.CodeDistance); stat > ts.Threshold() {
			hits++
		}
	}
	got := float64(hits) / M
	if tol := 3.3 * math.Sqrt(alpha*(1-alpha)*(1.0/m+1.0/M)); math.Abs(got-alpha) > tol {
		t.Errorf("false-alarm rate %.4f, want %.2f ± %.4f", got, alpha, tol)
	}
}

// TestCodeDistance checks the Mahalanobis distance against a hand
// computation with a diagonal Σ_clim, and the default (μ = 0, Σ = I).
func TestCodeDistance(t *testing.T) {
	g, op, rVar := linearProblem(t, 10, 2)
	test, err := NewManifoldTest(g, op, rVar, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if got := test.codeDistance([]float64{3, 4}); got != 25 {
		t.Errorf("default distance %v, want 25", got)
	}
	if err := test.SetCodeClimatology([]float64{1, 0}, []float64{4, 0, 0, 16}); err != nil {
		t.Fatal(err)
	}
	// (3−1)²/4 + 4²/16 = 2.
	if got := test.codeDistance([]float64{3, 4}); math.Abs(got-2) > 1e-14 {
		t.Errorf("distance %v, want 2", got)
	}
	if err := test.SetCodeClimatology([]float64{0, 0}, []float64{1, 2, 2, 1}); err == nil {
		t.Error("indefinite covariance accepted")
	}
}
