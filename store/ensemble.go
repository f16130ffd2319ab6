package store

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// vectorKinds are the kinds WriteVector and ReadVector accept.
var vectorKinds = []Kind{KindTruth, KindEstimate}

// WriteEnsemble writes the ensemble E (N×n: N members, one per row, of state
// dimension n) to path, atomically: one row per member with columns
// "member" (int32, 0..N-1) and "state" (fixed_size_list<float64>[n]), and
// meta (Kind "ensemble", or empty) plus "latentda.state_size" = n in the
// schema metadata.
//
// When E's rows are contiguous (stride n, as for any matrix from
// mat.NewDense) the file is written straight from E's backing array without
// copying it; E must not change during the call.
func WriteEnsemble(path string, E *mat.Dense, meta Meta, opts ...Option) error {
	o := buildOptions(opts)
	if E == nil || E.IsEmpty() {
		return writeErr(path, errors.New("empty ensemble"))
	}
	raw := E.RawMatrix()
	N, n := raw.Rows, raw.Cols
	if N > math.MaxInt32 || n > math.MaxInt32 {
		return writeErr(path, fmt.Errorf("ensemble %d×%d is too large", N, n))
	}
	md, err := encodeMeta(meta, KindEnsemble, map[string]string{keyStateSize: strconv.Itoa(n)})
	if err != nil {
		return writeErr(path, err)
	}
	cols := []arrow.Array{
		int32Column(o.mem, N, func(i int) int32 { return int32(i) }),
		stateColumn(N, n, denseValues(o.mem, raw)),
	}
	defer releaseAll(cols)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "member", Type: arrow.PrimitiveTypes.Int32},
		{Name: "state", Type: stateType(n)},
	}, &md)
	return writeFile(path, o, schema, cols, N)
}

// ReadEnsemble reads an ensemble file written by WriteEnsemble into a new
// N×n matrix, one member per row. It checks the kind, the schema version,
// the columns and their types (the list size must equal
// latentda.state_size), that members are numbered 0..N-1 in order, and that
// there is at least one member and no null.
func ReadEnsemble(path string, opts ...Option) (*mat.Dense, Meta, error) {
	return readMappedPath(path, opts, readEnsemble)
}

func readEnsemble(r ipc.ReadAtSeeker, size int64, o options) (*mat.Dense, Meta, error) {
	t, err := readTable(r, size, o, stateSpec([]Kind{KindEnsemble}, true))
	if err != nil {
		return nil, Meta{}, err
	}
	defer t.Release()
	E, err := readStates(t, "member")
	if err != nil {
		return nil, Meta{}, err
	}
	return E, t.meta, nil
}

// WriteVector writes one state vector x (for example the true state of a
// twin experiment) to path, atomically: a single row with the column
// "state" (fixed_size_list<float64>[len(x)]). meta.Kind must be "truth" or
// empty (meaning "truth").
func WriteVector(path string, x []float64, meta Meta, opts ...Option) error {
	o := buildOptions(opts)
	if meta.Kind == "" {
		meta.Kind = KindTruth
	}
	if !slices.Contains(vectorKinds, meta.Kind) {
		return writeErr(path, fmt.Errorf("meta: Kind %q is not a vector kind (want one of %q)", meta.Kind, vectorKinds))
	}
	n := len(x)
	if n == 0 || n > math.MaxInt32 {
		return writeErr(path, fmt.Errorf("vector length %d out of range [1, %d]", n, math.MaxInt32))
	}
	md, err := encodeMeta(meta, meta.Kind, map[string]string{keyStateSize: strconv.Itoa(n)})
	if err != nil {
		return writeErr(path, err)
	}
	values := memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(x))
	cols := []arrow.Array{stateColumn(1, n, values)}
	defer releaseAll(cols)
	schema := arrow.NewSchema([]arrow.Field{{Name: "state", Type: stateType(n)}}, &md)
	return writeFile(path, o, schema, cols, 1)
}

