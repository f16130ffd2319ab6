package store

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store/internal/arrowfile"
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
	o := arrowfile.BuildOptions(opts)
	if E == nil || E.IsEmpty() {
		return arrowfile.WriteErr(path, errors.New("empty ensemble"))
	}
	raw := E.RawMatrix()
	N, n := raw.Rows, raw.Cols
	if N > math.MaxInt32 || n > math.MaxInt32 {
		return arrowfile.WriteErr(path, fmt.Errorf("ensemble %d×%d is too large", N, n))
	}
	md, err := arrowfile.EncodeMeta(meta, KindEnsemble, map[string]string{arrowfile.KeyStateSize: strconv.Itoa(n)})
	if err != nil {
		return arrowfile.WriteErr(path, err)
	}
	cols := []arrow.Array{
		arrowfile.Int32Column(o.Mem, N, func(i int) int32 { return int32(i) }),
		arrowfile.StateColumn(N, n, arrowfile.DenseValues(o.Mem, raw)),
	}
	defer arrowfile.ReleaseAll(cols)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "member", Type: arrow.PrimitiveTypes.Int32},
		{Name: "state", Type: arrowfile.StateType(n)},
	}, &md)
	return arrowfile.WriteFile(path, o, schema, cols, N)
}

// ReadEnsemble reads an ensemble file written by WriteEnsemble into a new
// N×n matrix, one member per row. It checks the kind, the schema version,
// the columns and their types (the list size must equal
// latentda.state_size), that members are numbered 0..N-1 in order, and that
// there is at least one member and no null.
func ReadEnsemble(path string, opts ...Option) (*mat.Dense, Meta, error) {
	return arrowfile.ReadMappedPath(path, opts, readEnsemble)
}

func readEnsemble(r ipc.ReadAtSeeker, size int64, o arrowfile.Options) (*mat.Dense, Meta, error) {
	t, err := arrowfile.ReadTable(r, size, o, stateSpec([]Kind{KindEnsemble}, true))
	if err != nil {
		return nil, Meta{}, err
	}
	defer t.Release()
	E, err := arrowfile.ReadStates(t, "member")
	if err != nil {
		return nil, Meta{}, err
	}
	return E, t.Meta, nil
}

// WriteVector writes one state vector x (for example the true state of a
// twin experiment) to path, atomically: a single row with the column
// "state" (fixed_size_list<float64>[len(x)]). meta.Kind must be "truth" or
// empty (meaning "truth").
func WriteVector(path string, x []float64, meta Meta, opts ...Option) error {
	o := arrowfile.BuildOptions(opts)
	if meta.Kind == "" {
		meta.Kind = KindTruth
	}
	if !slices.Contains(vectorKinds, meta.Kind) {
		return arrowfile.WriteErr(path, fmt.Errorf("meta: Kind %q is not a vector kind (want one of %q)", meta.Kind, vectorKinds))
	}
	n := len(x)
	if n == 0 || n > math.MaxInt32 {
		return arrowfile.WriteErr(path, fmt.Errorf("vector length %d out of range [1, %d]", n, math.MaxInt32))
	}
	md, err := arrowfile.EncodeMeta(meta, meta.Kind, map[string]string{arrowfile.KeyStateSize: strconv.Itoa(n)})
	if err != nil {
		return arrowfile.WriteErr(path, err)
	}
	values := memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(x))
	cols := []arrow.Array{arrowfile.StateColumn(1, n, values)}
	defer arrowfile.ReleaseAll(cols)
	schema := arrow.NewSchema([]arrow.Field{{Name: "state", Type: arrowfile.StateType(n)}}, &md)
	return arrowfile.WriteFile(path, o, schema, cols, 1)
}

// ReadVector reads a vector file written by WriteVector. It checks the kind,
// the schema version, the column type (list size latentda.state_size) and
// that there is exactly one row.
func ReadVector(path string, opts ...Option) ([]float64, Meta, error) {
	return arrowfile.ReadMappedPath(path, opts, readVector)
}

func readVector(r ipc.ReadAtSeeker, size int64, o arrowfile.Options) ([]float64, Meta, error) {
	t, err := arrowfile.ReadTable(r, size, o, stateSpec(vectorKinds, false))
	if err != nil {
		return nil, Meta{}, err
	}
	defer t.Release()
	if rows := t.NumRows(); rows != 1 {
		return nil, Meta{}, arrowfile.Invalidf("vector file has %d rows, want 1", rows)
	}
	X, err := arrowfile.ReadStates(t, "")
	if err != nil {
		return nil, Meta{}, err
	}
	return X.RawRowView(0), t.Meta, nil
}

// stateSpec describes ensemble (withMember) and vector files.
func stateSpec(kinds []Kind, withMember bool) arrowfile.FileSpec {
	return arrowfile.FileSpec{
		Kinds:    kinds,
		DataKeys: []string{arrowfile.KeyStateSize},
		Columns: func(_ int, data map[string]string) ([]arrowfile.Column, error) {
			n, err := arrowfile.ParseSize(data, arrowfile.KeyStateSize)
			if err != nil {
				return nil, err
			}
			cols := []arrowfile.Column{{Name: "state", Type: arrowfile.StateType(n)}}
			if withMember {
				cols = append([]arrowfile.Column{{Name: "member", Type: arrow.PrimitiveTypes.Int32}}, cols...)
			}
			return cols, nil
		},
	}
}
