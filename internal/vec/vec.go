package vec

import (
	"math"
	"slices"
)

// Rot applies the plane rotation (x, y) ← (c·x − s·y, s·x + c·y) to the
// pairs (x[k], y[k]). x and y must have the same length.
func Rot(x, y []float64, c, s float64) {
	if len(x) != len(y) {
		panic("vec: Rot of slices of different lengths")
	}
	rot(x, y, c, s)
}

// Axpy sets y ← y + a·x. x and y must have the same length.
func Axpy(a float64, x, y []float64) {
	if len(x) != len(y) {
		panic("vec: Axpy of slices of different lengths")
	}
	axpy(a, x, y)
}

// AllWithin reports whether |x[k]| <= limit for every k; a NaN is never
// within.
func AllWithin(x []float64, limit float64) bool {
	return allWithin(x, limit)
}

// GemvT sets dst ← dst + Aᵀw for the len(w) × len(dst) matrix A stored by
// rows, row l at a[l·stride:]: each dst[j] gets w[l]·A[l][j] added for
// l = 0, 1, … in turn, which is the order of len(w) calls of Axpy and gives
// their bits.
func GemvT(dst, w, a []float64, stride int) {
	if len(w) == 0 || len(dst) == 0 {
		return
	}
	if stride < len(dst) || len(a) < (len(w)-1)*stride+len(dst) {
		panic("vec: GemvT matrix too short for its rows and stride")
	}
	gemvT(dst, w, a, stride)
}

// Gemm sets C ← C + A·B for the m × k matrix A, the k × n matrix B and the
// m × n matrix C, stored by rows with strides lda, ldb and ldc. Each C[i][j]
// gets A[i][l]·B[l][j] added for l = 0, 1, … in turn, as GemvT adds them,
// so the bits do not depend on how the product is tiled: 4 × 8 tiles in
// assembly, the edges by GemvT.
func Gemm(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("vec: Gemm of a negative dimension")
	}
	if m == 0 || n == 0 || k == 0 {
		return
	}
	if lda < k || ldb < n || ldc < n ||
		len(a) < (m-1)*lda+k || len(b) < (k-1)*ldb+n || len(c) < (m-1)*ldc+n {
		panic("vec: Gemm matrices too short for their shapes and strides")
	}
	m4, n8 := gemmTiles(m, n, k, a, lda, b, ldb, c, ldc)
	for i := 0; i < m; i++ {
		lo := 0
		if i < m4 {
			lo = n8
		}
		if lo < n {
			gemvT(c[i*ldc+lo:i*ldc+n], a[i*lda:i*lda+k], b[lo:], ldb)
		}
	}
}

// Ger sets A ← A + α x yᵀ for the len(x) × len(y) matrix A stored by rows,
// row r at a[r·stride:]: row r gets Axpy(α·x[r], y, ·), as blas64.Ger does
// it, bit for bit.
func Ger(a []float64, stride int, alpha float64, x, y []float64) {
	if len(x) == 0 || len(y) == 0 {
		return
	}
	if stride < len(y) || len(a) < (len(x)-1)*stride+len(y) {
		panic("vec: Ger matrix too short for its rows and stride")
	}
	ger(a, stride, alpha, x, y)
}

// Syr2 sets A ← A − x yᵀ − y xᵀ for the n × n matrix A stored by rows, row
// r at a[r·stride:], n = len(x) = len(y): the symmetric rank-two update of a
// Householder tridiagonalisation. Entry (r, c) loses x[r]·y[c] + y[r]·x[c],
// the same two products as (c, r) in the other order, so a symmetric A
// stays exactly symmetric.
func Syr2(a []float64, stride int, x, y []float64) {
	if len(x) != len(y) {
		panic("vec: Syr2 of vectors of different lengths")
	}
	if len(x) == 0 {
		return
	}
	if stride < len(x) || len(a) < (len(x)-1)*stride+len(x) {
		panic("vec: Syr2 matrix too short for its rows and stride")
	}
	syr2(a, stride, x, y)
}

// Reflector turns x into the Householder reflector that maps it to
// (β, 0, …, 0), with LAPACK's conventions (dlarfg): H = I − τuuᵀ with
// u = (1, x[1:]/(x[0] − β)) and β = −sign(x[0])‖x‖. On return x holds u.
// If x[1:] is zero, H = I: τ = 0, β = x[0], and x is left as it is.
func Reflector(x []float64) (tau, beta float64) {
	alpha := x[0]
	xn2 := Dot(x[1:], x[1:])
	if xn2 == 0 {
		return 0, alpha
	}
	beta = -math.Copysign(math.Sqrt(alpha*alpha+xn2), alpha)
	inv := 1 / (alpha - beta)
	x[0] = 1
	for k := 1; k < len(x); k++ {
		x[k] *= inv
	}
	return (beta - alpha) / beta, beta
}

