//go:build !purego

package vec

import "golang.org/x/sys/cpu"

var useAVX2 = cpu.X86.HasAVX2

// The vector kernels (vec_amd64.s) take slices whose length is a multiple
// of 4, and the callers below do the rest in Go, except rotAVX2,
// gemvTAVX2, gerAVX2 and syr2AVX2, which finish their rows themselves.

//go:noescape
func rotAVX2(x, y []float64, c, s float64)

//go:noescape
func axpyAVX2(a float64, x, y []float64)

//go:noescape
func allWithinAVX2(x []float64, limit float64) bool

func rot(x, y []float64, c, s float64) {
	if useAVX2 {
		rotAVX2(x, y, c, s)
		return
	}
	rotGo(x, y, c, s)
}

func axpy(a float64, x, y []float64) {
	k := 0
	if useAVX2 {
		k = len(x) &^ 3
		axpyAVX2(a, x[:k], y[:k])
	}
	axpyGo(a, x[k:], y[k:])
}

func allWithin(x []float64, limit float64) bool {
	k := 0
	if useAVX2 {
		k = len(x) &^ 3
		if !allWithinAVX2(x[:k], limit) {
			return false
		}
	}
	return allWithinGo(x[k:], limit)
}

//go:noescape
func gemvTAVX2(dst, w, a []float64, stride int)

//go:noescape
func dotLanesAVX2(lanes, x, a []float64, stride int)

func gemvT(dst, w, a []float64, stride int) {
	if useAVX2 {
		gemvTAVX2(dst, w, a, stride)
		return
	}
	gemvTGo(dst, w, a, stride)
}

func dotLanes(lanes, x, a []float64, stride int) {
	if useAVX2 {
		dotLanesAVX2(lanes, x, a, stride)
		return
	}
	dotLanesGo(lanes, x, a, stride)
}

//go:noescape
func gerAVX2(a []float64, stride int, alpha float64, x, y []float64)

func ger(a []float64, stride int, alpha float64, x, y []float64) {
	if useAVX2 {
		gerAVX2(a, stride, alpha, x, y)
		return
	}
	gerGo(a, stride, alpha, x, y)
}

//go:noescape
func syr2AVX2(a []float64, stride int, x, y []float64)

func syr2(a []float64, stride int, x, y []float64) {
	if useAVX2 {
		syr2AVX2(a, stride, x, y)
		return
	}
	syr2Go(a, stride, x, y)
}

//go:noescape
func gemm4x8AVX2(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int)

// gemmTiles does the whole 4 × 8 tiles of C in assembly and returns how
// many rows and columns they cover.
func gemmTiles(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) (m4, n8 int) {
	m4, n8 = m&^3, n&^7
	if !useAVX2 || m4 == 0 || n8 == 0 {
		return 0, 0
	}
	gemm4x8AVX2(m4, n8, k, a, lda, b, ldb, c, ldc)
	return m4, n8
}
