// Package check holds the argument checks shared by the generators of
// package latent and its subpackages. Each message starts with the caller's
// where (package and function, "latent: Decode"), so that a panic or an
// error names the package the caller used.
package check

import (
	"fmt"
	"math"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Len panics unless len(v) == want.
func Len(where, name string, v []float64, want int) {
	if len(v) != want {
		panic(fmt.Sprintf("%s: len(%s) = %d, want %d", where, name, len(v), want))
	}
}

// JacobianDst resizes an empty J to n × d or checks its shape, and returns
// its raw storage.
func JacobianDst(where string, J *mat.Dense, n, d int) blas64.General {
	if J.IsEmpty() {
		J.ReuseAs(n, d)
	} else if r, c := J.Dims(); r != n || c != d {
		panic(fmt.Sprintf("%s: J is %d×%d, want %d×%d", where, r, c, n, d))
	}
	return J.RawMatrix()
}

// Data validates a data matrix of samples by row: it must be non-empty with
// finite entries.
func Data(where string, X *mat.Dense) (m, n int, err error) {
	if X == nil || X.IsEmpty() {
		return 0, 0, fmt.Errorf("%s: no data", where)
	}
	m, n = X.Dims()
	raw := X.RawMatrix()
	for i := 0; i < m; i++ {
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+n] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, 0, fmt.Errorf("%s: non-finite value %v at row %d, column %d", where, v, i, j)
			}
		}
	}
	return m, n, nil
}

// Finite reports whether every entry of v is finite.
func Finite(v []float64) bool { return vec.FirstNonFinite(v) < 0 }
