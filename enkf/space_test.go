package enkf

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas/blas64"
)

// TestGramBlocksKeepBits: gram's product over blocks of columns of S has
// the bits of one product over all of them (the global S of a large LETKF
// has many blocks), for widths around the block size.
func TestGramBlocksKeepBits(t *testing.T) {
	const n = 13
	rng := rand.New(rand.NewPCG(6, 6))
	for _, p := range []int{1, gramBlock - 1, gramBlock, gramBlock + 1, 3*gramBlock + 17} {
		s := make([]float64, n*p)
		for i := range s {
			s[i] = rng.NormFloat64()
		}
		st := make([]float64, p*n)
		for i := 0; i < n; i++ {
			for k := 0; k < p; k++ {
				st[k*n+i] = s[i*p+k]
			}
		}
		want := make([]float64, n*n)
		vec.Gemm(n, n, p, s, p, st, n, want, n)
		for i := 0; i < n; i++ {
			want[i*n+i]++
		}
		got := make([]float64, n*n)
		newSpace(n).gram(got, blas64.General{Rows: n, Cols: p, Stride: p, Data: s})
		for k := range got {
			if math.Float64bits(got[k]) != math.Float64bits(want[k]) {
				t.Fatalf("p = %d: entry %d is %v, one product gives %v", p, k, got[k], want[k])
			}
		}
	}
}
