package enkf

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// weightFilter is an LETKF with the hybrid weight estimate, for N members
// on n points observed at pos.
func weightFilter(t *testing.T, memory float64, N, n int, pos []float64) *Filter {
	t.Helper()
	f, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 3, HybridWeight: &HybridWeightEstimate{Memory: memory}}, N, n, pos)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestHybridWeightLikelihood: the log-likelihood computed in the space of
// S̃'s rows equals −½[ln det C + dᵀC⁻¹d] with C = I + S̃ᵀS̃ formed in
// observation space. Both are a few hundred flops on O(1) numbers: 1e-10.
func TestHybridWeightLikelihood(t *testing.T) {
	const N, m, p = 5, 3, 7
	rng := rand.New(rand.NewPCG(1, 2))
	se, sb, d := randomDense(rng, N, p), randomDense(rng, m, p), make([]float64, p)
	for k := range d {
		d[k] = 2 * rng.NormFloat64()
	}
	f := weightFilter(t, 1, N, 12, []float64{0, 1, 2, 4, 6, 8, 10})
	// Memory 1 forgets everything: the log-posterior is this analysis's
	// log-likelihood, shifted by its maximum.
	if _, err := f.estimateAlpha(se.RawMatrix().Data, sb.RawMatrix().Data, d, m); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 0, len(f.hw.logPost))
	for _, beta := range HybridWeightGrid {
		for _, lam := range HybridScaleGrid {
			ch := innovationCholesky(t, se, sb, beta, lam)
			var x mat.VecDense
			if err := ch.SolveVecTo(&x, mat.NewVecDense(p, d)); err != nil {
				t.Fatal(err)
			}
			want = append(want, -0.5*(ch.LogDet()+mat.Dot(mat.NewVecDense(p, d), &x)))
		}
	}
	top := math.Inf(-1)
	for _, v := range want {
		top = math.Max(top, v)
	}
	for k, v := range want {
		if got := f.hw.logPost[k]; math.Abs(got-(v-top)) > 1e-10 {
			t.Errorf("log-posterior %d = %.12g, want %.12g", k, got, v-top)
		}
	}
}

// TestHybridWeightRecoversWeight: innovations drawn from the hybrid
// covariance of a known weight β = 0.05 and scale Λ = 1.25 (both on the
// grids), over 400 analyses with a memory of 400, give an estimate of α
// within 0.01 of 0.95, and β = 0 gives α within 0.005 of 1. The
// tolerances are a few posterior standard deviations: with 12
// observations per analysis the grid's neighbours of the truth are
// 10–100 log-units behind after 400 analyses.
func TestHybridWeightRecoversWeight(t *testing.T) {
	const N, m, p = 6, 4, 12
	for _, tc := range []struct{ beta, lam, tol float64 }{{0.05, 1.25, 0.01}, {0, 1, 0.005}} {
		rng := rand.New(rand.NewPCG(3, 4))
		se, sb := randomDense(rng, N, p), randomDense(rng, m, p)
		// The static rows are ten times wider than the members', so that a
		// weight of 0.05 is visible.
		sb.Scale(10, sb)
		ch := innovationCholesky(t, se, sb, tc.beta, tc.lam)
		var L mat.TriDense
		ch.LTo(&L)
		f := weightFilter(t, 400, N, 24, pointMap{n: 24, idx: everyK(24, 2)}.positions())
		var alpha float64
		for range 400 {
			z := make([]float64, p)
			for k := range z {
				z[k] = rng.NormFloat64()
			}
			var d mat.VecDense
			d.MulVec(&L, mat.NewVecDense(p, z))
			var err error
			if alpha, err = f.estimateAlpha(se.RawMatrix().Data, sb.RawMatrix().Data, d.RawVector().Data, m); err != nil {
				t.Fatal(err)
			}
		}
		if math.Abs(alpha-(1-tc.beta)) > tc.tol {
			t.Errorf("β = %v: estimated α = %.4f, want %.4f ± %v", tc.beta, alpha, 1-tc.beta, tc.tol)
		}
	}
}

// innovationCholesky factors the covariance of the whitened innovations
// under the hybrid of weight beta and scale lam, I + Λ((1 − β)SₑᵀSₑ +
// βS_bᵀS_b), formed in observation space.
func innovationCholesky(t *testing.T, se, sb *mat.Dense, beta, lam float64) *mat.Cholesky {
	t.Helper()
	var C, Cb mat.SymDense
	C.SymOuterK(lam*(1-beta), se.T())
	Cb.SymOuterK(lam*beta, sb.T())
	C.AddSym(&C, &Cb)
	_, p := se.Dims()
	for k := range p {
		C.SetSym(k, k, C.At(k, k)+1)
	}
	var ch mat.Cholesky
	if !ch.Factorize(&C) {
		t.Fatal("C not positive definite")
	}
	return &ch
}

