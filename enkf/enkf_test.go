package enkf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// gaussianEnsemble draws N members from N(mu, P) with a fixed seed.
func gaussianEnsemble(N int, mu []float64, P *mat.SymDense, seed uint64) *mat.Dense {
	n := len(mu)
	var chol mat.Cholesky
	if !chol.Factorize(P) {
		panic("P not SPD")
	}
	var L mat.TriDense
	chol.LTo(&L)
	rng := rand.New(rand.NewPCG(seed, 1))
	E := mat.NewDense(N, n, nil)
	z := make([]float64, n)
	for i := 0; i < N; i++ {
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		var x mat.VecDense
		x.MulVec(&L, mat.NewVecDense(n, z))
		for j := 0; j < n; j++ {
			E.Set(i, j, mu[j]+x.AtVec(j))
		}
	}
	return E
}

// sampleMoments returns the ensemble mean and unbiased covariance.
func sampleMoments(E *mat.Dense) ([]float64, *mat.SymDense) {
	N, n := E.Dims()
	mu := make([]float64, n)
	for j := 0; j < n; j++ {
		for i := 0; i < N; i++ {
			mu[j] += E.At(i, j)
		}
		mu[j] /= float64(N)
	}
	P := mat.NewSymDense(n, nil)
	for a := 0; a < n; a++ {
		for b := a; b < n; b++ {
			var s float64
			for i := 0; i < N; i++ {
				s += (E.At(i, a) - mu[a]) * (E.At(i, b) - mu[b])
			}
			P.SetSym(a, b, s/float64(N-1))
		}
	}
	return mu, P
}

// kalman is the exact Kalman analysis for linear H and diagonal R:
// K = PHᵀ(HPHᵀ+R)⁻¹, xᵃ = x + K(y - Hx), Pᵃ = (I - KH)P.
func kalman(mu []float64, P *mat.SymDense, H *mat.Dense, y, r []float64) ([]float64, *mat.Dense) {
	p, n := H.Dims()
	var HP, S mat.Dense
	HP.Mul(H, P)
	S.Mul(&HP, H.T())
	for k := 0; k < p; k++ {
		S.Set(k, k, S.At(k, k)+r[k])
	}
	var Sinv, K mat.Dense
	if err := Sinv.Inverse(&S); err != nil {
		panic(err)
	}
	K.Mul(HP.T(), &Sinv)
	innov := mat.NewVecDense(p, nil)
	innov.MulVec(H, mat.NewVecDense(n, mu))
	innov.SubVec(mat.NewVecDense(p, y), innov)
	var dx mat.VecDense
	dx.MulVec(&K, innov)
	xa := make([]float64, n)
	for j := range xa {
		xa[j] = mu[j] + dx.AtVec(j)
	}
	var KH, IKH, Pa mat.Dense
	KH.Mul(&K, H)
	IKH.Sub(eye(n), &KH)
	Pa.Mul(&IKH, P)
	return xa, &Pa
}

// score returns the RMSE of the ensemble mean against truth and the
// ensemble spread √(mean unbiased variance).
func score(E *mat.Dense, truth []float64) (rmse, spread float64) {
	_, n := E.Dims()
	for j := 0; j < n; j++ {
		col := mat.Col(nil, j, E)
		m := stat.Mean(col, nil)
		rmse += (m - truth[j]) * (m - truth[j])
		spread += stat.Variance(col, nil)
	}
	return math.Sqrt(rmse / float64(n)), math.Sqrt(spread / float64(n))
}

func eye(n int) *mat.Dense {
	m := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		m.Set(i, i, 1)
	}
	return m
}

func applyLinear(H *mat.Dense, E *mat.Dense) *mat.Dense {
	var HE mat.Dense
	HE.Mul(E, H.T())
	return &HE
}

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func maxAbsDiffMat(a, b mat.Matrix) float64 {
	r, c := a.Dims()
	var m float64
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			m = math.Max(m, math.Abs(a.At(i, j)-b.At(i, j)))
		}
	}
	return m
}

