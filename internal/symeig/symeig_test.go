package symeig

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// randomOrthogonal returns an n × n orthogonal matrix (QR of a Gaussian).
func randomOrthogonal(n int, rng *rand.Rand) *mat.Dense {
	g := mat.NewDense(n, n, nil)
	for i := range g.RawMatrix().Data {
		g.RawMatrix().Data[i] = rng.NormFloat64()
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	return &q
}

// withSpectrum returns U diag(lam) Uᵀ for a random orthogonal U.
func withSpectrum(lam []float64, rng *rand.Rand) *mat.SymDense {
	n := len(lam)
	u := randomOrthogonal(n, rng)
	a := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			var s float64
			for k, l := range lam {
				s += u.At(i, k) * l * u.At(j, k)
			}
			a.SetSym(i, j, s)
		}
	}
	return a
}

// symTestMatrices are the matrices the eigensolver must handle: random,
// with repeated and clustered eigenvalues, rank-deficient, already
// diagonal or tridiagonal, and badly scaled.
func symTestMatrices() map[string]*mat.SymDense {
	rng := rand.New(rand.NewPCG(7, 7))
	ms := map[string]*mat.SymDense{}
	for _, n := range []int{1, 2, 3, 5, 10, 24, 40, 65, 128} {
		a := mat.NewSymDense(n, nil)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				a.SetSym(i, j, rng.NormFloat64())
			}
		}
		ms[fmt.Sprintf("gaussian-%d", n)] = a
	}
	// I + SSᵀ with centred S (rows of the ensemble-space matrix): eigenvalue
	// exactly 1 once (p >= N-1) or N-p times (p < N).
	for _, c := range []struct{ N, p int }{{24, 40}, {24, 5}, {10, 1}, {40, 40}, {7, 3}} {
		s := mat.NewDense(c.N, c.p, nil)
		for k := 0; k < c.p; k++ {
			var m float64
			for i := 0; i < c.N; i++ {
				v := rng.NormFloat64()
				s.Set(i, k, v)
				m += v
			}
			for i := 0; i < c.N; i++ {
				s.Set(i, k, s.At(i, k)-m/float64(c.N))
			}
		}
		a := mat.NewSymDense(c.N, nil)
		a.SymOuterK(1, s)
		for i := 0; i < c.N; i++ {
			a.SetSym(i, i, a.At(i, i)+1)
		}
		ms[fmt.Sprintf("I+SSt-N%d-p%d", c.N, c.p)] = a
	}
	// Clusters: exact repeats and splittings at round-off level.
	ms["clustered-24"] = withSpectrum([]float64{
		1, 1, 1, 1, 1 + 1e-15, 1 + 1e-13, 2, 2, 2, 2 + 1e-10, 3, 3,
		-1, -1, -1, 0, 0, 0, 1e-8, 5, 5, 5, 5, 5}, rng)
	ms["two-values-30"] = withSpectrum(slices.Concat(slices.Repeat([]float64{4}, 15), slices.Repeat([]float64{-4}, 15)), rng)
	// Rank-deficient B Bᵀ (rank 3) and the zero matrix.
	b := mat.NewDense(20, 3, nil)
	for i := range b.RawMatrix().Data {
		b.RawMatrix().Data[i] = rng.NormFloat64()
	}
	rd := mat.NewSymDense(20, nil)
	rd.SymOuterK(1, b)
	ms["rank3-20"] = rd
	ms["zero-6"] = mat.NewSymDense(6, nil)
	ident := mat.NewSymDense(9, nil)
	diag := mat.NewSymDense(9, nil)
	for i := 0; i < 9; i++ {
		ident.SetSym(i, i, 1)
		diag.SetSym(i, i, float64(9-2*i))
	}
	ms["identity-9"] = ident
	ms["diagonal-9"] = diag
	// Wilkinson W21+: pairs of eigenvalues agreeing to ~1e-14.
	w := mat.NewSymDense(21, nil)
	for i := 0; i < 21; i++ {
		w.SetSym(i, i, math.Abs(float64(i-10)))
		if i < 20 {
			w.SetSym(i, i+1, 1)
		}
	}
	ms["wilkinson-21"] = w
	// Graded and extreme scales.
	g := mat.NewSymDense(12, nil)
	for i := 0; i < 12; i++ {
		for j := i; j < 12; j++ {
			g.SetSym(i, j, rng.NormFloat64()*math.Pow(10, -float64(i+j)))
		}
	}
	ms["graded-12"] = g
	for _, sc := range []float64{1e-200, 1e200} {
		a := mat.NewSymDense(8, nil)
		for i := 0; i < 8; i++ {
			for j := i; j < 8; j++ {
				a.SetSym(i, j, sc*rng.NormFloat64())
			}
		}
		ms[fmt.Sprintf("scaled-%g", sc)] = a
	}
	return ms
}

