package enkf

import (
	"math/rand/v2"
	"testing"

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

// BenchmarkRotate times one random mean-preserving rotation of an N × N
// transform (N = 24), as the global schemes apply it.
func BenchmarkRotate(b *testing.B) {
	N := 24
	r := newRotator(N, N)
	rng := rand.New(rand.NewPCG(4, 4))
	w := make([]float64, N*N)
	for i := 0; i < N; i++ {
		w[i*N+i] = 1
	}
	W := blas64.General{Rows: N, Cols: N, Stride: N, Data: w}
	b.ReportAllocs()
	for b.Loop() {
		r.apply(W, rng)
	}
}