// testProblem is a small linear-Gaussian problem: 5 variables, correlated
// prior, 3 observations of combinations of them.
func testProblem() (mu []float64, P *mat.SymDense, H *mat.Dense, y, r, pos []float64) {
	n := 5
	mu = []float64{1, -2, 0.5, 3, 0}
	P = mat.NewSymDense(n, nil)
	for a := 0; a < n; a++ {
		for b := a; b < n; b++ {
			P.SetSym(a, b, 2*math.Exp(-math.Abs(float64(a-b))/1.5))
		}
	}
	H = mat.NewDense(3, n, []float64{
		1, 0, 0, 0, 0,
		0, 0, 1, 0, 0,
		0, 0, 0, 0.5, 0.5,
	})
	y = []float64{1.7, 0.1, 2.2}
	r = []float64{0.5, 1, 0.25}
	pos = []float64{0, 2, 3.5}
	return
}

// TestDeterministicMatchesKalmanExactly checks that the square-root filters
// reproduce the Kalman analysis of the ensemble's own sample moments to
// round-off: the ETKF mean and covariance, and the DEnKF mean, are exact
// functions of the sample mean and covariance for linear H. Tolerance 1e-10
// is ~1e5 ulps of the O(1) values, far below any Monte-Carlo effect.
func TestDeterministicMatchesKalmanExactly(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	for _, tc := range []struct {
		cfg      Config
		checkCov bool
	}{
		{Config{Method: ETKF, Inflation: 1}, true},
		{Config{Method: ETKF, Inflation: 1, Rotate: true}, true},
		{Config{Method: DEnKF, Inflation: 1}, false},
		// With a huge radius every taper weight is 1 - O((d/c)²) ≈ 1 - 1e-12,
		// so the LETKF is the ETKF.
		{Config{Method: LETKF, Inflation: 1, LocRadius: 1e6}, true},
	} {
		t.Run(string(tc.cfg.Method)+map[bool]string{true: "-rot"}[tc.cfg.Rotate], func(t *testing.T) {
			E := gaussianEnsemble(30, mu, P, 7)
			m0, P0 := sampleMoments(E)
			xa, Pa := kalman(m0, P0, H, y, r)
			f, err := New(tc.cfg, 30, 5, pos)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Analyze(E, applyLinear(H, E), y, r, rand.New(rand.NewPCG(1, 2))); err != nil {
				t.Fatal(err)
			}
			m1, P1 := sampleMoments(E)
			if d := maxAbsDiff(m1, xa); d > 1e-10 {
				t.Errorf("analysis mean differs from Kalman by %g", d)
			}
			if tc.checkCov {
				if d := maxAbsDiffMat(P1, Pa); d > 1e-10 {
					t.Errorf("analysis covariance differs from Kalman by %g", d)
				}
			}
		})
	}
}

// TestEnKFMatchesKalmanStatistically checks the stochastic EnKF against the
// Kalman analysis of its forecast sample moments. The mean is exact (the
// perturbations are centred). The analysis covariance is random, but its
// expectation over the perturbations is (I-KH)P exactly (centred sample
// perturbations have unbiased covariance R and are independent of the
// forecast); we average it over 400 replicate analyses of the same forecast
// and require every entry within 5 standard errors of the replicate mean.
func TestEnKFMatchesKalmanStatistically(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	N, reps := 40, 400
	E0 := gaussianEnsemble(N, mu, P, 11)
	m0, P0 := sampleMoments(E0)
	xa, Pa := kalman(m0, P0, H, y, r)
	f, err := New(Config{Method: EnKF, Inflation: 1}, N, 5, pos)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var sum, sum2 [5][5]float64
	for rep := 0; rep < reps; rep++ {
		E := mat.DenseCopyOf(E0)
		if _, err := f.Analyze(E, applyLinear(H, E), y, r, rng); err != nil {
			t.Fatal(err)
		}
		m1, P1 := sampleMoments(E)
		if d := maxAbsDiff(m1, xa); d > 1e-10 {
			t.Fatalf("EnKF mean differs from Kalman by %g", d)
		}
		for a := 0; a < 5; a++ {
			for b := 0; b < 5; b++ {
				v := P1.At(a, b)
				sum[a][b] += v
				sum2[a][b] += v * v
			}
		}
	}
	for a := 0; a < 5; a++ {
		for b := 0; b < 5; b++ {
			mean := sum[a][b] / float64(reps)
			se := math.Sqrt((sum2[a][b]/float64(reps) - mean*mean) / float64(reps-1))
			if d := math.Abs(mean - Pa.At(a, b)); d > 5*se+1e-12 {
				t.Errorf("Pa[%d,%d]: replicate mean %.4f, Kalman %.4f, |diff| %.2g > 5 SE (%.2g)", a, b, mean, Pa.At(a, b), d, 5*se)
			}
		}
	}
}

