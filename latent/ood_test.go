package latent

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/fixture"
	"github.com/latentda/latentda/observations"
)

// linearProblem is a whitened linear generator G(z) = μ + Wz on ℝⁿ with
// d random orthonormal axes, observed at every second variable with
// unequal error variances.
func linearProblem(t *testing.T, n, d int) (*PCA, observations.Operator, []float64) {
	t.Helper()
	return linearProblemScaled(t, n, d, func(k int) float64 { return 3 / float64(k+1) })
}

// linearProblemScaled is linearProblem with the scale of code k given.
func linearProblemScaled(t *testing.T, n, d int, scale func(k int) float64) (*PCA, observations.Operator, []float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	q := fixture.RandOrthogonal(n, rng)
	p := PCAParams{Mean: make([]float64, n), Components: make([]float64, d*n), Scales: make([]float64, d), TotalVariance: 1}
	for j := range p.Mean {
		p.Mean[j] = rng.NormFloat64()
	}
	for k := 0; k < d; k++ {
		for j := 0; j < n; j++ {
			p.Components[k*n+j] = q.At(j, k)
		}
		p.Scales[k] = scale(k)
	}
	g, err := NewPCA(p)
	if err != nil {
		t.Fatal(err)
	}
	op, err := observations.NewEveryKth(n, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	rVar := make([]float64, op.OutDim())
	for i := range rVar {
		rVar[i] = 0.5 + 0.1*float64(i%4)
	}
	return g, op, rVar
}

// TestManifoldStatisticIsChiSquare checks the calibration on the
// linear-Gaussian case where the distribution is known exactly: J* equals
// the closed form (y − Hμ)ᵀ(R + HWWᵀHᵀ)⁻¹(y − Hμ) to 1e-8 relative (the
// Levenberg–Marquardt solve is exact for a linear model up to round-off on
// a condition number ~1e2), and over M = 4000 draws it is χ²(p): the mean
// is within 5 standard errors (√(2p/M)) of p and the exceedance rate of the
// χ²(p) 0.99 quantile is within 5 binomial standard errors of 1%.
func TestManifoldStatisticIsChiSquare(t *testing.T) {
	const n, d, M, alpha = 30, 5, 4000, 0.01
	g, op, rVar := linearProblem(t, n, d)
	p := op.OutDim()
	test, err := NewManifoldTest(g, op, rVar, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	// Closed form: C = R + (HW)(HW)ᵀ.
	HW := mat.NewDense(p, d, nil)
	var J mat.Dense
	g.Jacobian(&J, make([]float64, d))
	Hm := mat.NewDense(p, n, nil)
	op.Jacobian(Hm, make([]float64, n))
	HW.Mul(Hm, &J)
	C := mat.NewSymDense(p, nil)
	C.SymOuterK(1, HW)
	for i, v := range rVar {
		C.SetSym(i, i, C.At(i, i)+v)
	}
	var chol mat.Cholesky
	if !chol.Factorize(C) {
		t.Fatal("C not positive definite")
	}
	hmu := make([]float64, p)
	op.Apply(hmu, g.mean)

	rng := rand.New(rand.NewPCG(9, 9))
	thr := observations.ChiSquareThreshold(p, alpha)
	z, x, y := make([]float64, d), make([]float64, n), make([]float64, p)
	z0 := make([]float64, d)
	var sum float64
	exceed := 0
	for m := 0; m < M; m++ {
		for k := range z {
			z[k] = rng.NormFloat64()
		}
		g.Decode(x, z)
		op.Apply(y, x)
		for i := range y {
			y[i] += math.Sqrt(rVar[i]) * rng.NormFloat64()
		}
		res := test.Test(y, z0)
		dv := mat.NewVecDense(p, nil)
		for i := range y {
			dv.SetVec(i, y[i]-hmu[i])
		}
		var sol mat.VecDense
		if err := chol.SolveVecTo(&sol, dv); err != nil {
			t.Fatal(err)
		}
		exact := mat.Dot(dv, &sol)
		if math.Abs(res.Statistic-exact) > 1e-8*exact {
			t.Fatalf("draw %d: J* = %v, closed form %v", m, res.Statistic, exact)
		}
		sum += res.Statistic
		if res.Statistic > thr {
			exceed++
		}
	}
	mean := sum / M
	if se := math.Sqrt(2 * float64(p) / M); math.Abs(mean-float64(p)) > 5*se {
		t.Errorf("mean J* = %.3f, want %d ± %.3f", mean, p, 5*se)
	}
	rate := float64(exceed) / M
	if se := math.Sqrt(alpha * (1 - alpha) / M); math.Abs(rate-alpha) > 5*se {
		t.Errorf("false-alarm rate %.4f, want %.2f ± %.4f", rate, alpha, 5*se)
	}
}

// TestManifoldTestSeesOffManifoldStructure checks the detector's point: a
// pattern orthogonal to the generator's range, of size comparable to the
// observation noise, raises J* far above the χ²(p) threshold, and its
// per-observation scores carry the pattern.
func TestManifoldTestSeesOffManifoldStructure(t *testing.T) {
	const n, d = 30, 5
	g, op, rVar := linearProblem(t, n, d)
	p := op.OutDim()
	test, err := NewManifoldTest(g, op, rVar, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, n)
	g.Decode(x, []float64{0.5, -1, 0.2, 0, 1})
	y := make([]float64, p)
	op.Apply(y, x)
	clean := test.Test(y, make([]float64, d)).Statistic
	for i := range y {
		y[i] += 3 * math.Cos(math.Pi*float64(i)) // alternating ±3
	}
	res := test.Test(y, make([]float64, d))
	if thr := observations.ChiSquareThreshold(p, 0.01); clean > thr || res.Statistic < 5*thr {
		t.Errorf("J* clean %.2f, with pattern %.2f; threshold %.2f", clean, res.Statistic, thr)
	}
	big := 0
	for _, s := range res.Scores {
		if math.Abs(s) > 1 {
			big++
		}
	}
	if big < p/2 {
		t.Errorf("only %d of %d scores exceed 1 under a ±3 pattern", big, p)
	}
}

func TestManifoldTestRejectsBadInput(t *testing.T) {
	g, op, rVar := linearProblem(t, 10, 2)
	if _, err := NewManifoldTest(g, op, rVar[:2], 1, 10); err == nil {
		t.Error("wrong number of variances accepted")
	}
	bad := append([]float64(nil), rVar...)
	bad[1] = 0
	if _, err := NewManifoldTest(g, op, bad, 1, 10); err == nil {
		t.Error("zero variance accepted")
	}
	other, _ := observations.NewIdentity(7)
	if _, err := NewManifoldTest(g, other, rVar, 1, 10); err == nil {
		t.Error("operator of the wrong size accepted")
	}
}

// TestManifoldSetVariances: changing the variances of a test gives exactly
// the test built with them, and a variance of +Inf takes the observation
// out of J* (moving it changes nothing) with a NaN score.
func TestManifoldSetVariances(t *testing.T) {
	const n, d = 12, 3
	g, op, rVar := linearProblem(t, n, d)
	p := op.OutDim()
	rng := rand.New(rand.NewPCG(11, 12))
	y := make([]float64, p)
	for i := range y {
		y[i] = 2 * rng.NormFloat64()
	}
	z0 := make([]float64, d)

	other := make([]float64, p)
	for i := range other {
		other[i] = rVar[i] * (1 + float64(i))
	}
	fresh, err := NewManifoldTest(g, op, other, 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	want := fresh.Test(y, z0).Statistic
	m, err := NewManifoldTest(g, op, rVar, 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	before := m.Test(y, z0).Statistic
	if err := m.SetVariances(other); err != nil {
		t.Fatal(err)
	}
	if got := m.Test(y, z0).Statistic; got != want || got == before {
		t.Errorf("J* after SetVariances %v, built with them %v (before %v)", got, want, before)
	}

	other[2] = math.Inf(1)
	if err := m.SetVariances(other); err != nil {
		t.Fatal(err)
	}
	res := m.Test(y, z0)
	out, scores := res.Statistic, append([]float64(nil), res.Scores...)
	y[2] += 1000
	if moved := m.Test(y, z0).Statistic; math.Abs(moved-out) > 1e-9*out {
		t.Errorf("moving an observation of infinite variance changed J* from %v to %v", out, moved)
	}
	if !math.IsNaN(scores[2]) || math.IsNaN(scores[1]) {
		t.Errorf("scores %v: want NaN for the observation left out only", scores)
	}

	for _, bad := range [][]float64{other[:p-1], {math.NaN()}, {0}, {-1}} {
		v := bad
		if len(bad) == 1 {
			v = append([]float64(nil), rVar...)
			v[0] = bad[0]
		}
		if err := m.SetVariances(v); err == nil {
			t.Errorf("variances %v accepted", v)
		}
	}
	if got := m.Test(y, z0).Statistic; math.Abs(got-out) > 1e-9*out {
		t.Errorf("after refused variances J* is %v, want the old %v", got, out)
	}
	if _, err := NewManifoldTest(g, op, other, 1, 50); err == nil {
		t.Error("NewManifoldTest accepted an infinite variance")
	}
}

// TestLocalisedPatterns: for a linear generator the projection is linear
// in y, so each pattern is exactly the change of the projected code when
// its bump is added to the observations (to 1e-9 relative); the bank has
// a single-point bump at each of the p observed points and a bump of each
// other width at each of the n grid points.
func TestLocalisedPatterns(t *testing.T) {
	const n, d = 24, 5
	g, op, rVar := linearProblem(t, n, d)
	test, err := NewManifoldTest(g, op, rVar, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	z := []float64{0.3, -1, 0.5, 2, 0}
	pats, err := test.LocalisedPatterns(z)
	if err != nil {
		t.Fatal(err)
	}
	p := op.OutDim()
	if want := p + (len(PatternWidths)-1)*n; len(pats) != want {
		t.Fatalf("%d patterns, want %d", len(pats), want)
	}
	y := make([]float64, p)
	test.obs.Decode(y, z)
	base := slices.Clone(test.Test(y, z).Code)
	pos := op.Positions()
	for _, tc := range []struct {
		index  int
		width  float64
		centre int
	}{{0, 0, int(pos[0])}, {3, 0, int(pos[3])}, {p + 7, 1, 7}, {p + n + 23, 2, 23}, {p + 2*n, 4, 0}} {
		b := slices.Clone(y)
		for i, x := range pos {
			dist := math.Abs(x - float64(tc.centre))
			dist = math.Min(dist, n-dist)
			switch {
			case tc.width > 0:
				b[i] += math.Exp(-dist * dist / (2 * tc.width * tc.width))
			case dist == 0:
				b[i]++
			}
		}
		got := test.Test(b, z).Code
		for k := range got {
			if want := got[k] - base[k]; math.Abs(pats[tc.index][k]-want) > 1e-9*(1+math.Abs(want)) {
				t.Errorf("width %v at %d: pattern %v, projection moved by %v", tc.width, tc.centre, pats[tc.index], want)
				break
			}
		}
	}
	if _, err := test.LocalisedPatterns(z[:4]); err == nil {
		t.Error("LocalisedPatterns accepted a code of the wrong length")
	}
	// A grid longer than MaxPatternCentres: centres every 2nd point, all
	// of them observed (every-2 from 0), MaxPatternCentres/2 + 3 of them
	// per width.
	const big = MaxPatternCentres + 6
	g, op, rVar = linearProblem(t, big, 3)
	if test, err = NewManifoldTest(g, op, rVar, 1, 20); err != nil {
		t.Fatal(err)
	}
	if pats, err = test.LocalisedPatterns(make([]float64, 3)); err != nil {
		t.Fatal(err)
	}
	if want := len(PatternWidths) * (big / 2); len(pats) != want {
		t.Errorf("grid of %d: %d patterns, want %d", big, len(pats), want)
	}
}