// TestSymEigen checks the decomposition of every test matrix by backward
// error and orthogonality, and its eigenvalues against gonum's Dsyev:
//
//	max|A V - V Λ| <= 4 n ε ‖A‖₂,  max|Vᵀ V - I| <= 4 n ε,
//	max|λ - λ_gonum| <= 4 n ε ‖A‖₂,
//
// the normwise-backward-stable bounds of a Householder + QL solver (the
// largest observed |AV - VΛ| on these matrices is 8× below its bound).
func TestSymEigen(t *testing.T) {
	const eps = 0x1p-52
	for name, a := range symTestMatrices() {
		t.Run(name, func(t *testing.T) {
			n := a.SymmetricDim()
			s := New(n)
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					// The lower triangle is garbage: it must be ignored.
					s.A[i*n+j] = math.NaN()
					if j >= i {
						s.A[i*n+j] = a.At(i, j)
					}
				}
			}
			if !s.Decompose() {
				t.Fatal("decompose failed")
			}
			anrm := mat.Norm(a, 2)
			tol := 4 * float64(n) * eps
			vt := mat.NewDense(n, n, s.VT)
			var av mat.Dense
			av.Mul(a, vt.T())
			var res float64
			for i := 0; i < n; i++ {
				for k := 0; k < n; k++ {
					res = math.Max(res, math.Abs(av.At(i, k)-vt.At(k, i)*s.D[k]))
				}
			}
			if res > tol*anrm {
				t.Errorf("max|AV - VΛ| = %g > %g", res, tol*anrm)
			}
			var vtv mat.Dense
			vtv.Mul(vt, vt.T())
			var d float64
			for i := range n {
				for j := range n {
					want := 0.0
					if i == j {
						want = 1
					}
					d = math.Max(d, math.Abs(vtv.At(i, j)-want))
				}
			}
			if d > tol {
				t.Errorf("max|VᵀV - I| = %g > %g", d, tol)
			}
			var ref mat.EigenSym
			if !ref.Factorize(a, true) {
				t.Fatal("gonum failed")
			}
			want := ref.Values(nil)
			got := slices.Clone(s.D)
			slices.Sort(got)
			if d := floats.Distance(got, want, math.Inf(1)); d > tol*anrm {
				t.Errorf("eigenvalues differ from gonum by %g > %g", d, tol*anrm)
			}
		})
	}
}

func TestSymEigenRejectsNonFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		s := New(3)
		copy(s.A, []float64{1, 2, 3, 0, 4, v, 0, 0, 6})
		if s.Decompose() {
			t.Errorf("decompose accepted an entry %v", v)
		}
	}
}

// BenchmarkSymEigen compares Eigen with gonum's Dsyev on I + SSᵀ:
// go test -run '^$' -bench SymEigen ./enkf
func BenchmarkSymEigen(b *testing.B) {
	for _, n := range []int{8, 24, 64, 128, 256} {
		rng := rand.New(rand.NewPCG(3, uint64(n)))
		s := mat.NewDense(n, 2*n, nil)
		for i := range s.RawMatrix().Data {
			s.RawMatrix().Data[i] = rng.NormFloat64()
		}
		a := mat.NewSymDense(n, nil)
		a.SymOuterK(1, s)
		b.Run(fmt.Sprintf("own-%d", n), func(b *testing.B) {
			se := New(n)
			for b.Loop() {
				copy(se.A, a.RawSymmetric().Data)
				if !se.Decompose() {
					b.Fatal("failed")
				}
			}
		})
		b.Run(fmt.Sprintf("gonum-%d", n), func(b *testing.B) {
			var es mat.EigenSym
			for b.Loop() {
				if !es.Factorize(a, true) {
					b.Fatal("failed")
				}
			}
		})
	}
}