// TestCycledLinearGaussian cycles the filters on a linear model and compares
// them with the exact Kalman filter started from the initial ensemble's
// sample moments. Linear propagation of sample moments is exact, so the ETKF
// must follow the Kalman filter to round-off over all cycles; the DEnKF mean
// follows it up to its deliberately inflated covariance, and the EnKF within
// Monte-Carlo error (N = 200: the mean error is ~σᵃ/√N ≈ 0.05; allow 0.25).
func TestCycledLinearGaussian(t *testing.T) {
	mu, P, H, _, r, pos := testProblem()
	n, N := 5, 200
	// A stable, mixing linear model x ← M x.
	M := mat.NewDense(n, n, nil)
	for a := 0; a < n; a++ {
		M.Set(a, a, 0.9)
		M.Set(a, (a+1)%n, 0.3)
		M.Set((a+1)%n, a, -0.2)
	}
	truthRng := rand.New(rand.NewPCG(99, 0))
	truth := mat.NewVecDense(n, []float64{0.5, -1, 1, 2, -0.5})
	ys := make([][]float64, 10)
	for k := range ys {
		truth.MulVec(M, truth)
		var hx mat.VecDense
		hx.MulVec(H, truth)
		ys[k] = make([]float64, 3)
		for i := range ys[k] {
			ys[k][i] = hx.AtVec(i) + math.Sqrt(r[i])*truthRng.NormFloat64()
		}
	}
	for _, tc := range []struct {
		method      Method
		meanTol     float64
		checkCovTol float64 // 0: not checked
	}{
		{ETKF, 1e-9, 1e-9},
		{EnKF, 0.25, 0},
		{DEnKF, 0.25, 0},
	} {
		t.Run(string(tc.method), func(t *testing.T) {
			E := gaussianEnsemble(N, mu, P, 5)
			f, err := New(Config{Method: tc.method, Inflation: 1}, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			kfMean, kfSym := sampleMoments(E)
			var kfCov mat.Matrix = kfSym
			rng := rand.New(rand.NewPCG(8, 8))
			for k, y := range ys {
				var Ef mat.Dense
				Ef.Mul(E, M.T())
				E = &Ef
				var m mat.VecDense
				m.MulVec(M, mat.NewVecDense(n, kfMean))
				var MP, Pf mat.Dense
				MP.Mul(M, kfCov)
				Pf.Mul(&MP, M.T())
				sym := mat.NewSymDense(n, nil)
				for a := 0; a < n; a++ {
					for b := a; b < n; b++ {
						sym.SetSym(a, b, (Pf.At(a, b)+Pf.At(b, a))/2)
					}
				}
				kfMean, kfCov = kalman(m.RawVector().Data, sym, H, y, r)
				if _, err := f.Analyze(E, applyLinear(H, E), y, r, rng); err != nil {
					t.Fatalf("cycle %d: %v", k, err)
				}
			}
			m1, P1 := sampleMoments(E)
			if d := maxAbsDiff(m1, kfMean); d > tc.meanTol {
				t.Errorf("mean differs from the Kalman filter by %g > %g", d, tc.meanTol)
			}
			if tc.checkCovTol > 0 {
				if d := maxAbsDiffMat(P1, kfCov); d > tc.checkCovTol {
					t.Errorf("covariance differs from the Kalman filter by %g", d)
				}
			}
		})
	}
}

// exactMomentEnsemble returns N members whose sample mean is exactly mu and
// whose sample covariance is exactly P (a Gaussian draw, whitened and
// recoloured).
func exactMomentEnsemble(N int, mu []float64, P *mat.SymDense, rng *rand.Rand) *mat.Dense {
	n := len(mu)
	Z := mat.NewDense(N, n, nil)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			Z.Set(i, j, rng.NormFloat64())
		}
	}
	zm, C := sampleMoments(Z)
	var cc, cp mat.Cholesky
	cc.Factorize(C)
	cp.Factorize(P)
	var Lc, Lp mat.TriDense
	cc.LTo(&Lc)
	cp.LTo(&Lp)
	// X = (Z - 1zmᵀ) Lc⁻ᵀ Lpᵀ has sample covariance Lp Lpᵀ = P.
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			Z.Set(i, j, Z.At(i, j)-zm[j])
		}
	}
	var W mat.Dense
	if err := W.Solve(Lc.T(), Z.T()); err != nil {
		panic(err)
	}
	var X mat.Dense
	X.Mul(W.T(), Lp.T())
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			X.Set(i, j, X.At(i, j)+mu[j])
		}
	}
	return &X
}

