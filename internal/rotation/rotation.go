// Package rotation draws random mean-preserving orthogonal matrices and
// applies them to ensemble transforms and anomalies: the random rotations
// of the square-root filters (Sakov and Oke 2008), DAPPER's "rot".
package rotation

import (
	"math"
	"math/rand/v2"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas/blas64"
)

// Rotator applies random orthogonal N × N matrices Q with Q1 = 1, uniformly
// (Haar) distributed among them: Q = H diag(1, Q') H, where H = I - 2vvᵀ/vᵀv
// is the Householder reflection that swaps e₁ and 1/√N, and Q' is Haar on
// O(N-1): Q' = Q_G D for the QR factorisation G = Q_G R of a Gaussian matrix
// and D = diag(sign Rᵢᵢ) (Mezzadri 2007). Neither Q nor Q' is formed: Q_G
// stays as the Householder reflectors of the QR factorisation, so the
// rotation of an N × c matrix costs two rank-one updates, an (N-1)² QR
// factorisation and about 2(N-1)²c flops.
type Rotator struct {
	n    int
	v    []float64 // Householder vector e₁ - 1/√N
	vv   float64   // vᵀv
	gt   []float64 // Gᵀ ((N-1) × (N-1)), then row i holds the i-th reflector from column i
	tau  []float64 // reflector scalars
	rd   []float64 // the diagonal of R
	work []float64 // max(N-1, cols)
}

// New returns a Rotator of N × N rotations for N × cols matrices.
func New(n, cols int) *Rotator {
	m := n - 1
	r := &Rotator{
		n: n, v: make([]float64, n),
		gt: make([]float64, m*m), tau: make([]float64, m), rd: make([]float64, m), work: make([]float64, max(m, cols)),
	}
	u := 1 / math.Sqrt(float64(n))
	for i := range r.v {
		r.v[i] = -u
	}
	r.v[0] += 1
	for _, x := range r.v {
		r.vv += x * x
	}
	return r
}

// reflect applies H to the rows of A: A ← A - (2/vᵀv) v (vᵀA).
func (r *Rotator) reflect(A blas64.General) {
	vA := r.work[:A.Cols]
	clear(vA)
	vec.GemvT(vA, r.v, A.Data, A.Stride)
	vec.Ger(A.Data, A.Stride, -2/r.vv, r.v, vA)
}

// Apply replaces A (N × cols) by Q A for a fresh random Q drawn from rng;
// A may have more columns than New was told (the work space then grows
// once).
func (r *Rotator) Apply(A blas64.General, rng *rand.Rand) {
	if len(r.work) < A.Cols {
		r.work = make([]float64, A.Cols)
	}
	m := r.n - 1
	r.reflect(A)
	if m > 0 {
		// G is drawn by rows and stored by columns, so that the QR
		// factorisation works on contiguous memory.
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				r.gt[j*m+i] = rng.NormFloat64()
			}
		}
		r.factor()
		// Q' A[1:] = Q_G (D A[1:]), Q_G = H₀ H₁ ⋯ H_{m-1}: the last reflector first.
		lower := A.Data[A.Stride:]
		for i := 0; i < m; i++ {
			if r.rd[i] < 0 {
				row := lower[i*A.Stride : i*A.Stride+A.Cols]
				for j := range row {
					row[j] = -row[j]
				}
			}
		}
		w := r.work[:A.Cols]
		for i := m - 1; i >= 0; i-- {
			if r.tau[i] == 0 {
				continue
			}
			u, c := r.gt[i*m+i:i*m+m], lower[i*A.Stride:]
			clear(w)
			vec.GemvT(w, u, c, A.Stride)          // w = Cᵀu
			vec.Ger(c, A.Stride, -r.tau[i], u, w) // C ← C - τ u wᵀ
		}
	}
	r.reflect(A)
}

// factor computes the Householder QR factorisation G = H₀ ⋯ H_{m-1} R of the
// matrix whose columns are the rows of gt, with LAPACK's conventions
// (Hᵢ = I - τᵢ uuᵀ, u[0] = 1): row i of gt is left holding u from column i
// on, and the diagonal of R goes to rd.
func (r *Rotator) factor() {
	m, gt := r.n-1, r.gt
	for i := 0; i < m; i++ {
		x := gt[i*m+i : i*m+m] // column i of G from the diagonal down
		r.tau[i], r.rd[i] = vec.Reflector(x)
		if r.tau[i] == 0 {
			continue
		}
		// Hᵢ on the later columns of G (rows of gt), from entry i on:
		// wⱼ = u·gⱼ, gⱼ ← gⱼ - τ wⱼ u.
		if rest := m - i - 1; rest > 0 {
			w := r.work[:rest]
			trail := gt[(i+1)*m+i:]
			vec.DotRows(w, x, trail, m)
			vec.Ger(trail, m, -r.tau[i], w, x)
		}
	}
}