// TestHybridLocalEstimatedWeight: the localised hybrid with the estimate
// is the localised hybrid at the fixed weight it estimated (the same
// algebra, the static rows scaled in another order: 1e-12), and carries
// its log-posterior: a second filter set to the first
// one's state after one analysis gives the first one's second analysis bit
// for bit, and a reset filter gives the first analysis again.
func TestHybridLocalEstimatedWeight(t *testing.T) {
	h := pointMap{n: 24, idx: everyK(24, 2)}
	E, B, y, r := localProblem(6, 24, 5, h, 9)
	B.Scale(0.5, B)
	f := weightFilter(t, 20, 6, 24, h.positions())
	E1 := mat.DenseCopyOf(E)
	if _, err := f.AnalyzeHybridLocal(E1, h.observe(E1), h, y, r, Hybrid{Alpha: 1, B: B}, nil); err != nil {
		t.Fatal(err)
	}
	// The state carried after the analysis gives the weight it used.
	alpha := EstimatedAlpha(f.HybridWeightState())
	if !(alpha > 0 && alpha < 1) {
		t.Fatalf("estimated weight %v, want in (0, 1)", alpha)
	}
	fixed, _ := New(Config{Method: LETKF, Inflation: 1, LocRadius: 3}, 6, 24, h.positions())
	E2 := mat.DenseCopyOf(E)
	if _, err := fixed.AnalyzeHybridLocal(E2, h.observe(E2), h, y, r, Hybrid{Alpha: alpha, B: B}, nil); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiffMat(E1, E2); d > 1e-12 {
		t.Errorf("analysis with the estimated weight %v differs from the fixed weight's by %g", alpha, d)
	}

	state := append([]float64(nil), f.HybridWeightState()...)
	second := func(g *Filter) *mat.Dense {
		E3 := mat.DenseCopyOf(E1)
		if _, err := g.AnalyzeHybridLocal(E3, h.observe(E3), h, y, r, Hybrid{Alpha: 1, B: B}, nil); err != nil {
			t.Fatal(err)
		}
		return E3
	}
	g := weightFilter(t, 20, 6, 24, h.positions())
	if err := g.SetHybridWeightState(state); err != nil {
		t.Fatal(err)
	}
	if a, b := second(f), second(g); !sameBits(a, b) {
		t.Errorf("resumed from the carried state, the analysis differs by %g", maxAbsDiffMat(a, b))
	}
	f.ResetHybridWeightState()
	E4 := mat.DenseCopyOf(E)
	if _, err := f.AnalyzeHybridLocal(E4, h.observe(E4), h, y, r, Hybrid{Alpha: 1, B: B}, nil); err != nil {
		t.Fatal(err)
	}
	if !sameBits(E1, E4) {
		t.Errorf("after a reset, the first analysis differs by %g", maxAbsDiffMat(E1, E4))
	}
}

func TestHybridWeightErrors(t *testing.T) {
	pos := []float64{0, 2, 4}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Method: LETKF, Inflation: 1, LocRadius: 3, HybridWeight: &HybridWeightEstimate{Memory: 0.5}}, "memory must be finite and >= 1"},
		{Config{Method: LETKF, Inflation: 1, LocRadius: 3, HybridWeight: &HybridWeightEstimate{Memory: math.Inf(1)}}, "memory must be finite"},
		{Config{Method: ETKF, Inflation: 1, HybridWeight: &HybridWeightEstimate{}}, "for the localised hybrid (the LETKF), not etkf"},
		{Config{Method: LETKF, Inflation: 1, LocRadius: 3, Innovation: &InnovationInflation{Local: true}, HybridWeight: &HybridWeightEstimate{}}, "does not combine with an adaptive inflation"},
	} {
		if _, err := New(tc.cfg, 4, 6, pos); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	f := weightFilter(t, 20, 4, 6, pos)
	for _, tc := range []struct {
		state []float64
		want  string
	}{
		{make([]float64, 3), "a hybrid weight state of 3 values, want 81"},
		{append(make([]float64, 80), 0.5), "value 80 is 0.5, want finite and <= 0"},
		{append(make([]float64, 80), math.NaN()), "value 80 is NaN"},
		{append(make([]float64, 80), math.Inf(-1)), "value 80 is -Inf"},
	} {
		if err := f.SetHybridWeightState(tc.state); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("state %v: error %v, want %q", tc.state, err, tc.want)
		}
	}
	plain, _ := New(Config{Method: LETKF, Inflation: 1, LocRadius: 3}, 4, 6, pos)
	if plain.HybridWeightState() != nil {
		t.Error("a filter without the estimate carries a hybrid weight state")
	}
	if err := plain.SetHybridWeightState(nil); err == nil {
		t.Error("setting the state of a filter without the estimate succeeded")
	}
	h := pointMap{n: 6, idx: []int{0, 2, 4}}
	E, _, y, r := localProblem(4, 6, 2, h, 1)
	if _, err := f.AnalyzeHybridLocal(E, h.observe(E), h, y, r, Hybrid{Alpha: 1}, nil); err == nil || !strings.Contains(err.Error(), "needs the static square root B") {
		t.Errorf("no B: error %v", err)
	}
}