// TestNISExpectation checks that the normalised innovation squared averages
// to p when the forecast and R are consistent with the truth:
// E[dᵀ(HPHᵀ+R)⁻¹d] = p for x ~ N(μ, P), y = Hx + ε. Ensembles with exact
// sample moments make the ensemble P equal to the true P. Over 4000 trials
// with p = 3 the standard error of the mean is √(2p/4000) ≈ 0.04; we allow
// 0.2 (5 standard errors).
func TestNISExpectation(t *testing.T) {
	mu, P, H, _, r, pos := testProblem()
	N := 10
	f, err := New(Config{Method: ETKF, Inflation: 1}, N, 5, pos)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	var sum float64
	trials := 4000
	for trial := 0; trial < trials; trial++ {
		E := exactMomentEnsemble(N, mu, P, rng)
		x := gaussianEnsemble(1, mu, P, uint64(1e6+trial)).RawRowView(0)
		var hx mat.VecDense
		hx.MulVec(H, mat.NewVecDense(5, x))
		y := make([]float64, 3)
		for k := range y {
			y[k] = hx.AtVec(k) + math.Sqrt(r[k])*rng.NormFloat64()
		}
		inno, err := f.Analyze(E, applyLinear(H, E), y, r, rng)
		if err != nil {
			t.Fatal(err)
		}
		if inno.Expected != 3 {
			t.Fatalf("expected value %v, want 3", inno.Expected)
		}
		sum += inno.NIS
	}
	if mean := sum / float64(trials); math.Abs(mean-3) > 0.2 {
		t.Errorf("mean NIS %.3f, want 3 ± 0.2", mean)
	}
}

func TestInflationScalesSpread(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	var spreads [2]float64
	for i, infl := range []float64{1, 1.1} {
		E := gaussianEnsemble(20, mu, P, 3)
		f, err := New(Config{Method: ETKF, Inflation: infl}, 20, 5, pos)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Analyze(E, applyLinear(H, E), y, r, nil); err != nil {
			t.Fatal(err)
		}
		_, spreads[i] = score(E, make([]float64, 5))
	}
	if ratio := spreads[1] / spreads[0]; math.Abs(ratio-1.1) > 1e-12 {
		t.Errorf("spread ratio %v, want 1.1", ratio)
	}
}

// TestRotationKeepsMeanAndCovariance runs each scheme with and without the
// random rotation on the same forecast: the rotation (folded into the N × N
// transform for the global schemes) must leave the analysis mean and
// covariance unchanged, to round-off (1e-10 here, entries O(1)).
func TestRotationKeepsMeanAndCovariance(t *testing.T) {
	for _, c := range []struct {
		method    Method
		N, n      int
		inflation float64
	}{
		{ETKF, 20, 64, 1.03}, {ETKF, 24, 10, 1}, {EnKF, 12, 30, 1.05}, {DEnKF, 30, 8, 1.01}, {LETKF, 8, 40, 1.04},
	} {
		t.Run(fmt.Sprintf("%s-N%d-n%d", c.method, c.N, c.n), func(t *testing.T) {
			pos := make([]float64, c.n)
			for i := range pos {
				pos[i] = float64(i)
			}
			rng := rand.New(rand.NewPCG(11, 11))
			E0 := mat.NewDense(c.N, c.n, nil)
			y, r := make([]float64, c.n), make([]float64, c.n)
			for i := range E0.RawMatrix().Data {
				E0.RawMatrix().Data[i] = rng.NormFloat64()
			}
			for i := range y {
				y[i], r[i] = rng.NormFloat64(), 0.5+rng.Float64()
			}
			var moments [2][]float64
			var covs [2]*mat.SymDense
			for k, rot := range []bool{false, true} {
				f, err := New(Config{Method: c.method, Inflation: c.inflation, Rotate: rot, LocRadius: 3}, c.N, c.n, pos)
				if err != nil {
					t.Fatal(err)
				}
				E := mat.DenseCopyOf(E0)
				// The same stream for both, so the EnKF perturbations agree.
				if _, err := f.Analyze(E, E0, y, r, rand.New(rand.NewPCG(1, 2))); err != nil {
					t.Fatal(err)
				}
				moments[k], covs[k] = sampleMoments(E)
			}
			if d := maxAbsDiff(moments[0], moments[1]); d > 1e-10 {
				t.Errorf("rotation moved the mean by %g", d)
			}
			if d := maxAbsDiffMat(covs[0], covs[1]); d > 1e-10 {
				t.Errorf("rotation changed the covariance by %g", d)
			}
		})
	}
}

