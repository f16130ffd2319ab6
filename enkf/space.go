package enkf

import (
	"math"

	"github.com/latentda/latentda/internal/symeig"
	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// space is the N × N ensemble-space workspace shared by every scheme: it
// factors C = I + S Sᵀ = V Λ Vᵀ and forms G = C⁻¹ and T = C^{-1/2}. It owns
// all its buffers, so a factorisation does not allocate.
type space struct {
	n   int
	eig *symeig.Eigen // C in, then Vᵀ (eig.VT) and Λ (eig.D)
	xt  []float64     // Xᵀ = Λ^{-1/2} Vᵀ: row k is vₖ/√λₖ
	x   []float64     // X, for symProduct
	st  []float64     // a block of columns of S, transposed, for gram
	g   []float64     // C⁻¹
	t   []float64     // C^{-1/2}
}

func newSpace(n int) *space {
	return &space{
		n:   n,
		eig: symeig.New(n),
		xt:  make([]float64, n*n),
		x:   make([]float64, n*n),
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
	s.gram(s.eig.A, S)
	return s.decompose()
}

// gramBlock is the number of columns of S that gram transposes and
// multiplies at a time: their transpose stays in the L1 cache, and a
// global S of 10⁶ columns needs no transposed copy.
const gramBlock = 256

// gram writes dst = I + S Sᵀ (N × N) for S (N × p). It sums over the
// columns of S in blocks of gramBlock; vec.Gemm adds the products to C in
// column order, so the bits are those of one product over all of them.
func (s *space) gram(dst []float64, S blas64.General) {
	n, p, c := s.n, S.Cols, dst
	kb := min(p, gramBlock)
	if len(s.st) < n*kb {
		s.st = make([]float64, n*kb) // grows to the largest block seen, then stays
	}
	clear(c)
	for k0 := 0; k0 < p; k0 += kb {
		m := min(kb, p-k0)
		st := s.st[:n*m]
		for i := 0; i < n; i++ {
			for k, v := range S.Data[i*S.Stride+k0 : i*S.Stride+k0+m] {
				st[k*n+i] = v
			}
		}
		vec.Gemm(n, n, m, S.Data[k0:], S.Stride, st, n, c, n)
	}
	for i := 0; i < n; i++ {
		c[i*n+i]++
	}
}

// decompose diagonalises the symmetric matrix in s.eig.A (upper triangle)
// and forms Xᵀ = Λ^{-1/2} Vᵀ. It reports false unless the matrix is
// positive definite.
func (s *space) decompose() bool {
	n := s.n
	if !s.eig.Decompose() {
		return false
	}
	for k, lam := range s.eig.D {
		if !(lam > 0) {
			return false
		}
		f := 1 / math.Sqrt(lam)
		v := s.eig.VT[k*n : k*n+n]
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
func (s *space) formT() { s.symProduct(s.t, s.eig.VT) }

// symProduct writes dst = Σₖ xₖ bₖᵀ over the rows xₖ of Xᵀ and bₖ of b,
// known to be symmetric: row i is Σₖ X[i][k] bₖ, summed in k order (whole
// rows vectorise better than the triangle), and the upper triangle is
// mirrored so that dst is exactly symmetric.
func (s *space) symProduct(dst, b []float64) {
	n := s.n
	for k := 0; k < n; k++ {
		for i := 0; i < n; i++ {
			s.x[i*n+k] = s.xt[k*n+i]
		}
	}
	clear(dst)
	vec.Gemm(n, n, n, s.x, n, b, n, dst, n)
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
	clear(w[:s.n])
	vec.GemvT(w[:s.n], tmp[:s.n], s.xt, s.n) // = blas64.Gemv(blas.Trans, 1, Xt, t, 0, w)
	return blas64.Dot(t, t)
}
