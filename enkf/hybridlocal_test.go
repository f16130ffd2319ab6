package enkf

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// pointMap observes the variables idx of the state, squared if square.
type pointMap struct {
	n      int
	idx    []int
	square bool
}

func (o pointMap) Apply(dst, x []float64) {
	for k, j := range o.idx {
		dst[k] = x[j]
		if o.square {
			dst[k] *= x[j]
		}
	}
}

func (o pointMap) Jacobian(dst *mat.Dense, x []float64) {
	dst.Zero()
	for k, j := range o.idx {
		v := 1.0
		if o.square {
			v = 2 * x[j]
		}
		dst.Set(k, j, v)
	}
}

// positions returns the observations' grid positions.
func (o pointMap) positions() []float64 {
	pos := make([]float64, len(o.idx))
	for k, j := range o.idx {
		pos[k] = float64(j)
	}
	return pos
}

// observe returns h applied to every member of E.
func (o pointMap) observe(E *mat.Dense) *mat.Dense {
	N, _ := E.Dims()
	HE := mat.NewDense(N, len(o.idx), nil)
	for i := range N {
		o.Apply(HE.RawRowView(i), E.RawRowView(i))
	}
	return HE
}

// localProblem is an ensemble of N members on n points around 2 (so that
// squares have a definite sign), observations of h and a random static
// square root B of m rows.
func localProblem(N, n, m int, h pointMap, seed uint64) (E, B *mat.Dense, y, r []float64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	E = randomDense(rng, N, n)
	for i := range E.RawMatrix().Data {
		E.RawMatrix().Data[i] = 2 + 0.3*E.RawMatrix().Data[i]
	}
	B = randomDense(rng, m, n)
	y, r = make([]float64, len(h.idx)), make([]float64, len(h.idx))
	for k := range y {
		y[k], r[k] = 4+rng.NormFloat64(), 0.3+0.1*float64(k%3)
	}
	return E, B, y, r
}

func everyK(n, k int) []int {
	var idx []int
	for j := 0; j < n; j += k {
		idx = append(idx, j)
	}
	return idx
}

