package vec

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// special values every kernel must treat as the Go code does.
var special = []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(),
	math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 0x1p-1022, 3.5, -2.25}

func randomSlice(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		if rng.IntN(8) == 0 {
			x[i] = special[rng.IntN(len(special))]
		} else {
			x[i] = rng.NormFloat64() * math.Ldexp(1, rng.IntN(40)-20)
		}
	}
	return x
}

// sameBits compares bit for bit, but any NaN equals any NaN: which operand's
// payload an x86 instruction passes on is not something Go specifies.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool {
		return math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y)
	})
}

// TestKernelsMatchGo checks the dispatched kernels (assembly where the
// machine has it) against the plain Go loops bit for bit, for every length
// up to 67 (all tails) and values that include zeros of both signs,
// infinities, NaN and denormals.
func TestKernelsMatchGo(t *testing.T) {
	if !useAVX2 {
		t.Log("no AVX2 here: the dispatched kernels are the Go loops")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 68; n++ {
		for trial := 0; trial < 20; trial++ {
			x, y := randomSlice(rng, n), randomSlice(rng, n)
			c, s := rng.NormFloat64(), rng.NormFloat64()
			if trial == 0 {
				c, s = math.Inf(1), 0
			}
			checkRot(t, x, y, c, s)
			checkAxpy(t, c, x, y)
			checkWithin(t, x, math.Abs(s)*1e3)
		}
	}
}

// TestMatrixKernels checks GemvT against len(w) calls of Axpy and against
// blas64.Gemv, Ger against blas64.Ger and DotRows against blas64.Dot, bit
// for bit, for every shape up to 19 × 37 and
// strides with padding (so that rows do not start on 4-element boundaries).
func TestMatrixKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for rows := 0; rows < 20; rows++ {
		for cols := 0; cols < 38; cols++ {
			for _, pad := range []int{0, 3} {
				stride := cols + pad
				a := randomSlice(rng, max(rows*stride, 1))
				w, x := randomSlice(rng, rows), randomSlice(rng, cols)
				dst := randomSlice(rng, cols)

				got, want := slices.Clone(dst), slices.Clone(dst)
				GemvT(got, w, a, stride)
				for l := range w {
					axpyGo(w[l], a[l*stride:l*stride+cols], want)
				}
				if !sameBits(got, want) {
					t.Fatalf("GemvT %d×%d stride %d: %v, Axpy calls give %v", rows, cols, stride, got, want)
				}
				gotGo := slices.Clone(dst)
				gemvTGo(gotGo, w, a, stride)
				if !sameBits(gotGo, want) {
					t.Fatalf("gemvTGo %d×%d stride %d: %v, Axpy calls give %v", rows, cols, stride, gotGo, want)
				}

				// The contracts with gonum: GemvT is blas64.Gemv(Trans) with
				// α = 1, β = 0, and Ger is blas64.Ger.
				if rows > 0 && cols > 0 {
					A := blas64.General{Rows: rows, Cols: cols, Stride: stride, Data: a}
					z, zg := make([]float64, cols), make([]float64, cols)
					GemvT(z, w, a, stride)
					blas64.Gemv(blas.Trans, 1, A, blas64.Vector{N: rows, Inc: 1, Data: w}, 0, blas64.Vector{N: cols, Inc: 1, Data: zg})
					if !sameBits(z, zg) {
						t.Fatalf("GemvT %d×%d stride %d: %v, blas64.Gemv gives %v", rows, cols, stride, z, zg)
					}
					alpha := rng.NormFloat64()
					a1, a2 := slices.Clone(a), slices.Clone(a)
					Ger(a1, stride, alpha, w, x)
					blas64.Ger(alpha, blas64.Vector{N: rows, Inc: 1, Data: w}, blas64.Vector{N: cols, Inc: 1, Data: x},
						blas64.General{Rows: rows, Cols: cols, Stride: stride, Data: a2})
					if !sameBits(a1, a2) {
						t.Fatalf("Ger %d×%d stride %d differs from blas64.Ger", rows, cols, stride)
					}
					a3 := slices.Clone(a)
					gerGo(a3, stride, alpha, w, x)
					if !sameBits(a3, a2) {
						t.Fatalf("gerGo %d×%d stride %d differs from blas64.Ger", rows, cols, stride)
					}
				}

				if rows <= cols { // Syr2 on the leading rows × rows block
					x1, y1 := w, randomSlice(rng, rows)
					a1, a2 := slices.Clone(a), slices.Clone(a)
					Syr2(a1, stride, x1, y1)
					syr2Go(a2, stride, x1, y1)
					if !sameBits(a1, a2) {
						t.Fatalf("Syr2 %d×%d stride %d differs from the Go loop", rows, rows, stride)
					}
				}

				dots := make([]float64, rows)
				DotRows(dots, x, a, stride)
				for r := range dots {
					row := a[r*stride : r*stride+cols]
					want := blas64.Dot(blas64.Vector{N: cols, Inc: 1, Data: x}, blas64.Vector{N: cols, Inc: 1, Data: row})
					if !sameBits(dots[r:r+1], []float64{want}) {
						t.Fatalf("DotRows %d×%d stride %d row %d: %v, blas64.Dot gives %v", rows, cols, stride, r, dots[r], want)
					}
				}
				lanes, lanesGo := make([]float64, 4*rows), make([]float64, 4*rows)
				dotLanes(lanes, x[:cols&^3], a, stride)
				dotLanesGo(lanesGo, x[:cols&^3], a, stride)
				if !sameBits(lanes, lanesGo) {
					t.Fatalf("dotLanes %d×%d stride %d: %v, Go gives %v", rows, cols, stride, lanes, lanesGo)
				}
			}
		}
	}
}

