package enkf

import (
	"math"
	"math/rand/v2"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/gonum"
)

// rotator applies random orthogonal N × N matrices Q with Q1 = 1, uniformly
// (Haar) distributed among them: Q = H diag(1, Q') H, where H = I - 2vvᵀ/vᵀv
// is the Householder reflection that swaps e₁ and 1/√N, and Q' is Haar on
// O(N-1): Q' = Q_G D for the QR factorisation G = Q_G R of a Gaussian matrix
// and D = diag(sign Rᵢᵢ) (Mezzadri 2007). Neither Q nor Q' is formed: Q_G
// stays as the Householder reflectors of the QR factorisation, so the
// rotation of an N × c matrix costs two rank-one updates, an (N-1)² QR
// factorisation and about 2(N-1)²c flops.
//
// The factorisation and the reflections are LAPACK's Dgeqr2 and Dorm2r
// (Dlarfg from gonum) on the vec kernels, which give gonum's bits: the
// random rotations are those of the gonum calls they replace.
type rotator struct {
	n    int
	v    []float64 // Householder vector e₁ - 1/√N
	vv   float64   // vᵀv
	q    []float64 // Gaussian matrix, then R and the reflectors ((N-1) × (N-1))
	tau  []float64
	u    []float64 // one reflector, gathered from its column of q
	work []float64 // max(N-1, cols)
}

func newRotator(n, cols int) *rotator {
	m := n - 1
	r := &rotator{
		n: n, v: make([]float64, n),
		q: make([]float64, m*m), tau: make([]float64, m), u: make([]float64, m), work: make([]float64, max(m, cols)),
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
func (r *rotator) reflect(A blas64.General) {
	vA := r.work[:A.Cols]
	clear(vA)
	vec.GemvT(vA, r.v, A.Data, A.Stride)
	vec.Ger(A.Data, A.Stride, -2/r.vv, r.v, vA)
}

// apply replaces A (N × cols) by Q A for a fresh random Q drawn from rng.
func (r *rotator) apply(A blas64.General, rng *rand.Rand) {
	m := r.n - 1
	r.reflect(A)
	if m > 0 {
		for i := range r.q {
			r.q[i] = rng.NormFloat64()
		}
		r.factor()
		// Q' A[1:] = Q_G (D A[1:]).
		lower := A.Data[A.Stride:]
		for i := 0; i < m; i++ {
			if r.q[i*m+i] < 0 {
				row := lower[i*A.Stride : i*A.Stride+A.Cols]
				for j := range row {
					row[j] = -row[j]
				}
			}
		}
		// Q_G C = H₀ H₁ ⋯ H_{m-1} C, the last reflector first.
		for i := m - 1; i >= 0; i-- {
			r.reflector(lower[i*A.Stride:], A.Stride, A.Cols, i)
		}
	}
	r.reflect(A)
}

// factor overwrites the Gaussian matrix in q with its QR factorisation:
// R on and above the diagonal, the Householder vectors below it.
func (r *rotator) factor() {
	m, q := r.n-1, r.q
	for i := 0; i < m; i++ {
		q[i*m+i], r.tau[i] = gonum.Implementation{}.Dlarfg(m-i, q[i*m+i], q[min(i+1, m-1)*m+i:], m)
		if i < m-1 {
			r.reflector(q[i*m+i+1:], m, m-i-1, i)
		}
	}
}

// reflector applies Hᵢ = I - τᵢ uuᵀ from the left to the (m-i) × cols block
// c (row stride), where u = (1, q[i+1:m][i]) is the i-th Householder vector:
// w = Cᵀu, C ← C - τᵢ u wᵀ.
func (r *rotator) reflector(c []float64, stride, cols, i int) {
	m, tau := r.n-1, r.tau[i]
	if tau == 0 {
		return
	}
	u := r.u[:m-i]
	u[0] = 1
	for k := 1; k < len(u); k++ {
		u[k] = r.q[(i+k)*m+i]
	}
	w := r.work[:cols]
	clear(w)
	vec.GemvT(w, u, c, stride)
	vec.Ger(c, stride, -tau, u, w)
}