// TestHybridLocalAlphaOneIsLETKF: with α = 1 the localised hybrid is the
// LETKF, bit for bit, with inflation and rotation (same code path).
func TestHybridLocalAlphaOneIsLETKF(t *testing.T) {
	h := pointMap{n: 24, idx: everyK(24, 2)}
	E1, B, y, r := localProblem(6, 24, 5, h, 7)
	E2 := mat.DenseCopyOf(E1)
	cfg := Config{Method: LETKF, Inflation: 1.07, Rotate: true, LocRadius: 3, BatchSize: 2}
	f1, _ := New(cfg, 6, 24, h.positions())
	f2, _ := New(cfg, 6, 24, h.positions())
	i1, err := f1.Analyze(E1, h.observe(E1), y, r, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	i2, err := f2.AnalyzeHybridLocal(E2, h.observe(E2), h, y, r, Hybrid{Alpha: 1, B: B}, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(E1, E2) || i1 != i2 {
		t.Errorf("localised hybrid with alpha 1 differs from the LETKF: max |diff| %g, NIS %v vs %v", maxAbsDiffMat(E1, E2), i2.NIS, i1.NIS)
	}
}

// TestHybridLocalUnlocalisedIsHybrid: with a radius so large that every
// taper weight rounds to 1, the localised hybrid is the global hybrid
// ETKF (AnalyzeHybrid): the same mean, the same anomalies (the ETKF's
// symmetric square root), the same NIS, with inflation. The cases cover
// both local solves (p ≤ M: the p × p system; p > M: the M × M one), a
// nonlinear h (linearised at the mean for the static rows in both), and
// batches of several points. The two compute the same algebra in a
// different order on O(1) numbers: 1e-9 allows ~1e6 ulps.
func TestHybridLocalUnlocalisedIsHybrid(t *testing.T) {
	const n = 12
	for _, tc := range []struct {
		name     string
		h        pointMap
		N, m, bs int
		alpha    float64
	}{
		{"all observed, M-space solve", pointMap{n: n, idx: everyK(n, 1)}, 5, 4, 1, 0.6},
		{"every 3rd, obs-space solve", pointMap{n: n, idx: everyK(n, 3)}, 5, 4, 1, 0.3},
		{"squares, batches of 4", pointMap{n: n, idx: everyK(n, 2), square: true}, 6, 7, 4, 0.8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			E1, B, y, r := localProblem(tc.N, n, tc.m, tc.h, 11)
			E2 := mat.DenseCopyOf(E1)
			hyb := Hybrid{Alpha: tc.alpha, B: B}
			fg, _ := New(Config{Method: ETKF, Inflation: 1.05}, tc.N, n, tc.h.positions())
			fl, err := New(Config{Method: LETKF, Inflation: 1.05, LocRadius: 1e9, BatchSize: tc.bs}, tc.N, n, tc.h.positions())
			if err != nil {
				t.Fatal(err)
			}
			ig, err := fg.AnalyzeHybrid(E1, tc.h.observe(E1), tc.h, y, r, hyb, nil)
			if err != nil {
				t.Fatal(err)
			}
			il, err := fl.AnalyzeHybridLocal(E2, tc.h.observe(E2), tc.h, y, r, hyb, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiffMat(E1, E2); d > 1e-9 {
				t.Errorf("members differ from the global hybrid by %g", d)
			}
			if math.Abs(ig.NIS-il.NIS) > 1e-9*ig.NIS || ig.Expected != il.Expected {
				t.Errorf("NIS %v (of %v), global hybrid %v (of %v)", il.NIS, il.Expected, ig.NIS, ig.Expected)
			}
		})
	}
}

// TestHybridLocalStaticPartKnown: a forecast without spread leaves only
// the static part, here Σ = σ²I (B = σI), observed at every point with
// variance r: each point's analysis is then the scalar Kalman update
// x̄ + g(y − x̄), g = s/(s + r) with s = (1 − α)σ², whatever the
// localisation radius (Σ has no cross-covariances, and in batches of one
// point the point's own observation has taper weight 1). Exact algebra on
// O(1) numbers: 1e-12.
func TestHybridLocalStaticPartKnown(t *testing.T) {
	const n, N, sigma, alpha, rv = 16, 4, 1.5, 0.4, 0.5
	h := pointMap{n: n, idx: everyK(n, 1)}
	E := mat.NewDense(N, n, nil)
	y, r := make([]float64, n), make([]float64, n)
	xb := make([]float64, n)
	for j := range n {
		xb[j] = math.Sin(float64(j))
		for i := range N {
			E.Set(i, j, xb[j])
		}
		y[j], r[j] = xb[j]+float64(j%5)-2, rv
	}
	B := mat.NewDense(n, n, nil)
	for j := range n {
		B.Set(j, j, sigma)
	}
	for _, radius := range []float64{1, 4, 100} {
		f, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: radius, BatchSize: 1}, N, n, h.positions())
		if err != nil {
			t.Fatal(err)
		}
		Ea := mat.DenseCopyOf(E)
		if _, err := f.AnalyzeHybridLocal(Ea, h.observe(Ea), h, y, r, Hybrid{Alpha: alpha, B: B}, nil); err != nil {
			t.Fatal(err)
		}
		s := (1 - alpha) * sigma * sigma
		g := s / (s + rv)
		for j := range n {
			want := xb[j] + g*(y[j]-xb[j])
			for i := range N {
				if got := Ea.At(i, j); math.Abs(got-want) > 1e-12 {
					t.Fatalf("radius %v: member %d point %d is %v, want %v", radius, i, j, got, want)
				}
			}
		}
	}
}