func TestGaspariCohn(t *testing.T) {
	for _, tc := range []struct{ d, c, want float64 }{
		{0, 1, 1},
		{1, 1, 5.0 / 24}, // 1 - 1/4 + 1/2 + 5/8 - 5/3
		{-1, 1, 5.0 / 24},
		{2, 1, 0},
		{3, 1, 0},
		{0.5, 1, 1 + 0.25*(-0.125/4+0.25/2+0.5*5/8-5.0/3)},
		{1.5, 1, 1.5*1.5*(1.5*1.5*1.5/12-1.5*1.5/2+1.5*5/8+5.0/3) - 7.5 + 4 - 2/4.5},
	} {
		if got := GaspariCohn(tc.d, tc.c); math.Abs(got-tc.want) > 1e-14 {
			t.Errorf("GC(%v, %v) = %v, want %v", tc.d, tc.c, got, tc.want)
		}
	}
	// Continuous at the joints and decreasing.
	prev := 1.0
	for x := 0.0; x <= 2.0; x += 1e-3 {
		g := GaspariCohn(x, 1)
		if g > prev+1e-12 || g < -1e-12 {
			t.Fatalf("GC not monotone/non-negative at %v: %v after %v", x, g, prev)
		}
		prev = g
	}
	if d := math.Abs(GaspariCohn(1-1e-9, 1) - GaspariCohn(1+1e-9, 1)); d > 1e-8 {
		t.Errorf("GC jumps by %g at r = 1", d)
	}
}

func TestConfigAndInputErrors(t *testing.T) {
	pos := []float64{0, 1}
	for _, tc := range []struct {
		name string
		cfg  Config
		N, n int
		pos  []float64
		want string
	}{
		{"unknown method", Config{Method: "kf", Inflation: 1}, 5, 2, pos, "unknown method"},
		{"zero inflation", Config{Method: ETKF}, 5, 2, pos, "inflation"},
		{"NaN inflation", Config{Method: ETKF, Inflation: math.NaN()}, 5, 2, pos, "inflation"},
		{"letkf no radius", Config{Method: LETKF, Inflation: 1}, 5, 2, pos, "radius"},
		{"one member", Config{Method: ETKF, Inflation: 1}, 1, 2, pos, "at least 2 members"},
		{"no state", Config{Method: ETKF, Inflation: 1}, 5, 0, pos, "state dimension"},
		{"no obs", Config{Method: ETKF, Inflation: 1}, 5, 2, nil, "at least one observation"},
		{"NaN position", Config{Method: LETKF, Inflation: 1, LocRadius: 2}, 5, 2, []float64{0, math.NaN()}, "position"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.N, tc.n, tc.pos)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}

	f, err := New(Config{Method: ETKF, Inflation: 1}, 3, 2, pos)
	if err != nil {
		t.Fatal(err)
	}
	good := func() (*mat.Dense, *mat.Dense) {
		E := mat.NewDense(3, 2, []float64{1, 2, 3, 4, 5, 7})
		return E, mat.DenseCopyOf(E)
	}
	for _, tc := range []struct {
		name string
		mod  func(E, HE *mat.Dense, y, r []float64) (*mat.Dense, *mat.Dense, []float64, []float64)
		want string
	}{
		{"NaN member", func(E, HE *mat.Dense, y, r []float64) (*mat.Dense, *mat.Dense, []float64, []float64) {
			E.Set(1, 1, math.NaN())
			return E, HE, y, r
		}, "forecast member 1 variable 1 is NaN"},
		{"blow-up", func(E, HE *mat.Dense, y, r []float64) (*mat.Dense, *mat.Dense, []float64, []float64) {
			E.Set(2, 0, 1e300)
			return E, HE, y, r
		}, "diverged"},
		{"wrong shape", func(E, HE *mat.Dense, y, r []float64) (*mat.Dense, *mat.Dense, []float64, []float64) {
			return mat.NewDense(2, 2, nil), HE, y, r
		}, "ensemble is 2×2"},
		{"Inf obs", func(E, HE *mat.Dense, y, r []float64) (*mat.Dense, *mat.Dense, []float64, []float64) {
			y[0] = math.Inf(1)
			return E, HE, y, r
		}, "observation 0 is +Inf"},
		{"zero variance", func(E, HE *mat.Dense, y, r []float64) (*mat.Dense, *mat.Dense, []float64, []float64) {
			r[1] = 0
			return E, HE, y, r
		}, "error variance 0"},
		{"short y", func(E, HE *mat.Dense, y, r []float64) (*mat.Dense, *mat.Dense, []float64, []float64) {
			return E, HE, y[:1], r
		}, "got 1 observations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			E, HE := good()
			E, HE, y, r := tc.mod(E, HE, []float64{1, 2}, []float64{1, 1})
			before := mat.DenseCopyOf(E)
			_, err := f.Analyze(E, HE, y, r, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !sameBits(before, E) {
				t.Error("ensemble was modified by a failed analysis")
			}
		})
	}
}

