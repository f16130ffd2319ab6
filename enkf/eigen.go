package enkf

import (
	"math"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// symEigen diagonalises small dense symmetric matrices, A = V Λ Vᵀ, by
// Householder tridiagonalisation Qᵀ A Q = T followed by the implicit-shift QL
// algorithm with Wilkinson shifts on T, accumulating the plane rotations into
// Vᵀ = Zᵀ Qᵀ. Everything is row-major with the eigenvectors as the rows of
// vt, so the n³ loops run over contiguous rows. It owns its work space:
// decompose does not allocate.
//
// It replaces gonum's Dsyev for the ensemble-space matrices, whose QL sweeps
// update columns of row-major storage and pay per-call overheads that
// dominate at N ≈ 10–100 (BenchmarkSymEigen compares the two).
type symEigen struct {
	n   int
	a   []float64 // n × n; upper triangle in, then the Householder vectors
	vt  []float64 // n × n; row k is the unit eigenvector of d[k]
	d   []float64 // eigenvalues, in no particular order
	e   []float64 // off-diagonal of T, e[i] = T[i][i+1]; e[n-1] = 0
	tau []float64 // Householder scalars
	w   []float64 // work (n)
}

func newSymEigen(n int) *symEigen {
	return &symEigen{
		n: n, a: make([]float64, n*n), vt: make([]float64, n*n),
		d: make([]float64, n), e: make([]float64, n), tau: make([]float64, n), w: make([]float64, n),
	}
}

// maxQLIter bounds the QL iterations spent on one eigenvalue; two or three
// are typical (the Wilkinson shift converges cubically).
const maxQLIter = 60

// decompose diagonalises the symmetric matrix whose upper triangle is in
// s.a (the strict lower triangle is ignored and s.a is overwritten). It
// reports false for non-finite input or if QL fails to converge.
func (s *symEigen) decompose() bool {
	n := s.n
	// Scale by a power of two so that max|aᵢⱼ| ∈ [½, 1): exact, and it
	// keeps the squares in the rotations away from overflow and underflow.
	var anrm float64
	for i := 0; i < n; i++ {
		for _, v := range s.a[i*n+i : i*n+n] {
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
		for i := 0; i < n; i++ {
			row := s.a[i*n+i : i*n+n]
			for j := range row {
				row[j] *= scale
			}
		}
	}
	s.tridiagonalize()
	s.formQT()
	if !s.ql() {
		return false
	}
	for k := range s.d {
		s.d[k] /= scale
	}
	return true
}

// tridiagonalize reduces the upper triangle of a to T = Qᵀ A Q with
// Q = H₀ H₁ ⋯ H_{n-3}, Hₖ = I - τₖ uₖ uₖᵀ acting on indices k+1…n-1. uₖ
// (with uₖ[0] = 1 implied) is left in row k of a, right of the diagonal.
func (s *symEigen) tridiagonalize() {
	n, a := s.n, s.a
	for k := 0; k < n-2; k++ {
		m := n - k - 1
		x := a[k*n+k+1 : k*n+n] // column k below the diagonal, by symmetry
		alpha := x[0]
		var xn2 float64
		for _, v := range x[1:] {
			xn2 += v * v
		}
		if xn2 == 0 {
			s.tau[k], s.e[k] = 0, alpha
			continue
		}
		beta := -math.Copysign(math.Sqrt(alpha*alpha+xn2), alpha)
		tau := (beta - alpha) / beta
		inv := 1 / (alpha - beta)
		x[0] = 1
		for j := 1; j < m; j++ {
			x[j] *= inv
		}
		s.tau[k], s.e[k] = tau, beta
		// p = τ A₂₂ u from the upper triangle of A₂₂ = a[k+1:, k+1:].
		p := s.w[:m]
		clear(p)
		for i := 0; i < m; i++ {
			row := a[(k+1+i)*n+k+1+i : (k+2+i)*n]
			ui := x[i]
			ur := x[i:]
			ur = ur[:len(row)]
			pr := p[i:]
			pr = pr[:len(row)]
			acc := row[0] * ui
			for j := 1; j < len(row); j++ {
				acc += row[j] * ur[j]
				pr[j] += row[j] * ui
			}
			pr[0] += acc
		}
		// w = p - (τ/2)(pᵀu) u, then A₂₂ ← A₂₂ - u wᵀ - w uᵀ.
		var pu float64
		for i, v := range p {
			pu += v * x[i]
		}
		c := -0.5 * tau * tau * pu
		for i := range p {
			p[i] = tau*p[i] + c*x[i]
		}
		for i := 0; i < m; i++ {
			row := a[(k+1+i)*n+k+1+i : (k+2+i)*n]
			ui, wi := x[i], p[i]
			ur := x[i:]
			ur = ur[:len(row)]
			wr := p[i:]
			wr = wr[:len(row)]
			for j := range row {
				row[j] -= ui*wr[j] + wi*ur[j]
			}
		}
	}
	for i := 0; i < n; i++ {
		s.d[i] = a[i*n+i]
	}
	if n >= 2 {
		s.e[n-2] = a[(n-2)*n+n-1]
	}
	s.e[n-1] = 0
}

// formQT writes Qᵀ = H_{n-3} ⋯ H₀ into vt, as I·H_{n-3}⋯H₀ from the
// right: Hₖ changes only columns k+1…, and rows ≤ k are still eᵢᵀ there.
func (s *symEigen) formQT() {
	n, vt := s.n, s.vt
	clear(vt)
	for i := 0; i < n; i++ {
		vt[i*n+i] = 1
	}
	for k := n - 3; k >= 0; k-- {
		if s.tau[k] == 0 {
			continue
		}
		m := n - k - 1
		u := blas64.Vector{N: m, Inc: 1, Data: s.a[k*n+k+1 : k*n+n]}
		w := blas64.Vector{N: m, Inc: 1, Data: s.w}
		sub := blas64.General{Rows: m, Cols: m, Stride: n, Data: vt[(k+1)*n+k+1:]}
		blas64.Gemv(blas.NoTrans, 1, sub, u, 0, w)
		blas64.Ger(-s.tau[k], w, u, sub)
	}
}

// ql diagonalises T (d, e) by implicit QL sweeps with Wilkinson shifts; each
// plane rotation of rows i, i+1 of T is applied to the same rows of vt.
func (s *symEigen) ql() bool {
	n, d, e, vt := s.n, s.d, s.e, s.vt
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
				r = math.Sqrt(f*f + g*g)
				e[i+1] = r
				if r == 0 { // underflow: deflate at i+1 and start again
					d[i+1] -= p
					e[m] = 0
					restart = true
					break
				}
				inv := 1 / r
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