// Dot returns x·y, summed as DotRows sums. len(y) must be at least len(x).
func Dot(x, y []float64) float64 {
	var d [1]float64
	DotRows(d[:], x, y, len(x))
	return d[0]
}

// DotRows sets dst[r] ← x·A[r] for the len(dst) rows of A, row r at
// a[r·stride:] and len(x) long. Each sum runs in four parts over x[4t+q],
// the tail added to the first, then (s₀+s₂)+(s₁+s₃): the order of gonum's
// blas64.Dot on amd64, whose bits it gives.
func DotRows(dst, x, a []float64, stride int) {
	if len(dst) == 0 {
		return
	}
	if stride < len(x) || len(a) < (len(dst)-1)*stride+len(x) {
		panic("vec: DotRows matrix too short for its rows and stride")
	}
	k4 := len(x) &^ 3
	var lanes [4 * 16]float64
	for r0 := 0; r0 < len(dst); r0 += 16 {
		rows := min(16, len(dst)-r0)
		ar := a[r0*stride:]
		dotLanes(lanes[:4*rows], x[:k4], ar, stride)
		for r := 0; r < rows; r++ {
			l := lanes[4*r : 4*r+4]
			row := ar[r*stride : r*stride+len(x)]
			s0 := l[0]
			for t := k4; t < len(x); t++ {
				s0 += float64(x[t] * row[t])
			}
			dst[r0+r] = (s0 + l[2]) + (l[1] + l[3])
		}
	}
}

func rotGo(x, y []float64, c, s float64) {
	y = y[:len(x)]
	for k, xk := range x {
		yk := y[k]
		x[k] = float64(c*xk) - float64(s*yk)
		y[k] = float64(s*xk) + float64(c*yk)
	}
}

func axpyGo(a float64, x, y []float64) {
	y = y[:len(x)]
	for k, xk := range x {
		y[k] += float64(a * xk)
	}
}

func allWithinGo(x []float64, limit float64) bool {
	for _, v := range x {
		if !(v <= limit && v >= -limit) {
			return false
		}
	}
	return true
}

func gemvTGo(dst, w, a []float64, stride int) {
	for l, wl := range w {
		row := a[l*stride : l*stride+len(dst)]
		for j, v := range row {
			dst[j] += float64(wl * v)
		}
	}
}

func gerGo(a []float64, stride int, alpha float64, x, y []float64) {
	for r, xr := range x {
		axpyGo(alpha*xr, y, a[r*stride:r*stride+len(y)])
	}
}

func syr2Go(a []float64, stride int, x, y []float64) {
	for r := range x {
		row := a[r*stride : r*stride+len(x)]
		xr, yr := x[r], y[r]
		for c := range row {
			row[c] -= float64(xr*y[c]) + float64(yr*x[c])
		}
	}
}

func dotLanesGo(lanes, x, a []float64, stride int) {
	for r := 0; r < len(lanes)/4; r++ {
		row := a[r*stride : r*stride+len(x)]
		var l [4]float64
		for t := 0; t < len(x); t += 4 {
			for q := range l {
				l[q] += float64(x[t+q] * row[t+q])
			}
		}
		copy(lanes[4*r:], l[:])
	}
}

// FirstNonFinite returns the index of the first NaN or ±Inf in v, or -1:
// one vectorised pass (AllWithin the largest float64), then a search only
// on failure.
func FirstNonFinite(v []float64) int {
	if allWithin(v, math.MaxFloat64) {
		return -1
	}
	return slices.IndexFunc(v, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
}

// MeanRows sets dst to the mean of the rows of the rows × len(dst) matrix
// stored row-major in data with the given stride: the rows summed in
// order with Axpy, then scaled by 1/rows.
func MeanRows(dst, data []float64, rows, stride int) {
	clear(dst)
	for i := 0; i < rows; i++ {
		Axpy(1, data[i*stride:i*stride+len(dst)], dst) // 1·v = v exactly
	}
	inv := 1 / float64(rows)
	for j := range dst {
		dst[j] *= inv
	}
}
