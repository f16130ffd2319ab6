// Package symeig diagonalises the small dense symmetric matrices of the
// ensemble-space analyses (N ≈ 10–100) without allocating: the
// eigensolver under enkf.
package symeig

import (
	"math"

	"github.com/latentda/latentda/internal/vec"
)

// Eigen diagonalises small dense symmetric matrices, A = V Λ Vᵀ, by
// Householder tridiagonalisation Qᵀ A Q = T followed by the implicit-shift QL
// algorithm with Wilkinson shifts on T, accumulating the plane rotations into
// Vᵀ = Zᵀ Qᵀ. Everything is row-major with the eigenvectors as the rows of
// vt, so the n³ loops run over contiguous rows. It owns its work space:
// decompose does not allocate.
//
// It replaces gonum's Dsyev for the ensemble-space matrices, whose QL sweeps
// update columns of row-major storage and pay per-call overheads that
// dominate at N ≈ 10–100 (BenchmarkSymEigen compares the two).
type Eigen struct {
	n   int
	A   []float64 // n × n; upper triangle in, then the Householder vectors
	VT  []float64 // n × n; row k is the unit eigenvector of D[k]
	D   []float64 // eigenvalues, in no particular order
	e   []float64 // off-diagonal of T, e[i] = T[i][i+1]; e[n-1] = 0
	tau []float64 // Householder scalars
	w   []float64 // work (n)
}

func New(n int) *Eigen {
	return &Eigen{
		n: n, A: make([]float64, n*n), VT: make([]float64, n*n),
		D: make([]float64, n), e: make([]float64, n), tau: make([]float64, n), w: make([]float64, n),
	}
}

// maxQLIter bounds the QL iterations spent on one eigenvalue; two or three
// are typical (the Wilkinson shift converges cubically).
const maxQLIter = 60

// decompose diagonalises the symmetric matrix whose upper triangle is in
// s.A (the strict lower triangle is ignored and s.A is overwritten). It
// reports false for non-finite input or if QL fails to converge.
func (s *Eigen) Decompose() bool {
	n := s.n
	// Scale by a power of two so that max|aᵢⱼ| ∈ [½, 1): exact, and it
	// keeps the squares in the rotations away from overflow and underflow.
	var anrm float64
	for i := 0; i < n; i++ {
		for _, v := range s.A[i*n+i : i*n+n] {
			if a := math.Abs(v); a > anrm {
				anrm = a
			} else if a != a {
				return false // NaN
			}
		}
	}
	if math.IsInf(anrm, 0) {
		return false
	}
	scale := 1.0
	if anrm > 0 {
		_, exp := math.Frexp(anrm)
		scale = math.Ldexp(1, -exp)
	}
	for i := 0; i < n; i++ { // scale the upper triangle and mirror it
		for j := i; j < n; j++ {
			v := s.A[i*n+j] * scale
			s.A[i*n+j], s.A[j*n+i] = v, v
		}
	}
	s.tridiagonalize()
	s.formQT()
	if !s.ql() {
		return false
	}
	for k := range s.D {
		s.D[k] /= scale
	}
	return true
}

// tridiagonalize reduces the symmetric a (both triangles) to T = Qᵀ A Q
// with Q = H₀ H₁ ⋯ H_{n-3}, Hₖ = I - τₖ uₖ uₖᵀ acting on indices k+1…n-1.
// uₖ (with uₖ[0] = 1 implied) is left in row k of a, right of the
// diagonal. The trailing block is kept whole (both triangles) so that each
// step is two vector kernels over whole rows.
func (s *Eigen) tridiagonalize() {
	n, a := s.n, s.A
	for k := 0; k < n-2; k++ {
		m := n - k - 1
		x := a[k*n+k+1 : k*n+n] // column k below the diagonal, by symmetry
		tau, beta := vec.Reflector(x)
		s.tau[k], s.e[k] = tau, beta
		if tau == 0 {
			continue
		}
		// With A₂₂ = a[k+1:, k+1:] and p = A₂₂u: w = τp - (τ²/2)(pᵀu) u and
		// A₂₂ ← A₂₂ - u wᵀ - w uᵀ, which is Hₖ A₂₂ Hₖ.
		a22 := a[(k+1)*n+k+1:]
		p := s.w[:m]
		clear(p)
		vec.GemvT(p, x, a22, n)
		c := -0.5 * tau * tau * vec.Dot(p, x)
		for i := range p {
			p[i] = tau*p[i] + c*x[i]
		}
		vec.Syr2(a22, n, x, p)
	}
	for i := 0; i < n; i++ {
		s.D[i] = a[i*n+i]
	}
	if n >= 2 {
		s.e[n-2] = a[(n-2)*n+n-1]
	}
	s.e[n-1] = 0
}

