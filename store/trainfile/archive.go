package trainfile

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"gonum.org/v1/gonum/mat"
)

// Archive is a simulation archive: m snapshots of an n-variable model state,
// the training set of a generator. Row i of X is the state at model time
// Times[i]; Valid[i] puts it in the validation split, else it is in the
// training split.
type Archive struct {
	// X holds the snapshots, one per row (m×n, m, n >= 1); finite.
	X *mat.Dense
	// Times are the model times of the snapshots; finite. They need not
	// increase: an archive may join several trajectories.
	Times []float64
	// Valid marks the snapshots of the validation split. Writers accept
	// nil for "all in the training split"; readers always fill it in.
	Valid []bool
}

// The values of the "split" column of an archive.
const (
	splitTrain = "train"
	splitValid = "valid"
)

// validate checks a as WriteArchive and ReadArchive do.
func (a *Archive) validate() error {
	if a.X == nil || a.X.IsEmpty() {
		return errors.New("empty archive")
	}
	raw := a.X.RawMatrix()
	m, n := raw.Rows, raw.Cols
	// The "split" column stores up to len(splitTrain) bytes per snapshot
	// behind int32 offsets.
	if m > math.MaxInt32/len(splitTrain) || n > math.MaxInt32 {
		return fmt.Errorf("archive %d×%d is too large", m, n)
	}
	if len(a.Times) != m {
		return fmt.Errorf("archive: %d snapshots but %d Times", m, len(a.Times))
	}
	if a.Valid != nil && len(a.Valid) != m {
		return fmt.Errorf("archive: %d snapshots but %d Valid", m, len(a.Valid))
	}
	for i := range m {
		if v := a.Times[i]; !arrowfile.Finite(v) {
			return fmt.Errorf("row %d: column \"time\": %v is not finite", i, v)
		}
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+n] {
			if !arrowfile.Finite(v) {
				return fmt.Errorf("row %d: column \"state\": element %d is %v, not finite", i, j, v)
			}
		}
	}
	return nil
}

// archiveColumns are the columns of an archive of state dimension n.
func archiveColumns(n int) []arrowfile.Column {
	return []arrowfile.Column{
		{Name: "sample", Type: arrow.PrimitiveTypes.Int32},
		{Name: "time", Type: arrow.PrimitiveTypes.Float64},
		{Name: "split", Type: arrow.BinaryTypes.String},
		{Name: "state", Type: arrowfile.StateType(n)},
	}
}

// WriteArchive writes the archive a to path, atomically: one row per
// snapshot with columns "sample" (int32, 0..m-1), "time" (float64),
// "split" (utf8, "train" or "valid") and "state"
// (fixed_size_list<float64>[n]), and meta (Kind "archive", or empty) plus
// "latentda.state_size" = n in the schema metadata. All values and times
// must be finite.
//
// When the rows of a.X are contiguous (stride n) the file is written
// straight from its backing array without copying it; a.X must not change
// during the call.
func WriteArchive(path string, a Archive, meta arrowfile.Meta, opts ...arrowfile.Option) error {
	o := arrowfile.BuildOptions(opts)
	if err := a.validate(); err != nil {
		return arrowfile.WriteErr(path, err)
	}
	raw := a.X.RawMatrix()
	m, n := raw.Rows, raw.Cols
	md, err := arrowfile.EncodeMeta(meta, KindArchive, map[string]string{arrowfile.KeyStateSize: strconv.Itoa(n)})
	if err != nil {
		return arrowfile.WriteErr(path, err)
	}
	splits := make([]string, m)
	for i := range splits {
		splits[i] = splitTrain
		if a.Valid != nil && a.Valid[i] {
			splits[i] = splitValid
		}
	}
	cols := []arrow.Array{
		arrowfile.Int32Column(o.Mem, m, func(i int) int32 { return int32(i) }),
		arrowfile.Float64Column(o.Mem, m, func(i int) float64 { return a.Times[i] }),
		arrowfile.StringColumn(o.Mem, splits),
		arrowfile.StateColumn(m, n, arrowfile.DenseValues(o.Mem, raw)),
	}
	defer arrowfile.ReleaseAll(cols)
	want := archiveColumns(n)
	fields := make([]arrow.Field, len(want))
	for i, c := range want {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type}
	}
	return arrowfile.WriteFile(path, o, arrow.NewSchema(fields, &md), cols, m)
}

// ReadArchive reads an archive file written by WriteArchive. It checks the
// kind, the schema version, the columns and their types (the list size
// must equal latentda.state_size), that there is at least one snapshot,
// that "sample" numbers the rows 0..m-1 in order, that every value and time
// is finite and that every split is "train" or "valid"; errors name the
// file, row and column.
func ReadArchive(path string, opts ...arrowfile.Option) (Archive, arrowfile.Meta, error) {
	return arrowfile.ReadMappedPath(path, opts, readArchive)
}

func readArchive(r ipc.ReadAtSeeker, size int64, o arrowfile.Options) (Archive, arrowfile.Meta, error) {
	t, err := arrowfile.ReadTable(r, size, o, arrowfile.FileSpec{
		Kinds:    []arrowfile.Kind{KindArchive},
		DataKeys: []string{arrowfile.KeyStateSize},
		Columns: func(_ int, data map[string]string) ([]arrowfile.Column, error) {
			n, err := arrowfile.ParseSize(data, arrowfile.KeyStateSize)
			if err != nil {
				return nil, err
			}
			return archiveColumns(n), nil
		},
	})
	if err != nil {
		return Archive{}, arrowfile.Meta{}, err
	}
	defer t.Release()
	a, err := readArchiveRows(t)
	if err != nil {
		return Archive{}, arrowfile.Meta{}, err
	}
	return a, t.Meta, nil
}

func readArchiveRows(t *arrowfile.Table) (Archive, error) {
	X, err := arrowfile.ReadStates(t, "sample")
	if err != nil {
		return Archive{}, err
	}
	m, _ := X.Dims()
	a := Archive{X: X, Times: make([]float64, 0, m), Valid: make([]bool, 0, m)}
	for _, rec := range t.Recs {
		tm, err := arrowfile.ColumnAs[*array.Float64](t, rec, "time")
		if err != nil {
			return Archive{}, err
		}
		split, err := arrowfile.ColumnAs[*array.String](t, rec, "split")
		if err != nil {
			return Archive{}, err
		}
		for i := range int(rec.NumRows()) {
			switch s := split.Value(i); s {
			case splitTrain, splitValid:
				a.Valid = append(a.Valid, s == splitValid)
			default:
				return Archive{}, arrowfile.Invalidf("row %d: column \"split\": %q is neither %q nor %q", len(a.Times), s, splitTrain, splitValid)
			}
			a.Times = append(a.Times, tm.Value(i))
		}
	}
	if err := a.validate(); err != nil {
		return Archive{}, &arrowfile.InvalidError{Err: err}
	}
	return a, nil
}
