package enkf

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestAnalyzeBlocksMatchAnalyze: the LETKF analysis put together from
// blocks of the domain is the whole-domain analysis bit for bit, for
// several block sizes, batch sizes, inflations and weight strides (a block
// computes the transforms at the ends of its segments itself, also those
// outside it).
func TestAnalyzeBlocksMatchAnalyze(t *testing.T) {
	for _, n := range []int{96, 4000} { // at 4000 the local analyses surely run in parallel
		testBlocks(t, n)
	}
}

func testBlocks(t *testing.T, n int) {
	const N = 10
	rng := rand.New(rand.NewPCG(3, 4))
	pos := make([]float64, n/2)
	for k := range pos {
		pos[k] = float64(2 * k)
	}
	E0 := randomDense(rng, N, n)
	HE := mat.NewDense(N, len(pos), nil)
	for i := 0; i < N; i++ {
		for k := range pos {
			HE.Set(i, k, E0.At(i, 2*k))
		}
	}
	y, r := make([]float64, len(pos)), make([]float64, len(pos))
	for k := range y {
		y[k], r[k] = rng.NormFloat64(), 0.5+rng.Float64()
	}
	r[3] = math.Inf(1) // a rejected observation
	for _, tc := range []struct {
		infl       float64
		batch      int
		stride     int
		adaptive   bool
		blockSizes []int
	}{
		{1, 1, 1, false, []int{96, 32, 7, 1}},
		{1.05, 1, 1, false, []int{48, 10}},
		{1.05, 4, 1, false, []int{48, 16, 4}},
		{1.02, 1, 1, false, []int{1000, 333}},
		{1, 1, 4, false, []int{96, 32, 7, 1}},
		{1.05, 4, 3, false, []int{48, 16, 4}},
		{1, 1, 5, true, []int{1000, 333, 13}},
	} {
		cfg := Config{Method: LETKF, Inflation: tc.infl, LocRadius: 3, BatchSize: tc.batch, WeightStride: tc.stride}
		if tc.adaptive {
			cfg.Adaptive = &EnKFN{XN: 1}
		}
		f, err := New(cfg, N, n, pos)
		if err != nil {
			t.Fatal(err)
		}
		if n > 1000 && !f.loc.parallel && runtime.GOMAXPROCS(0) > 1 {
			t.Fatalf("n = %d: the local analyses do not run in parallel", n)
		}
		want := mat.DenseCopyOf(E0)
		if _, err := f.Analyze(want, HE, y, r, nil); err != nil {
			t.Fatal(err)
		}
		for _, bsz := range tc.blockSizes {
			got := mat.NewDense(N, n, nil)
			E := mat.DenseCopyOf(E0)
			for lo := 0; lo < n; lo += bsz {
				hi := min(lo+bsz, n)
				dst := mat.NewDense(N, hi-lo, nil)
				if err := f.AnalyzeBlock(dst, E, HE, y, r, lo, hi); err != nil {
					t.Fatalf("block [%d, %d): %v", lo, hi, err)
				}
				got.Slice(0, N, lo, hi).(*mat.Dense).Copy(dst)
			}
			if !sameBits(got, want) {
				t.Errorf("inflation %v, batch %d, stride %d, adaptive %v, blocks of %d: differs from the whole analysis", tc.infl, tc.batch, tc.stride, tc.adaptive, bsz)
			}
			if !sameBits(E, E0) {
				t.Error("AnalyzeBlock changed the forecast")
			}
		}
	}
}

func TestAnalyzeBlockRejects(t *testing.T) {
	const N, n = 5, 16
	pos := []float64{0, 4, 8, 12}
	E := mat.NewDense(N, n, nil)
	HE := mat.NewDense(N, 4, nil)
	y, r := make([]float64, 4), []float64{1, 1, 1, 1}
	letkf, _ := New(Config{Method: LETKF, Inflation: 1, LocRadius: 2, BatchSize: 4}, N, n, pos)
	etkf, _ := New(Config{Method: ETKF, Inflation: 1}, N, n, pos)
	for _, tc := range []struct {
		f      *Filter
		lo, hi int
		cols   int
	}{
		{etkf, 0, 4, 4},    // not a LETKF
		{letkf, 2, 8, 6},   // not on a batch boundary
		{letkf, 0, 20, 20}, // past the end
		{letkf, 4, 4, 0},   // empty
		{letkf, 0, 8, 5},   // wrong destination
	} {
		dst := mat.NewDense(N, max(tc.cols, 1), nil)
		if err := tc.f.AnalyzeBlock(dst, E, HE, y, r, tc.lo, tc.hi); err == nil {
			t.Errorf("block [%d, %d) into %d columns accepted", tc.lo, tc.hi, tc.cols)
		}
	}
}