// ReadVector reads a vector file written by WriteVector. It checks the kind,
// the schema version, the column type (list size latentda.state_size) and
// that there is exactly one row.
func ReadVector(path string, opts ...Option) ([]float64, Meta, error) {
	return readMappedPath(path, opts, readVector)
}

func readVector(r ipc.ReadAtSeeker, size int64, o options) ([]float64, Meta, error) {
	t, err := readTable(r, size, o, stateSpec(vectorKinds, false))
	if err != nil {
		return nil, Meta{}, err
	}
	defer t.Release()
	if rows := t.numRows(); rows != 1 {
		return nil, Meta{}, invalidf("vector file has %d rows, want 1", rows)
	}
	X, err := readStates(t, "")
	if err != nil {
		return nil, Meta{}, err
	}
	return X.RawRowView(0), t.meta, nil
}

// stateSpec describes ensemble (withMember) and vector files.
func stateSpec(kinds []Kind, withMember bool) fileSpec {
	return fileSpec{
		kinds:    kinds,
		dataKeys: []string{keyStateSize},
		columns: func(_ int, data map[string]string) ([]column, error) {
			n, err := parseSize(data, keyStateSize)
			if err != nil {
				return nil, err
			}
			cols := []column{{"state", stateType(n)}}
			if withMember {
				cols = append([]column{{"member", arrow.PrimitiveTypes.Int32}}, cols...)
			}
			return cols, nil
		},
	}
}

// denseValues returns the values of the matrix raw, row after row, as a
// buffer: raw's own backing array when its rows are contiguous (stride n),
// else a copy allocated from mem.
func denseValues(mem memory.Allocator, raw blas64.General) *memory.Buffer {
	N, n := raw.Rows, raw.Cols
	if raw.Stride == n {
		return memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(raw.Data[:N*n]))
	}
	values := newBuffer(mem, N*n*arrow.Float64SizeBytes)
	dst := arrow.Float64Traits.CastFromBytes(values.Bytes())
	for i := range N {
		copy(dst[i*n:(i+1)*n], raw.Data[i*raw.Stride:i*raw.Stride+n])
	}
	return values
}

// readStates copies the "state" column of t into a new rows×n matrix,
// checking that the int32 column named index (unless index is "") numbers
// the rows 0, 1, 2, ...
func readStates(t *table, index string) (*mat.Dense, error) {
	n, err := parseSize(t.data, keyStateSize)
	if err != nil {
		return nil, err
	}
	N := t.numRows()
	if N == 0 {
		return nil, invalidf("no rows")
	}
	// The data of N rows was in the file, so N*n float64s fit in memory.
	data := make([]float64, int(N)*n)
	row := 0
	for _, rec := range t.recs {
		state, err := columnAs[*array.FixedSizeList](t, rec, "state")
		if err != nil {
			return nil, err
		}
		vals, ok := state.ListValues().(*array.Float64)
		if !ok {
			return nil, invalidf("column \"state\": unexpected values type %T", state.ListValues())
		}
		var number *array.Int32
		if index != "" {
			if number, err = columnAs[*array.Int32](t, rec, index); err != nil {
				return nil, err
			}
		}
		raw := vals.Float64Values()
		for i := range int(rec.NumRows()) {
			if number != nil && number.Value(i) != int32(row) {
				return nil, invalidf("column %q: row %d holds %s %d, want %d (%ss are stored in order 0..N-1)", index, row, index, number.Value(i), row, index)
			}
			start, end := state.ValueOffsets(i)
			if start < 0 || end-start != int64(n) || end > int64(len(raw)) {
				return nil, invalidf("column \"state\": row %d: values [%d, %d) out of range", row, start, end)
			}
			copy(data[row*n:(row+1)*n], raw[start:end])
			row++
		}
	}
	return mat.NewDense(int(N), n, data), nil
}