// formQT writes Qᵀ into vt. Q = H₀ ⋯ H_{n-3} is accumulated from its right
// end, Q ← Hₖ Q for k = n-3 … 0: Hₖ changes rows k+1…, and there Q is
// still the identity left of column k+1. Then vt is transposed in place.
func (s *Eigen) formQT() {
	n, vt := s.n, s.VT
	clear(vt)
	for i := 0; i < n; i++ {
		vt[i*n+i] = 1
	}
	for k := n - 3; k >= 0; k-- {
		if s.tau[k] == 0 {
			continue
		}
		m := n - k - 1
		u := s.A[k*n+k+1 : k*n+n]
		sub := vt[(k+1)*n+k+1:]
		w := s.w[:m]
		clear(w)
		vec.GemvT(w, u, sub, n)          // w = Q₂₂ᵀu
		vec.Ger(sub, n, -s.tau[k], u, w) // Q₂₂ ← Q₂₂ - τ u wᵀ
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			vt[i*n+j], vt[j*n+i] = vt[j*n+i], vt[i*n+j]
		}
	}
}

// ql diagonalises T (d, e) by implicit QL sweeps with Wilkinson shifts; each
// plane rotation of rows i, i+1 of T is applied to the same rows of vt.
func (s *Eigen) ql() bool {
	n, d, e, vt := s.n, s.D, s.e, s.VT
	const eps = 0x1p-52
	for l := 0; l < n; l++ {
		for iter := 0; ; iter++ {
			m := l
			for ; m < n-1; m++ {
				if math.Abs(e[m]) <= eps*(math.Abs(d[m])+math.Abs(d[m+1])) {
					break
				}
			}
			if m == l {
				break
			}
			if iter == maxQLIter {
				return false
			}
			// Shift: the eigenvalue of the leading 2 × 2 block closer to
			// d[l]. e[l] is not negligible here, so |g| < 1/eps.
			g := (d[l+1] - d[l]) / (2 * e[l])
			r := math.Sqrt(g*g + 1)
			g = d[m] - d[l] + e[l]/(g+math.Copysign(r, g))
			sn, cs, p := 1.0, 1.0, 0.0
			restart := false
			for i := m - 1; i >= l; i-- {
				f, b := sn*e[i], cs*e[i]
				// 1/r = r·(1/r²): the division runs beside the square
				// root instead of after it, which shortens the chain of
				// dependent operations that bounds the whole sweep.
				q := f*f + g*g
				iq := 1 / q
				r = math.Sqrt(q)
				e[i+1] = r
				if r == 0 { // underflow: deflate at i+1 and start again
					d[i+1] -= p
					e[m] = 0
					restart = true
					break
				}
				inv := r * iq
				if q < 0x1p-1000 { // 1/r² may have overflowed
					inv = 1 / r
				}
				sn, cs = f*inv, g*inv
				g = d[i+1] - p
				r = (d[i]-g)*sn + 2*cs*b
				p = sn * r
				d[i+1] = g + p
				g = cs*r - b
				// (x, y) ← (c x - s y, s x + c y) on rows i, i+1 of vt.
				vec.Rot(vt[i*n:i*n+n], vt[(i+1)*n:(i+2)*n], cs, sn)
			}
			if restart {
				continue
			}
			d[l] -= p
			e[l] = g
			e[m] = 0
		}
	}
	return true
}
