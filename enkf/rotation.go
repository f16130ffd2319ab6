package enkf

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// rotator applies random orthogonal N × N matrices Q with Q1 = 1, uniformly
// (Haar) distributed among them: Q = H diag(1, Q') H, where H = I - 2vvᵀ/vᵀv
// is the Householder reflection that swaps e₁ and 1/√N, and Q' is Haar on
// O(N-1): Q' = Q_G D for the QR factorisation G = Q_G R of a Gaussian matrix
// and D = diag(sign Rᵢᵢ) (Mezzadri 2007). Neither Q nor Q' is formed: Q_G
// stays as the Householder reflectors of Geqrf, applied by Ormqr, so the
// rotation of an N × c matrix costs two rank-one updates, an (N-1)² QR
// factorisation and about 2(N-1)²c flops.
type rotator struct {
	n    int
	v    []float64 // Householder vector e₁ - 1/√N
	vv   float64   // vᵀv
	q    []float64 // Gaussian matrix, then R and the reflectors ((N-1) × (N-1))
	tau  []float64
	work []float64
	vA   []float64 // vᵀA (cols)
}

func newRotator(n, cols int) *rotator {
	m := n - 1
	r := &rotator{
		n: n, v: make([]float64, n),
		q: make([]float64, m*m), tau: make([]float64, m), vA: make([]float64, cols),
	}
	u := 1 / math.Sqrt(float64(n))
	for i := range r.v {
		r.v[i] = -u
	}
	r.v[0] += 1
	for _, x := range r.v {
		r.vv += x * x
	}
	if m > 0 {
		query := make([]float64, 1)
		g := blas64.General{Rows: m, Cols: m, Stride: m, Data: r.q}
		lapack64.Geqrf(g, r.tau, query, -1)
		lw := int(query[0])
		c := blas64.General{Rows: m, Cols: cols, Stride: cols, Data: make([]float64, m*cols)}
		lapack64.Ormqr(blas.Left, blas.NoTrans, g, r.tau, c, query, -1)
		r.work = make([]float64, max(lw, int(query[0]), 1))
	}
	return r
}

// reflect applies H to the rows of A: A ← A - (2/vᵀv) v (vᵀA).
func (r *rotator) reflect(A blas64.General) {
	vA := blas64.Vector{N: A.Cols, Inc: 1, Data: r.vA}
	v := blas64.Vector{N: r.n, Inc: 1, Data: r.v}
	blas64.Gemv(blas.Trans, 1, A, v, 0, vA)
	blas64.Ger(-2/r.vv, v, vA, A)
}

// apply replaces A (N × cols) by Q A for a fresh random Q drawn from rng.
func (r *rotator) apply(A blas64.General, rng *rand.Rand) {
	m := r.n - 1
	r.reflect(A)
	if m > 0 {
		for i := range r.q {
			r.q[i] = rng.NormFloat64()
		}
		g := blas64.General{Rows: m, Cols: m, Stride: m, Data: r.q}
		lapack64.Geqrf(g, r.tau, r.work, len(r.work))
		// Q' A[1:] = Q_G (D A[1:]).
		lower := blas64.General{Rows: m, Cols: A.Cols, Stride: A.Stride, Data: A.Data[A.Stride:]}
		for i := 0; i < m; i++ {
			if r.q[i*m+i] < 0 {
				row := lower.Data[i*lower.Stride : i*lower.Stride+A.Cols]
				for j := range row {
					row[j] = -row[j]
				}
			}
		}
		lapack64.Ormqr(blas.Left, blas.NoTrans, g, r.tau, lower, r.work, len(r.work))
	}
	r.reflect(A)
}