// TestHybridLocalInnovationInflation: with the local innovation inflation
// and a radius so large that every taper weight rounds to 1, every batch
// estimates the same Λ, InnovationInflation's update from the prior 1 with
// the whole augmented S̃ (both parts of P) in S's place, and the analysis
// is the uninflated one of the ensemble and static rows inflated by √Λ.
// The two compute the same algebra in a different order on O(1) numbers:
// 1e-9 as in TestHybridLocalUnlocalisedIsHybrid. The estimate is carried
// as the next analysis's prior.
func TestHybridLocalInnovationInflation(t *testing.T) {
	const n, N, m, alpha, sd = 12, 5, 4, 0.7, 0.3
	h := pointMap{n: n, idx: everyK(n, 2)}
	E, B, y, r := localProblem(N, n, m, h, 5)
	HE := h.observe(E)
	p := len(h.idx)
	var dd, trS float64
	xm := make([]float64, n)
	for j := range n {
		for i := range N {
			xm[j] += E.At(i, j) / N
		}
	}
	for k, j := range h.idx {
		dd += (y[k] - xm[j]) * (y[k] - xm[j]) / r[k]
		for i := range N {
			trS += alpha * (HE.At(i, k) - xm[j]) * (HE.At(i, k) - xm[j]) / (N - 1) / r[k]
		}
		for b := range m {
			trS += (1 - alpha) * B.At(b, j) * B.At(b, j) / r[k]
		}
	}
	lam, _, _ := UpdateInflation(1, sd*sd, dd, trS, float64(p))
	if math.Abs(lam-1) < 0.05 {
		t.Fatalf("the case does not test the inflation: Λ = %v", lam)
	}
	root := math.Sqrt(lam)
	Ei := mat.NewDense(N, n, nil)
	for i := range N {
		for j := range n {
			Ei.Set(i, j, xm[j]+root*(E.At(i, j)-xm[j]))
		}
	}
	Bi := mat.NewDense(m, n, nil)
	Bi.Scale(root, B)
	want, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 1e9, BatchSize: 1}, N, n, h.positions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := want.AnalyzeHybridLocal(Ei, h.observe(Ei), h, y, r, Hybrid{Alpha: alpha, B: Bi}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 1e9, BatchSize: 1, Innovation: &InnovationInflation{PriorSD: sd, Local: true}}, N, n, h.positions())
	if err != nil {
		t.Fatal(err)
	}
	Ea := mat.DenseCopyOf(E)
	inno, err := f.AnalyzeHybridLocal(Ea, HE, h, y, r, Hybrid{Alpha: alpha, B: B}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiffMat(Ea, Ei); d > 1e-9 {
		t.Errorf("members differ from the analysis of the inflated covariance by %g", d)
	}
	if math.Abs(inno.Inflation-root) > 1e-9 {
		t.Errorf("reported inflation %v, want √Λ = %v", inno.Inflation, root)
	}
	for b, v := range f.InflationEstimate() {
		if math.Abs(v-lam) > 1e-9 {
			t.Fatalf("carried Λ of batch %d is %v, want %v", b, v, lam)
		}
	}
}

// TestHybridLocalErrors: the method, alpha, B and adaptive inflation (all
// but the local innovation inflation) are checked, and E is left unchanged.
func TestHybridLocalErrors(t *testing.T) {
	h := pointMap{n: 8, idx: everyK(8, 2)}
	E, B, y, r := localProblem(4, 8, 3, h, 3)
	for _, tc := range []struct {
		name string
		cfg  Config
		hyb  Hybrid
		want string
	}{
		{"etkf", Config{Method: ETKF, Inflation: 1}, Hybrid{Alpha: 0.5, B: B}, "needs the LETKF, not etkf"},
		{"alpha 0", Config{Method: LETKF, Inflation: 1, LocRadius: 2}, Hybrid{Alpha: 0, B: B}, "alpha must be in (0, 1]"},
		{"no B", Config{Method: LETKF, Inflation: 1, LocRadius: 2}, Hybrid{Alpha: 0.5}, "needs the static square root"},
		{"B columns", Config{Method: LETKF, Inflation: 1, LocRadius: 2}, Hybrid{Alpha: 0.5, B: mat.NewDense(2, 7, nil)}, "want 8 columns"},
		{"adaptive", Config{Method: LETKF, Inflation: 1, LocRadius: 2, Adaptive: &EnKFN{}}, Hybrid{Alpha: 0.5, B: B}, "adaptive inflation"},
		{"global innovation inflation", Config{Method: LETKF, Inflation: 1, LocRadius: 2, Innovation: &InnovationInflation{}}, Hybrid{Alpha: 0.5, B: B}, "adaptive inflation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.cfg, 4, 8, h.positions())
			if err != nil {
				t.Fatal(err)
			}
			E0 := mat.DenseCopyOf(E)
			_, err = f.AnalyzeHybridLocal(E, h.observe(E), h, y, r, tc.hyb, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if !sameBits(E, E0) {
				t.Error("E changed on error")
			}
		})
	}
}
