package enkf

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// linearMap is h(x) = Hx.
type linearMap struct{ H *mat.Dense }

func (l linearMap) Apply(dst, x []float64) {
	mat.NewVecDense(len(dst), dst).MulVec(l.H, mat.NewVecDense(len(x), x))
}

func (l linearMap) Jacobian(dst *mat.Dense, _ []float64) { dst.Copy(l.H) }

// quadMap observes x₀², x₂² + x₃ and sin(x₄) + x₁: nonlinear, with a
// Jacobian that changes sign with the state.
type quadMap struct{}

func (quadMap) Apply(dst, x []float64) {
	dst[0] = x[0] * x[0]
	dst[1] = x[2]*x[2] + x[3]
	dst[2] = math.Sin(x[4]) + x[1]
}

func (quadMap) Jacobian(dst *mat.Dense, x []float64) {
	dst.Zero()
	dst.Set(0, 0, 2*x[0])
	dst.Set(1, 2, 2*x[2])
	dst.Set(1, 3, 1)
	dst.Set(2, 4, math.Cos(x[4]))
	dst.Set(2, 1, 1)
}

// staticCov is a smooth static covariance on the 5 variables of
// testProblem, different from its P, with its square root B = Lᵀ (Σ = BᵀB).
func staticCov() (*mat.SymDense, *mat.Dense) {
	n := 5
	S := mat.NewSymDense(n, nil)
	for a := 0; a < n; a++ {
		for b := a; b < n; b++ {
			S.SetSym(a, b, 1.5*math.Exp(-math.Abs(float64(a-b))/0.8))
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(S) {
		panic("static covariance not SPD")
	}
	var L mat.TriDense
	ch.LTo(&L)
	return S, mat.DenseCopyOf(L.T())
}

// hybridReference is the analysis of the ensemble E for a linear H with
// the hybrid covariance P = α Pₑ + (1 − α) Σ, computed independently: the
// Kalman mean for P and the members' anomalies transformed by the
// ensemble's symmetric square root (I + SSᵀ)^{-1/2}, S = AHᵀR^{-1/2}/√(N−1)
// (formed with gonum's EigenSym). With α = 1 it also returns the Kalman
// covariance (I − KH)Pₑ, which the members must have.
func hybridReference(E *mat.Dense, H *mat.Dense, y, r []float64, alpha float64, S *mat.SymDense) (mean []float64, Ea *mat.Dense, Pa *mat.Dense) {
	N, n := E.Dims()
	m0, Pe := sampleMoments(E)
	P := mat.NewSymDense(n, nil)
	for a := 0; a < n; a++ {
		for b := a; b < n; b++ {
			P.SetSym(a, b, alpha*Pe.At(a, b)+(1-alpha)*S.At(a, b))
		}
	}
	mean, Pa = kalman(m0, P, H, y, r)
	p, _ := H.Dims()
	A := mat.NewDense(N, n, nil)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			A.Set(i, j, E.At(i, j)-m0[j])
		}
	}
	var So mat.Dense
	So.Mul(A, H.T())
	for i := 0; i < N; i++ {
		for k := 0; k < p; k++ {
			So.Set(i, k, So.At(i, k)/math.Sqrt(r[k]*float64(N-1)))
		}
	}
	var C mat.SymDense
	C.SymOuterK(1, &So)
	for i := 0; i < N; i++ {
		C.SetSym(i, i, C.At(i, i)+1)
	}
	var eig mat.EigenSym
	if !eig.Factorize(&C, true) {
		panic("eigen failed")
	}
	var V mat.Dense
	eig.VectorsTo(&V)
	lam := eig.Values(nil)
	T := mat.NewDense(N, N, nil)
	for a := 0; a < N; a++ {
		for b := 0; b < N; b++ {
			var s float64
			for k, l := range lam {
				s += V.At(a, k) * V.At(b, k) / math.Sqrt(l)
			}
			T.Set(a, b, s)
		}
	}
	Ea = mat.NewDense(N, n, nil)
	Ea.Mul(T, A)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			Ea.Set(i, j, Ea.At(i, j)+mean[j])
		}
	}
	return mean, Ea, Pa
}

