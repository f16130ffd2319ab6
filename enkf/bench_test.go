package enkf

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/latentda/latentda/internal/cputime"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

var sinkInno Innovation

// BenchmarkAnalyze times one analysis of 24 members of a 40-variable state
// with every variable observed (the L96 benchmark's sizes), per scheme:
// go test -run '^$' -bench Analyze ./enkf
func BenchmarkAnalyze(b *testing.B) {
	n, N := 40, 24
	pos := make([]float64, n)
	for i := range pos {
		pos[i] = float64(i)
	}
	for _, cfg := range []Config{
		{Method: ETKF, Inflation: 1.013, Rotate: true},
		{Method: ETKF, Inflation: 1.013},
		{Method: EnKF, Inflation: 1.06},
		{Method: DEnKF, Inflation: 1.01},
		{Method: LETKF, Inflation: 1.04, LocRadius: 4, Rotate: true},
	} {
		name := string(cfg.Method)
		if cfg.Rotate {
			name += "-rot"
		}
		b.Run(name, func(b *testing.B) {
			f, err := New(cfg, N, n, pos)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			E0 := mat.NewDense(N, n, nil)
			for i := range E0.RawMatrix().Data {
				E0.RawMatrix().Data[i] = rng.NormFloat64()
			}
			E := mat.NewDense(N, n, nil)
			y, r := make([]float64, n), make([]float64, n)
			for i := range r {
				r[i] = 1
			}
			b.ReportAllocs()
			for b.Loop() {
				E.Copy(E0)
				inno, err := f.Analyze(E, E0, y, r, rng)
				if err != nil {
					b.Fatal(err)
				}
				sinkInno = inno
			}
		})
	}
}

// BenchmarkFactor times the eigendecomposition of I + SSᵀ for N = 24
// members and 40 observations, the dominant cost of a small ETKF.
func BenchmarkFactor(b *testing.B) {
	N, p := 24, 40
	rng := rand.New(rand.NewPCG(2, 2))
	s := make([]float64, N*p)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	sp := newSpace(N)
	S := blas64.General{Rows: N, Cols: p, Stride: p, Data: s}
	b.ReportAllocs()
	for b.Loop() {
		if !sp.factor(S) {
			b.Fatal("factor failed")
		}
	}
}

// BenchmarkLETKFScale times one LETKF analysis of N = 20 members, every
// second grid point observed, radius 10, for growing state sizes and weight
// strides (Config.WeightStride; 1: a local analysis per grid point); the
// time per grid point (ns/point, and the process's CPU time, cpu-ns/point,
// which other load on the machine disturbs less) should not grow with n:
// go test -run '^$' -bench LETKFScale ./enkf
func BenchmarkLETKFScale(b *testing.B) {
	const N = 20
	for _, n := range []int{1_000, 10_000, 100_000} {
		for _, stride := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("n=%d/stride=%d", n, stride), func(b *testing.B) {
				pos := make([]float64, n/2)
				for k := range pos {
					pos[k] = float64(2 * k)
				}
				f, err := New(Config{Method: LETKF, Inflation: 1.02, LocRadius: 10, WeightStride: stride}, N, n, pos)
				if err != nil {
					b.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(1, 1))
				E0 := randomDense(rng, N, n)
				HE := randomDense(rng, N, len(pos))
				y, r := make([]float64, len(pos)), make([]float64, len(pos))
				for k := range r {
					r[k] = 1
				}
				E := mat.NewDense(N, n, nil)
				b.ReportAllocs()
				c0 := cputime.Process()
				for b.Loop() {
					E.Copy(E0)
					inno, err := f.Analyze(E, HE, y, r, rng)
					if err != nil {
						b.Fatal(err)
					}
					sinkInno = inno
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
				b.ReportMetric(float64(cputime.Process()-c0)/float64(b.N)/float64(n), "cpu-ns/point")
			})
		}
	}
}

// BenchmarkHybridLocal times one localised-hybrid analysis at the latent
// benchmark's KS sizes (n = 128 points all observed, N = 16 members,
// batches of 4 points, radius 16) with m = 32 and m = 64 static rows,
// the two local systems (M × M and p_loc × p_loc):
// go test -run '^$' -bench HybridLocal ./enkf
func BenchmarkHybridLocal(b *testing.B) {
	const n, N = 128, 16
	h := pointMap{n: n, idx: everyK(n, 1)}
	for _, m := range []int{32, 64} {
		b.Run(fmt.Sprintf("m=%d", m), func(b *testing.B) {
			E0, B, y, r := localProblem(N, n, m, h, 5)
			f, err := New(Config{Method: LETKF, Inflation: 1.05, LocRadius: 16, BatchSize: 4}, N, n, h.positions())
			if err != nil {
				b.Fatal(err)
			}
			HE := h.observe(E0)
			E := mat.NewDense(N, n, nil)
			b.ReportAllocs()
			for b.Loop() {
				E.Copy(E0)
				inno, err := f.AnalyzeHybridLocal(E, HE, h, y, r, Hybrid{Alpha: 0.99, B: B}, nil)
				if err != nil {
					b.Fatal(err)
				}
				sinkInno = inno
			}
		})
	}
}