// TestGemm checks Gemm against the plain triple loop in l order, bit for
// bit, for all shapes up to 13 × 19 × 6 and padded strides.
func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for m := 0; m < 14; m++ {
		for n := 0; n < 20; n++ {
			for k := 0; k < 7; k++ {
				lda, ldb, ldc := k+1, n+3, n+2
				a := randomSlice(rng, max(m*lda, 1))
				b := randomSlice(rng, max(k*ldb, 1))
				c := randomSlice(rng, max(m*ldc, 1))
				want := slices.Clone(c)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						for l := 0; l < k; l++ {
							want[i*ldc+j] += float64(a[i*lda+l] * b[l*ldb+j])
						}
					}
				}
				Gemm(m, n, k, a, lda, b, ldb, c, ldc)
				if !sameBits(c, want) {
					t.Fatalf("Gemm %d×%d×%d differs from the triple loop", m, n, k)
				}
			}
		}
	}
}

func checkRot(t *testing.T, x, y []float64, c, s float64) {
	t.Helper()
	x1, y1 := slices.Clone(x), slices.Clone(y)
	x2, y2 := slices.Clone(x), slices.Clone(y)
	Rot(x1, y1, c, s)
	rotGo(x2, y2, c, s)
	if !sameBits(x1, x2) || !sameBits(y1, y2) {
		t.Fatalf("Rot(n=%d, c=%v, s=%v) differs from the Go loop:\n%v %v\n%v %v", len(x), c, s, x1, y1, x2, y2)
	}
}

func checkAxpy(t *testing.T, a float64, x, y []float64) {
	t.Helper()
	y1, y2 := slices.Clone(y), slices.Clone(y)
	Axpy(a, x, y1)
	axpyGo(a, x, y2)
	if !sameBits(y1, y2) {
		t.Fatalf("Axpy(n=%d, a=%v) differs from the Go loop:\n%v\n%v", len(x), a, y1, y2)
	}
}

func checkWithin(t *testing.T, x []float64, limit float64) {
	t.Helper()
	if got, want := AllWithin(x, limit), allWithinGo(x, limit); got != want {
		t.Fatalf("AllWithin(%v, %v) = %v, Go loop says %v", x, limit, got, want)
	}
}

func TestKernelValues(t *testing.T) {
	x, y := []float64{1, 2, 3, 4, 5}, []float64{0, 1, 0, -1, 2}
	Rot(x, y, 0, 1) // a quarter turn: (x, y) ← (−y, x)
	if !slices.Equal(x, []float64{0, -1, 0, 1, -2}) || !slices.Equal(y, []float64{1, 2, 3, 4, 5}) {
		t.Errorf("quarter turn gave %v %v", x, y)
	}
	Axpy(2, []float64{1, 2, 3, 4, 5}, y)
	if !slices.Equal(y, []float64{3, 6, 9, 12, 15}) {
		t.Errorf("Axpy gave %v", y)
	}
	nan := math.NaN()
	for _, tc := range []struct {
		x     []float64
		limit float64
		want  bool
	}{
		{nil, 0, true},
		{[]float64{1, -1, 0.5, -0.5, 1}, 1, true},
		{[]float64{1, -1, 0.5, -0.5, math.Nextafter(1, 2)}, 1, false},
		{[]float64{1, -1, 0.5, math.Nextafter(-1, -2), 0}, 1, false},
		{[]float64{0, 0, 0, 0, 0, 0, 0, nan}, 1, false},
		{[]float64{nan, 0, 0, 0}, math.Inf(1), false},
		{[]float64{math.Inf(-1), 0, 0, 0}, math.Inf(1), true},
		{[]float64{math.Inf(-1), 0, 0, 0}, math.MaxFloat64, false},
		{[]float64{math.Copysign(0, -1), 0, 0, 0}, 0, true},
	} {
		if got := AllWithin(tc.x, tc.limit); got != tc.want {
			t.Errorf("AllWithin(%v, %v) = %v, want %v", tc.x, tc.limit, got, tc.want)
		}
	}
}

