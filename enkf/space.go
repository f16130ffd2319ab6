package enkf

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// space is the N × N ensemble-space workspace shared by every scheme: it
// factors C = I + S Sᵀ = V Λ Vᵀ and forms G = C⁻¹ and T = C^{-1/2}. It owns
// all its buffers, so a factorisation does not allocate.
type space struct {
	n   int
	eig *symEigen // C in, then Vᵀ (eig.vt) and Λ (eig.d)
	xt  []float64 // Xᵀ = Λ^{-1/2} Vᵀ: row k is vₖ/√λₖ
	g   []float64 // C⁻¹
	t   []float64 // C^{-1/2}
}

func newSpace(n int) *space {
	return &space{
		n:   n,
		eig: newSymEigen(n),
		xt:  make([]float64, n*n),
		g:   make([]float64, n*n),
		t:   make([]float64, n*n),
	}
}

func (s *space) general(data []float64) blas64.General {
	return blas64.General{Rows: s.n, Cols: s.n, Stride: s.n, Data: data}
}

// factor sets C = I + S Sᵀ for S (N × p) and diagonalises it, C = V Λ Vᵀ.
// C is symmetric positive definite with eigenvalues >= 1, so this cannot
// fail on finite input; it reports false otherwise.
func (s *space) factor(S blas64.General) bool {
	n, c := s.n, s.eig.a
	clear(c)
	if S.Cols > 0 {
		blas64.Syrk(blas.NoTrans, 1, S, 0, blas64.Symmetric{N: n, Stride: n, Uplo: blas.Upper, Data: c})
	}
	for i := 0; i < n; i++ {
		c[i*n+i]++
	}
	if !s.eig.decompose() {
		return false
	}
	for k, lam := range s.eig.d {
		if !(lam > 0) {
			return false
		}
		f := 1 / math.Sqrt(lam)
		v := s.eig.vt[k*n : k*n+n]
		x := s.xt[k*n : k*n+n]
		x = x[:len(v)]
		for j, vj := range v {
			x[j] = f * vj
		}
	}
	return true
}

// formG writes G = C⁻¹ = X Xᵀ into s.g.
func (s *space) formG() { s.symProduct(s.g, s.xt) }

// formT writes T = C^{-1/2} = X Vᵀ into s.t.
func (s *space) formT() { s.symProduct(s.t, s.eig.vt) }

// symProduct writes dst = Σₖ xₖ bₖᵀ over the rows xₖ of Xᵀ and bₖ of b,
// known to be symmetric: the upper triangle is accumulated row by row and
// mirrored.
func (s *space) symProduct(dst, b []float64) {
	n := s.n
	clear(dst)
	for k := 0; k < n; k++ {
		xk := s.xt[k*n : k*n+n]
		bk := b[k*n : k*n+n]
		for i, xi := range xk {
			row := dst[i*n+i : i*n+n]
			bi := bk[i:]
			bi = bi[:len(row)]
			for j, v := range bi {
				row[j] += xi * v
			}
		}
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			dst[j*n+i] = dst[i*n+j]
		}
	}
}

// solve writes w = C⁻¹ b = X (Xᵀ b) and returns bᵀC⁻¹b = |Xᵀb|²; tmp is
// scratch of length N.
func (s *space) solve(w, b, tmp []float64) float64 {
	Xt := s.general(s.xt)
	t := blas64.Vector{N: s.n, Inc: 1, Data: tmp}
	blas64.Gemv(blas.NoTrans, 1, Xt, blas64.Vector{N: s.n, Inc: 1, Data: b}, 0, t)
	blas64.Gemv(blas.Trans, 1, Xt, t, 0, blas64.Vector{N: s.n, Inc: 1, Data: w})
	return blas64.Dot(t, t)
}
