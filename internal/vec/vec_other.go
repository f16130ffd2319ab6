//go:build !amd64 || purego

package vec

const useAVX2 = false

func rot(x, y []float64, c, s float64)           { rotGo(x, y, c, s) }
func axpy(a float64, x, y []float64)             { axpyGo(a, x, y) }
func allWithin(x []float64, limit float64) bool  { return allWithinGo(x, limit) }
func gemvT(dst, w, a []float64, stride int)      { gemvTGo(dst, w, a, stride) }
func dotLanes(lanes, x, a []float64, stride int) { dotLanesGo(lanes, x, a, stride) }

func ger(a []float64, stride int, alpha float64, x, y []float64) { gerGo(a, stride, alpha, x, y) }

func syr2(a []float64, stride int, x, y []float64) { syr2Go(a, stride, x, y) }

func gemmTiles(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) (m4, n8 int) {
	return 0, 0
}