// TestSyr2KeepsSymmetry: a symmetric matrix stays exactly symmetric, which
// the tridiagonalisation relies on (it reads columns as rows).
func TestSyr2KeepsSymmetry(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{1, 3, 4, 7, 8, 13, 24} {
		a := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				v := rng.NormFloat64()
				a[i*n+j], a[j*n+i] = v, v
			}
		}
		x, y := make([]float64, n), make([]float64, n)
		for i := range x {
			x[i], y[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		Syr2(a, n, x, y)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if a[i*n+j] != a[j*n+i] {
					t.Fatalf("n=%d: A[%d][%d] = %v, A[%d][%d] = %v", n, i, j, a[i*n+j], j, i, a[j*n+i])
				}
			}
		}
	}
}

func TestLengthMismatchPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Rot":     func() { Rot(make([]float64, 4), make([]float64, 5), 1, 0) },
		"Axpy":    func() { Axpy(1, make([]float64, 4), make([]float64, 3)) },
		"GemvT":   func() { GemvT(make([]float64, 4), make([]float64, 2), make([]float64, 7), 4) },
		"stride":  func() { GemvT(make([]float64, 4), make([]float64, 2), make([]float64, 8), 3) },
		"Ger":     func() { Ger(make([]float64, 7), 4, 1, make([]float64, 2), make([]float64, 4)) },
		"Syr2":    func() { Syr2(make([]float64, 15), 4, make([]float64, 4), make([]float64, 4)) },
		"Syr2xy":  func() { Syr2(make([]float64, 16), 4, make([]float64, 4), make([]float64, 3)) },
		"Gemm":    func() { Gemm(2, 2, 2, make([]float64, 3), 2, make([]float64, 4), 2, make([]float64, 4), 2) },
		"Gemm -1": func() { Gemm(-1, 2, 0, nil, 0, nil, 2, nil, 2) },
		"Gemm ld": func() { Gemm(2, 3, 2, make([]float64, 4), 2, make([]float64, 6), 3, make([]float64, 6), 2) },
		"DotRows": func() { DotRows(make([]float64, 3), make([]float64, 4), make([]float64, 11), 4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with slices of different lengths did not panic", name)
				}
			}()
			f()
		}()
	}
}

// FuzzKernels feeds arbitrary bit patterns to the kernels and compares them
// with the Go loops.
func FuzzKernels(f *testing.F) {
	f.Add([]byte{}, 1.0, 0.0)
	f.Add(make([]byte, 8*9), 0.6, -0.8)
	f.Fuzz(func(t *testing.T, data []byte, c, s float64) {
		v := make([]float64, len(data)/8)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
		}
		h := len(v) / 2
		x, y := v[:h], v[h:2*h]
		checkRot(t, x, y, c, s)
		checkAxpy(t, c, x, y)
		checkWithin(t, v, math.Abs(s))
	})
}

func BenchmarkRot24(b *testing.B) {
	x, y := make([]float64, 24), make([]float64, 24)
	for i := range x {
		x[i], y[i] = float64(i), float64(-i)
	}
	b.Run("dispatch", func(b *testing.B) {
		for b.Loop() {
			Rot(x, y, 0.6, 0.8)
		}
	})
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			rotGo(x, y, 0.6, 0.8)
		}
	})
}

func TestFirstNonFinite(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want int
	}{
		{nil, -1},
		{[]float64{0, math.Copysign(0, -1), -1e308, 1e308, math.SmallestNonzeroFloat64}, -1},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, math.NaN()}, 8}, // in the tail after the groups of four
		{[]float64{1, math.Inf(-1), 3, math.NaN()}, 1},
		{[]float64{math.MaxFloat64, math.MaxFloat64, math.MaxFloat64, math.MaxFloat64, math.MaxFloat64}, -1}, // no overflow: x·0
		{[]float64{1, 2, 3, 4, 5, math.Inf(1)}, 5},
	} {
		if got := FirstNonFinite(tc.v); got != tc.want {
			t.Errorf("FirstNonFinite(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// TestReflector: H = I − τuuᵀ maps x to (β, 0, …, 0) with |β| = ‖x‖, and a
// vector already on the first axis gives H = I and is left as it is.
func TestReflector(t *testing.T) {
	x := []float64{3, -1, 2, 0.5}
	orig := slices.Clone(x)
	tau, beta := Reflector(x)
	if x[0] != 1 || math.Abs(math.Abs(beta)-math.Sqrt(Dot(orig, orig))) > 1e-14 {
		t.Fatalf("u %v, β %v", x, beta)
	}
	c := tau * Dot(x, orig) // Hx = x − τ(uᵀx)u
	for k, v := range orig {
		want := 0.0
		if k == 0 {
			want = beta
		}
		if got := v - c*x[k]; math.Abs(got-want) > 1e-14 {
			t.Errorf("(Hx)[%d] = %v, want %v", k, got, want)
		}
	}
	y := []float64{-2, 0, 0}
	if tau, beta := Reflector(y); tau != 0 || beta != -2 || !slices.Equal(y, []float64{-2, 0, 0}) {
		t.Errorf("on the axis: τ %v, β %v, x %v", tau, beta, y)
	}
}