// nisReference is (y − Hx̄)ᵀ(HPHᵀ + R)⁻¹(y − Hx̄) for the hybrid P.
func nisReference(E, H *mat.Dense, y, r []float64, alpha float64, S *mat.SymDense) float64 {
	_, n := E.Dims()
	p, _ := H.Dims()
	m0, Pe := sampleMoments(E)
	P := mat.NewDense(n, n, nil)
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			P.Set(a, b, alpha*Pe.At(a, b)+(1-alpha)*S.At(a, b))
		}
	}
	var HP, C mat.Dense
	HP.Mul(H, P)
	C.Mul(&HP, H.T())
	for k := 0; k < p; k++ {
		C.Set(k, k, C.At(k, k)+r[k])
	}
	d := mat.NewVecDense(p, nil)
	d.MulVec(H, mat.NewVecDense(n, m0))
	d.SubVec(mat.NewVecDense(p, y), d)
	var x mat.VecDense
	if err := x.SolveVec(&C, d); err != nil {
		panic(err)
	}
	return mat.Dot(d, &x)
}

// TestHybridAlphaOneIsETKF: with α = 1 the hybrid analysis is the ETKF's,
// bit for bit, whatever B holds (with inflation and rotation, which draw
// from the same generator).
func TestHybridAlphaOneIsETKF(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	_, B := staticCov()
	cfg := Config{Method: ETKF, Inflation: 1.07, Rotate: true}
	E1 := gaussianEnsemble(8, mu, P, 3)
	E2 := mat.DenseCopyOf(E1)
	f1, _ := New(cfg, 8, 5, pos)
	f2, _ := New(cfg, 8, 5, pos)
	i1, err := f1.Analyze(E1, applyLinear(H, E1), y, r, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	i2, err := f2.AnalyzeHybrid(E2, applyLinear(H, E2), linearMap{H}, y, r, Hybrid{Alpha: 1, B: B}, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(E1, E2) || i1 != i2 {
		t.Errorf("hybrid with alpha 1 differs from the ETKF: max |diff| %g, NIS %v vs %v", maxAbsDiffMat(E1, E2), i2.NIS, i1.NIS)
	}
}

// TestLinearHybridAndIterativeMatchKalman checks the hybrid ETKF and the
// iterative analysis against the exact linear-Gaussian analysis with the
// hybrid covariance P = α Pₑ + (1 − α)Σ (hybridReference): the mean is the
// Kalman mean for P, the anomalies are the ensemble's square root, and
// with α = 1 the analysis covariance is the Kalman (I − KH)Pₑ. N = 4 < n = 5,
// so Pₑ is rank deficient and the static part matters. The NIS is that of
// P. Everything is exact algebra on O(1) numbers: 1e-10 allows for ~1e5
// ulps of round-off.
func TestLinearHybridAndIterativeMatchKalman(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	S, B := staticCov()
	for _, tc := range []struct {
		name    string
		alpha   float64
		iterate bool
		maxIter int
	}{
		{"hybrid-0.3", 0.3, false, 0},
		{"hybrid-0.8", 0.8, false, 0},
		{"iterative-1", 1, true, 0},
		{"iterative-1-once", 1, true, 1},
		{"iterative-0.5", 0.5, true, 0},
		{"iterative-0.5-once", 0.5, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			E := gaussianEnsemble(4, mu, P, 21)
			wantMean, wantE, wantP := hybridReference(E, H, y, r, tc.alpha, S)
			wantNIS := nisReference(E, H, y, r, tc.alpha, S)
			f, err := New(Config{Method: ETKF, Inflation: 1}, 4, 5, pos)
			if err != nil {
				t.Fatal(err)
			}
			hyb := Hybrid{Alpha: tc.alpha, B: B}
			var inno Innovation
			if tc.iterate {
				var st IterStats
				inno, st, err = f.AnalyzeIterative(E, linearMap{H}, y, r, hyb, IterOptions{MaxIter: tc.maxIter}, nil)
				if err == nil && tc.maxIter == 0 && (!st.Converged || st.Iterations != 2) {
					t.Errorf("Gauss–Newton on a linear problem: %+v, want convergence confirmed at the second linearisation", st)
				}
			} else {
				inno, err = f.AnalyzeHybrid(E, applyLinear(H, E), linearMap{H}, y, r, hyb, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			m1, P1 := sampleMoments(E)
			if d := maxAbsDiff(m1, wantMean); d > 1e-10 {
				t.Errorf("analysis mean differs from Kalman by %g", d)
			}
			if d := maxAbsDiffMat(E, wantE); d > 1e-10 {
				t.Errorf("analysis members differ from the reference by %g", d)
			}
			if d := maxAbsDiffMat(P1, wantP); tc.alpha == 1 && d > 1e-10 {
				t.Errorf("analysis covariance differs from Kalman by %g", d)
			}
			if math.Abs(inno.NIS-wantNIS) > 1e-10*wantNIS || inno.Expected != 3 {
				t.Errorf("NIS %v (expected %v), want %v (3)", inno.NIS, inno.Expected, wantNIS)
			}
		})
	}
}

// TestHybridWithEnsembleCovarianceIsETKF: if the static covariance is the
// ensemble's own (B = A/√(N−1)), P = Pₑ for every α and the hybrid analysis
// must be the ETKF's up to round-off, although it runs in a space of
// dimension 2N.
func TestHybridWithEnsembleCovarianceIsETKF(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	N := 6
	E := gaussianEnsemble(N, mu, P, 5)
	m0, _ := sampleMoments(E)
	B := mat.NewDense(N, 5, nil)
	for i := 0; i < N; i++ {
		for j := 0; j < 5; j++ {
			B.Set(i, j, (E.At(i, j)-m0[j])/math.Sqrt(float64(N-1)))
		}
	}
	ref := mat.DenseCopyOf(E)
	f, _ := New(Config{Method: ETKF, Inflation: 1}, N, 5, pos)
	iw, err := f.Analyze(ref, applyLinear(H, ref), y, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, alpha := range []float64{0.2, 0.9} {
		Eh := mat.DenseCopyOf(E)
		ih, err := f.AnalyzeHybrid(Eh, applyLinear(H, Eh), linearMap{H}, y, r, Hybrid{Alpha: alpha, B: B}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiffMat(Eh, ref); d > 1e-10 {
			t.Errorf("alpha %v: hybrid with B = A/√(N−1) differs from the ETKF by %g", alpha, d)
		}
		if math.Abs(ih.NIS-iw.NIS) > 1e-10*iw.NIS {
			t.Errorf("alpha %v: NIS %v, ETKF %v", alpha, ih.NIS, iw.NIS)
		}
	}
}

// TestIterativeFindsMAP: for a nonlinear h the iterative analysis mean is a
// stationary point of ½‖x − x̄‖²_{P⁻¹} + ½‖y − h(x)‖²_{R⁻¹} (P invertible,
// α < 1): P⁻¹(x − x̄) = Hₓᵀ R⁻¹ (y − h(x)), to 1e-7 relative to the size of
// either side (the step tolerance is 1e-8; Gauss–Newton converges
// linearly here, the step halving each iteration, as the residual is not
// small). A single linearisation at the mean
// does not get there.
func TestIterativeFindsMAP(t *testing.T) {
	mu, P, _, _, r, pos := testProblem()
	S, B := staticCov()
	y := []float64{1.2, 2.4, 1.9}
	const alpha = 0.6
	stationarity := func(maxIter int) (float64, IterStats) {
		E := gaussianEnsemble(4, mu, P, 8)
		m0, Pe := sampleMoments(E)
		f, _ := New(Config{Method: ETKF, Inflation: 1}, 4, 5, pos)
		_, st, err := f.AnalyzeIterative(E, quadMap{}, y, r, Hybrid{Alpha: alpha, B: B}, IterOptions{MaxIter: maxIter, Tol: 1e-8}, nil)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := sampleMoments(E)
		Pz := mat.NewDense(5, 5, nil)
		for a := 0; a < 5; a++ {
			for b := 0; b < 5; b++ {
				Pz.Set(a, b, alpha*Pe.At(a, b)+(1-alpha)*S.At(a, b))
			}
		}
		dx := mat.NewVecDense(5, nil)
		for j := range 5 {
			dx.SetVec(j, x[j]-m0[j])
		}
		var prior mat.VecDense
		if err := prior.SolveVec(Pz, dx); err != nil {
			t.Fatal(err)
		}
		hx := make([]float64, 3)
		quadMap{}.Apply(hx, x)
		J := mat.NewDense(3, 5, nil)
		quadMap{}.Jacobian(J, x)
		res := mat.NewVecDense(3, nil)
		for k := range res.RawVector().Data {
			res.SetVec(k, (y[k]-hx[k])/r[k])
		}
		var lik mat.VecDense
		lik.MulVec(J.T(), res)
		var g mat.VecDense
		g.SubVec(&prior, &lik)
		return mat.Norm(&g, 2) / math.Max(mat.Norm(&prior, 2), mat.Norm(&lik, 2)), st
	}
	g, st := stationarity(50)
	if !st.Converged || g > 1e-7 || !(st.Cost < st.InitialCost) {
		t.Errorf("iterative: relative gradient %g after %+v", g, st)
	}
	if g1, _ := stationarity(1); g1 < 1e-3 {
		t.Errorf("one linearisation already stationary (%g): the test problem is not nonlinear enough", g1)
	}
}

func TestHybridErrors(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	for _, tc := range []struct {
		cfg  Config
		hyb  Hybrid
		want string
	}{
		{Config{Method: EnKF, Inflation: 1}, Hybrid{Alpha: 1}, "ETKF transform"},
		{Config{Method: ETKF, Inflation: 1}, Hybrid{Alpha: 0}, "alpha must be in (0, 1]"},
		{Config{Method: ETKF, Inflation: 1}, Hybrid{Alpha: 1.5}, "alpha must be in (0, 1]"},
		{Config{Method: ETKF, Inflation: 1}, Hybrid{Alpha: 0.5}, "needs the static square root"},
		{Config{Method: ETKF, Inflation: 1}, Hybrid{Alpha: 0.5, B: mat.NewDense(2, 3, nil)}, "want 5 columns"},
		{Config{Method: ETKF, Inflation: 1}, Hybrid{Alpha: 0.5, B: mat.NewDense(1, 5, []float64{0, math.NaN(), 0, 0, 0})}, "is NaN"},
	} {
		f, err := New(tc.cfg, 4, 5, pos)
		if err != nil {
			t.Fatal(err)
		}
		E := gaussianEnsemble(4, mu, P, 1)
		before := mat.DenseCopyOf(E)
		_, err1 := f.AnalyzeHybrid(E, applyLinear(H, E), linearMap{H}, y, r, tc.hyb, nil)
		_, _, err2 := f.AnalyzeIterative(E, linearMap{H}, y, r, tc.hyb, IterOptions{}, nil)
		for _, err := range []error{err1, err2} {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v %+v: got %v, want an error containing %q", tc.cfg.Method, tc.hyb, err, tc.want)
			}
		}
		if !sameBits(before, E) {
			t.Error("a failed analysis changed the ensemble")
		}
	}
	f, _ := New(Config{Method: ETKF, Inflation: 1}, 4, 5, pos)
	E := gaussianEnsemble(4, mu, P, 1)
	if _, _, err := f.AnalyzeIterative(E, linearMap{H}, y, r, Hybrid{Alpha: 1}, IterOptions{MaxIter: -1}, nil); err == nil {
		t.Error("MaxIter -1 accepted")
	}
}

// TestIterativeDoesNotAllocate: after the first analysis (which makes the
// work space) the hybrid and iterative analyses do not allocate.
func TestIterativeDoesNotAllocate(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	_, B := staticCov()
	f, _ := New(Config{Method: ETKF, Inflation: 1.02, Rotate: true}, 6, 5, pos)
	rng := rand.New(rand.NewPCG(1, 1))
	E0 := gaussianEnsemble(6, mu, P, 2)
	E := mat.DenseCopyOf(E0)
	HE := applyLinear(H, E)
	hyb := Hybrid{Alpha: 0.5, B: B}
	allocs := testing.AllocsPerRun(10, func() {
		E.Copy(E0)
		if _, _, err := f.AnalyzeIterative(E, quadMap{}, y, r, hyb, IterOptions{}, rng); err != nil {
			t.Fatal(err)
		}
		E.Copy(E0)
		if _, err := f.AnalyzeHybrid(E, HE, quadMap{}, y, r, hyb, rng); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("%v allocations per analysis", allocs)
	}
}
