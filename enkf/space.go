package enkf

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// space is the N × N ensemble-space workspace shared by every scheme: it
// factors C = I + S Sᵀ = V Λ Vᵀ and forms G = C⁻¹ and T = C^{-1/2}. It owns
// all its buffers, so a factorisation does not allocate.
type space struct {
	n    int
	c    []float64 // C, overwritten by V
	lam  []float64 // eigenvalues of C
	x    []float64 // V Λ^{-1/2}
	g    []float64 // C⁻¹
	t    []float64 // C^{-1/2}
	work []float64 // LAPACK work space
}

func newSpace(n int) *space {
	s := &space{
		n:   n,
		c:   make([]float64, n*n),
		lam: make([]float64, n),
		x:   make([]float64, n*n),
		g:   make([]float64, n*n),
		t:   make([]float64, n*n),
	}
	query := make([]float64, 1)
	lapack64.Syev(lapack.EVCompute, s.sym(), s.lam, query, -1)
	s.work = make([]float64, int(query[0]))
	return s
}

func (s *space) general(data []float64) blas64.General {
	return blas64.General{Rows: s.n, Cols: s.n, Stride: s.n, Data: data}
}

func (s *space) sym() blas64.Symmetric {
	return blas64.Symmetric{N: s.n, Stride: s.n, Uplo: blas.Upper, Data: s.c}
}

// factor sets C = I + S Sᵀ for S (N × p) and diagonalises it, C = V Λ Vᵀ.
// C is symmetric positive definite with eigenvalues >= 1, so this cannot
// fail on finite input; it reports false otherwise.
func (s *space) factor(S blas64.General) bool {
	n := s.n
	for i := range s.c {
		s.c[i] = 0
	}
	if S.Cols > 0 {
		blas64.Syrk(blas.NoTrans, 1, S, 0, s.sym())
	}
	for i := 0; i < n; i++ {
		s.c[i*n+i]++
	}
	if !lapack64.Syev(lapack.EVCompute, s.sym(), s.lam, s.work, len(s.work)) {
		return false
	}
	// X = V Λ^{-1/2}; V is stored with eigenvectors as columns.
	for i := 0; i < n; i++ {
		for k := 0; k < n; k++ {
			s.x[i*n+k] = s.c[i*n+k] / math.Sqrt(s.lam[k])
		}
	}
	return true
}

// formG writes G = C⁻¹ = X Xᵀ into s.g.
func (s *space) formG() {
	X := s.general(s.x)
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, X, X, 0, s.general(s.g))
}

// formT writes T = C^{-1/2} = X Vᵀ into s.t.
func (s *space) formT() {
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, s.general(s.x), s.general(s.c), 0, s.general(s.t))
}

// solve writes w = C⁻¹ b = X (Xᵀ b) and returns bᵀC⁻¹b = |Xᵀb|²; tmp is
// scratch of length N.
func (s *space) solve(w, b, tmp []float64) float64 {
	X := s.general(s.x)
	t := blas64.Vector{N: s.n, Inc: 1, Data: tmp}
	blas64.Gemv(blas.Trans, 1, X, blas64.Vector{N: s.n, Inc: 1, Data: b}, 0, t)
	blas64.Gemv(blas.NoTrans, 1, X, t, 0, blas64.Vector{N: s.n, Inc: 1, Data: w})
	return blas64.Dot(t, t)
}
