package enkf

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// rotator draws random orthogonal N × N matrices Q with Q1 = 1, uniformly
// (Haar) among them: Q = H diag(1, Q') H, where H is the Householder
// reflection that maps e₁ to 1/√N and Q' is Haar on O(N-1), obtained from the
// QR factorisation of a Gaussian matrix with the signs of diag(R) fixed.
type rotator struct {
	n    int
	h    []float64 // Householder reflection, symmetric and orthogonal
	b    []float64 // diag(1, Q')
	q    []float64 // Gaussian matrix, then Q' (m × m, m = N-1)
	tau  []float64
	diag []float64
	work []float64
	tmp  []float64
	out  []float64 // Q
}

func newRotator(n int) *rotator {
	m := n - 1
	r := &rotator{
		n: n, h: make([]float64, n*n), b: make([]float64, n*n),
		q: make([]float64, m*m), tau: make([]float64, m), diag: make([]float64, m),
		tmp: make([]float64, n*n), out: make([]float64, n*n),
	}
	// v = e₁ - u with u = 1/√N; H = I - 2vvᵀ/(vᵀv).
	v := make([]float64, n)
	u := 1 / math.Sqrt(float64(n))
	for i := range v {
		v[i] = -u
	}
	v[0] += 1
	var vv float64
	for _, x := range v {
		vv += x * x
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			r.h[i*n+j] = -2 * v[i] * v[j] / vv
		}
		r.h[i*n+i]++
	}
	if m > 0 {
		query := make([]float64, 1)
		g := blas64.General{Rows: m, Cols: m, Stride: m, Data: r.q}
		lapack64.Geqrf(g, r.tau, query, -1)
		lw := int(query[0])
		lapack64.Orgqr(g, r.tau, query, -1)
		r.work = make([]float64, max(lw, int(query[0]), 1))
	}
	return r
}

// draw returns a fresh random mean-preserving rotation (owned by r).
func (r *rotator) draw(rng *rand.Rand) []float64 {
	n, m := r.n, r.n-1
	for i := range r.b {
		r.b[i] = 0
	}
	r.b[0] = 1
	if m > 0 {
		for i := range r.q {
			r.q[i] = rng.NormFloat64()
		}
		g := blas64.General{Rows: m, Cols: m, Stride: m, Data: r.q}
		lapack64.Geqrf(g, r.tau, r.work, len(r.work))
		for i := 0; i < m; i++ {
			r.diag[i] = math.Copysign(1, r.q[i*m+i])
		}
		lapack64.Orgqr(g, r.tau, r.work, len(r.work))
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				r.b[(i+1)*n+j+1] = r.q[i*m+j] * r.diag[j]
			}
		}
	}
	gen := func(d []float64) blas64.General { return blas64.General{Rows: n, Cols: n, Stride: n, Data: d} }
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, gen(r.h), gen(r.b), 0, gen(r.tmp))
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, gen(r.tmp), gen(r.h), 0, gen(r.out))
	return r.out
}
