package rotation

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

func eye(n int) *mat.Dense {
	I := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		I.Set(i, i, 1)
	}
	return I
}

func maxAbsDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func maxAbsDiffMat(a, b mat.Matrix) float64 {
	var D mat.Dense
	D.Sub(a, b)
	return mat.Norm(&D, math.Inf(1))
}

func TestRotationIsMeanPreservingOrthogonal(t *testing.T) {
	for _, n := range []int{2, 3, 10, 24} {
		// Applying the rotation to the identity forms Q.
		r := New(n, n)
		Q := eye(n)
		r.Apply(blas64.General{Rows: n, Cols: n, Stride: n, Data: Q.RawMatrix().Data}, rand.New(rand.NewPCG(uint64(n), 0)))
		var QtQ mat.Dense
		QtQ.Mul(Q.T(), Q)
		if d := maxAbsDiffMat(&QtQ, eye(n)); d > 1e-12 {
			t.Errorf("n=%d: QᵀQ differs from I by %g", n, d)
		}
		var q1 mat.VecDense
		ones := make([]float64, n)
		for i := range ones {
			ones[i] = 1
		}
		q1.MulVec(Q, mat.NewVecDense(n, ones))
		if d := maxAbsDiff(q1.RawVector().Data, ones); d > 1e-12 {
			t.Errorf("n=%d: Q1 differs from 1 by %g", n, d)
		}
	}
}

// TestRotationIsHaar checks the distribution of the rotation. Q = H
// diag(1, Q') H with Q' Haar on O(m), m = N-1, so tr Q - 1 = tr Q' has the
// moments of a standard normal up to order m-1 (Diaconis and Shahshahani
// 1994): mean 0, E t² = 1, E t⁴ = 3; det Q = det Q' is ±1 with probability
// ½ each; and E Q = 11ᵀ/N. K = 20000 draws; each tolerance is 5 standard
// errors (Var t² = 2, Var t⁴ = 96, Var Qᵢⱼ = (N-1)/N²). A sampler without
// the sign correction of Mezzadri (2007) fails the mean and det checks.
func TestRotationIsHaar(t *testing.T) {
	const N, K = 10, 20000
	r := New(N, N)
	rng := rand.New(rand.NewPCG(5, 5))
	var m1, m2, m4, neg float64
	mean := mat.NewDense(N, N, nil)
	for range K {
		Q := eye(N)
		r.Apply(blas64.General{Rows: N, Cols: N, Stride: N, Data: Q.RawMatrix().Data}, rng)
		tr := mat.Trace(Q) - 1
		m1 += tr / K
		m2 += tr * tr / K
		m4 += tr * tr * tr * tr / K
		if mat.Det(Q) < 0 {
			neg += 1.0 / K
		}
		mean.Add(mean, Q)
	}
	mean.Scale(1.0/K, mean)
	se := func(v float64) float64 { return 5 * math.Sqrt(v/K) }
	if math.Abs(m1) > se(1) {
		t.Errorf("E tr Q' = %.4f, want 0 ± %.4f", m1, se(1))
	}
	if math.Abs(m2-1) > se(2) {
		t.Errorf("E (tr Q')² = %.4f, want 1 ± %.4f", m2, se(2))
	}
	if math.Abs(m4-3) > se(96) {
		t.Errorf("E (tr Q')⁴ = %.4f, want 3 ± %.4f", m4, se(96))
	}
	if math.Abs(neg-0.5) > se(0.25) {
		t.Errorf("P(det Q = -1) = %.4f, want 0.5 ± %.4f", neg, se(0.25))
	}
	for i := 0; i < N; i++ {
		for j := 0; j < N; j++ {
			if d := math.Abs(mean.At(i, j) - 1.0/N); d > se(float64(N-1)/(N*N)) {
				t.Errorf("E Q[%d][%d] = %.4f, want %.4f ± %.4f", i, j, mean.At(i, j), 1.0/N, se(float64(N-1)/(N*N)))
			}
		}
	}
}

// BenchmarkRotate times one random mean-preserving rotation of an N × N
// transform (N = 24), as the global schemes apply it.
func BenchmarkRotate(b *testing.B) {
	N := 24
	r := New(N, N)
	rng := rand.New(rand.NewPCG(4, 4))
	w := make([]float64, N*N)
	for i := 0; i < N; i++ {
		w[i*N+i] = 1
	}
	W := blas64.General{Rows: N, Cols: N, Stride: N, Data: w}
	b.ReportAllocs()
	for b.Loop() {
		r.Apply(W, rng)
	}
}