func TestAnalysisDivergenceIsReported(t *testing.T) {
	// A tiny observation error with wildly inconsistent observations makes
	// the analysis leave any sensible range; the guard must catch it.
	f, err := New(Config{Method: ETKF, Inflation: 1, BlowUp: 100}, 3, 2, []float64{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	E := mat.NewDense(3, 2, []float64{1, 2, 3, 4, 5, 7})
	_, err = f.Analyze(E, mat.DenseCopyOf(E), []float64{1e6, -1e6}, []float64{1e-6, 1e-6}, nil)
	if err == nil || !strings.Contains(err.Error(), "analysis member") {
		t.Fatalf("got %v, want an analysis divergence error", err)
	}
}

func TestAnalyzeDoesNotAllocate(t *testing.T) {
	n, N := 40, 24
	pos := make([]float64, n)
	for i := range pos {
		pos[i] = float64(i)
	}
	for _, cfg := range []Config{
		{Method: ETKF, Inflation: 1.013, Rotate: true},
		{Method: EnKF, Inflation: 1.06},
		{Method: DEnKF, Inflation: 1.01},
		{Method: LETKF, Inflation: 1.04, LocRadius: 4, Rotate: true},
		// Adaptive inflation (the EnKF-N) reuses its work space too.
		{Method: ETKF, Inflation: 1, Adaptive: &EnKFN{}, Rotate: true},
		{Method: EnKF, Inflation: 1, Adaptive: &EnKFN{}},
		{Method: DEnKF, Inflation: 1, Adaptive: &EnKFN{}},
		{Method: LETKF, Inflation: 1, Adaptive: &EnKFN{}, LocRadius: 4},
	} {
		t.Run(string(cfg.Method), func(t *testing.T) {
			f, err := New(cfg, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			E := mat.NewDense(N, n, nil)
			for i := range E.RawMatrix().Data {
				E.RawMatrix().Data[i] = rng.NormFloat64()
			}
			y := make([]float64, n)
			r := make([]float64, n)
			for i := range r {
				r[i] = 1
			}
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := f.Analyze(E, E, y, r, rng); err != nil {
					t.Fatal(err)
				}
			})
			// The LETKF fans its local analyses out over goroutines when they
			// are big enough, which costs a few allocations per analysis
			// (goroutines and their closures), never per local analysis.
			limit := 0.0
			if f.loc != nil && f.loc.parallel {
				limit = float64(2*len(f.loc.workers) + 1)
			}
			if allocs > limit {
				t.Errorf("%v allocations per analysis, want <= %v", allocs, limit)
			}
		})
	}
}

// sameBits reports whether a and b hold bit-identical values (NaN-aware).
func sameBits(a, b *mat.Dense) bool {
	ra, rb := a.RawMatrix(), b.RawMatrix()
	if ra.Rows != rb.Rows || ra.Cols != rb.Cols {
		return false
	}
	for i := 0; i < ra.Rows; i++ {
		for j := 0; j < ra.Cols; j++ {
			if math.Float64bits(a.At(i, j)) != math.Float64bits(b.At(i, j)) {
				return false
			}
		}
	}
	return true
}
