//go:build !purego

package vec

import "golang.org/x/sys/cpu"

var useAVX2 = cpu.X86.HasAVX2

// The vector kernels (vec_amd64.s) take slices whose length is a multiple
// of 4, and the callers below do the rest in Go, except gemvTAVX2 and
// gerAVX2, which finish their rows themselves.

//go:noescape
func rotAVX2(x, y []float64, c, s float64)

//go:noescape
func axpyAVX2(a float64, x, y []float64)

//go:noescape
func allWithinAVX2(x []float64, limit float64) bool

func rot(x, y []float64, c, s float64) {
	k := 0
	if useAVX2 {
		k = len(x) &^ 3
		rotAVX2(x[:k], y[:k], c, s)
	}
	rotGo(x[k:], y[k:], c, s)
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
