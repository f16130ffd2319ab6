package enkf

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// letkfProblem is a random LETKF analysis: n grid points, every second one
// observed, HE the observed members plus noise.
func letkfProblem(seed uint64, N, n int) (pos []float64, E0, HE *mat.Dense, y, r []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	pos = make([]float64, n/2)
	for k := range pos {
		pos[k] = float64(2 * k)
	}
	E0 = randomDense(rng, N, n)
	HE = mat.NewDense(N, len(pos), nil)
	for i := 0; i < N; i++ {
		for k := range pos {
			HE.Set(i, k, E0.At(i, 2*k)+0.1*rng.NormFloat64())
		}
	}
	y, r = make([]float64, len(pos)), make([]float64, len(pos))
	for k := range y {
		y[k], r[k] = rng.NormFloat64(), 0.5+rng.Float64()
	}
	return pos, E0, HE, y, r
}

// TestWeightStrideOneIsPerPoint: weight interpolation with stride 1 is the
// per-point (per-batch) LETKF bit for bit, analysis and innovation, with
// and without batches, inflation, adaptive inflation and rotation.
func TestWeightStrideOneIsPerPoint(t *testing.T) {
	const N, n = 8, 120
	pos, E0, HE, y, r := letkfProblem(1, N, n)
	for _, base := range []Config{
		{Method: LETKF, Inflation: 1, LocRadius: 3},
		{Method: LETKF, Inflation: 1.05, LocRadius: 3, BatchSize: 3},
		{Method: LETKF, Inflation: 1, LocRadius: 5, Adaptive: &EnKFN{XN: 1}},
		{Method: LETKF, Inflation: 1.02, LocRadius: 2, Rotate: true, BatchSize: 2},
	} {
		var got [2]*mat.Dense
		var inno [2]Innovation
		for i, stride := range []int{0, 1} {
			cfg := base
			cfg.WeightStride = stride
			f, err := New(cfg, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = mat.DenseCopyOf(E0)
			if inno[i], err = f.Analyze(got[i], HE, y, r, rand.New(rand.NewPCG(9, 9))); err != nil {
				t.Fatal(err)
			}
		}
		if !sameBits(got[0], got[1]) || inno[0] != inno[1] {
			t.Errorf("%+v: stride 1 differs from the per-point LETKF", base)
		}
		if sameBits(got[0], E0) {
			t.Fatalf("%+v: the analysis did not change the forecast", base)
		}
	}
}

// TestWeightInterpolation checks a strided analysis column by column
// against its definition: column j of batch b between the analysed batches
// k₀ and k₁ is x̄ⱼ + ((1−t)W_{k₀} + tW_{k₁}) aⱼ with t = (b−k₀)/(k₁−k₀),
// W_k the per-batch transforms of a stride-1 filter. The strided filter sums
// the products in another order, so the tolerance is a few ulps of the
// entries' size (about 1e-15 · 10) rather than bits.
func TestWeightInterpolation(t *testing.T) {
	const N, n = 8, 200
	const tol = 1e-12
	pos, E0, HE, y, r := letkfProblem(2, N, n)
	for _, tc := range []struct {
		batch, stride int
		adaptive      bool
	}{
		{1, 2, false},
		{1, 4, false},
		{1, 7, false}, // 200 = 28·7 + 4: a short last segment that wraps to batch 0
		{3, 4, false}, // 67 batches, the last of 2 points
		{1, 4, true},
	} {
		cfg := Config{Method: LETKF, Inflation: 1, LocRadius: 4, BatchSize: tc.batch}
		if tc.adaptive {
			cfg.Adaptive = &EnKFN{XN: 1}
		}
		ref, err := New(cfg, N, n, pos)
		if err != nil {
			t.Fatal(err)
		}
		want := mat.DenseCopyOf(E0)
		refInno, err := ref.Analyze(want, HE, y, r, nil) // leaves x̄, A, S and d in ref
		if err != nil {
			t.Fatal(err)
		}
		cfg.WeightStride = tc.stride
		f, err := New(cfg, N, n, pos)
		if err != nil {
			t.Fatal(err)
		}
		got := mat.DenseCopyOf(E0)
		inno, err := f.Analyze(got, HE, y, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		l, lw := ref.loc, ref.loc.workers[0]
		trans := func(b int) ([]float64, float64) {
			w := make([]float64, N*N)
			infl, _, _ := l.transform(lw, w, b%l.nbatch, ref.s, ref.d)
			return w, infl
		}
		var sumInfl float64
		interpolated := 0
		for b := range l.nbatch {
			k0 := b / tc.stride * tc.stride
			k1 := min(k0+tc.stride, l.nbatch)
			tt := float64(b-k0) / float64(k1-k0)
			w0, i0 := trans(k0)
			w1, i1 := trans(k1)
			sumInfl += (1-tt)*i0 + tt*i1
			lo, hi := l.span(b)
			for j := lo; j < hi; j++ {
				for i := 0; i < N; i++ {
					v := ref.xm[j]
					for k := 0; k < N; k++ {
						v += ((1-tt)*w0[i*N+k] + tt*w1[i*N+k]) * ref.a[k*n+j]
					}
					if d := math.Abs(got.At(i, j) - v); d > tol {
						t.Fatalf("%+v: member %d, point %d (batch %d, t = %v): got %v, want %v", tc, i, j, b, tt, got.At(i, j), v)
					}
					if tt == 0 && math.Abs(got.At(i, j)-want.At(i, j)) > tol {
						t.Fatalf("%+v: analysed point %d: got %v, the stride-1 analysis has %v", tc, j, got.At(i, j), want.At(i, j))
					}
				}
				if tt != 0 {
					interpolated++
				}
			}
		}
		if interpolated == 0 {
			t.Fatalf("%+v: no interpolated point", tc)
		}
		if inno.NIS != refInno.NIS {
			t.Errorf("%+v: NIS %v, stride 1 has %v", tc, inno.NIS, refInno.NIS)
		}
		if tc.adaptive {
			if want := sumInfl / float64(l.nbatch); math.Abs(inno.Inflation-want) > tol || inno.Inflation == 1 {
				t.Errorf("%+v: mean inflation %v, want the mean of the interpolated local ones, %v (not 1)", tc, inno.Inflation, want)
			}
		}
	}
}

// TestWeightStrideParallelMatchesSerial: the strided analysis in chunks of
// segments over goroutines gives the bits of one goroutine, with a fixed
// inflation and with the local innovation inflation (whose carried
// estimates must agree too).
func TestWeightStrideParallelMatchesSerial(t *testing.T) {
	const N, n = 10, 3000
	pos, E0, HE, y, r := letkfProblem(3, N, n)
	for _, innov := range []*InnovationInflation{nil, {Local: true, PriorSD: 0.3}} {
		var got [2]*mat.Dense
		var lam [2][]float64
		for i, parallel := range []bool{false, true} {
			f, err := New(Config{Method: LETKF, Inflation: 1.02, LocRadius: 5, WeightStride: 3, Innovation: innov}, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			if !f.loc.parallel && parallel {
				t.Skip("one CPU: nothing to compare")
			}
			if f.loc.chunk >= f.loc.nseg {
				t.Fatalf("one chunk of %d segments: the chunks' shared ends are not tested", f.loc.nseg)
			}
			f.loc.parallel = parallel
			got[i] = mat.DenseCopyOf(E0)
			for range 2 { // the second analysis starts from the carried estimates
				if _, err := f.Analyze(got[i], HE, y, r, nil); err != nil {
					t.Fatal(err)
				}
			}
			lam[i] = f.InflationEstimate()
		}
		if !sameBits(got[0], got[1]) || !slices.Equal(lam[0], lam[1]) {
			t.Errorf("local innovation %v: parallel strided analysis differs from the serial one", innov != nil)
		}
	}
}

func TestWeightStrideRejects(t *testing.T) {
	pos := []float64{0, 4, 8, 12}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Method: LETKF, Inflation: 1, LocRadius: 2, WeightStride: -1}, "weight stride must be >= 0"},
		{Config{Method: ETKF, Inflation: 1, WeightStride: 2}, "weight stride 2 is for the letkf, not etkf"},
		{Config{Method: LETKF, Inflation: 1, LocRadius: 2, WeightStride: 16}, "weight stride 16 needs more than 16 batches"},
		{Config{Method: LETKF, Inflation: 1, LocRadius: 2, BatchSize: 4, WeightStride: 4}, "weight stride 4 needs more than 4 batches of grid points, got 4"},
	} {
		if _, err := New(tc.cfg, 5, 16, pos); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got error %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 2, WeightStride: 15}, 5, 16, pos); err != nil {
		t.Errorf("stride 15 of 16 batches: %v", err)
	}
}
