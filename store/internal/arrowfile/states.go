package arrowfile

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// DenseValues returns the values of the matrix raw, row after row, as a
// buffer: raw's own backing array when its rows are contiguous (stride n),
// else a copy allocated from mem.
func DenseValues(mem memory.Allocator, raw blas64.General) *memory.Buffer {
	N, n := raw.Rows, raw.Cols
	if raw.Stride == n {
		return memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(raw.Data[:N*n]))
	}
	values := NewBuffer(mem, N*n*arrow.Float64SizeBytes)
	dst := arrow.Float64Traits.CastFromBytes(values.Bytes())
	for i := range N {
		copy(dst[i*n:(i+1)*n], raw.Data[i*raw.Stride:i*raw.Stride+n])
	}
	return values
}

// ReadStates copies the "state" column of t into a new rows×n matrix,
// checking that the int32 column named index (unless index is "") numbers
// the rows 0, 1, 2, ...
func ReadStates(t *Table, index string) (*mat.Dense, error) {
	n, err := ParseSize(t.Data, KeyStateSize)
	if err != nil {
		return nil, err
	}
	N := t.NumRows()
	if N == 0 {
		return nil, Invalidf("no rows")
	}
	// The data of N rows was in the file, so N*n float64s fit in memory.
	data := make([]float64, int(N)*n)
	row := 0
	for _, rec := range t.Recs {
		state, err := ColumnAs[*array.FixedSizeList](t, rec, "state")
		if err != nil {
			return nil, err
		}
		vals, ok := state.ListValues().(*array.Float64)
		if !ok {
			return nil, Invalidf("column \"state\": unexpected values type %T", state.ListValues())
		}
		var number *array.Int32
		if index != "" {
			if number, err = ColumnAs[*array.Int32](t, rec, index); err != nil {
				return nil, err
			}
		}
		raw := vals.Float64Values()
		for i := range int(rec.NumRows()) {
			if number != nil && number.Value(i) != int32(row) {
				return nil, Invalidf("column %q: row %d holds %s %d, want %d (%ss are stored in order 0..N-1)", index, row, index, number.Value(i), row, index)
			}
			start, end := state.ValueOffsets(i)
			if start < 0 || end-start != int64(n) || end > int64(len(raw)) {
				return nil, Invalidf("column \"state\": row %d: values [%d, %d) out of range", row, start, end)
			}
			copy(data[row*n:(row+1)*n], raw[start:end])
			row++
		}
	}
	return mat.NewDense(int(N), n, data), nil
}

// Finite reports whether x is neither NaN nor infinite.
func Finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
