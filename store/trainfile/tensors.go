package trainfile

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/latentda/latentda/store/internal/arrowfile"
)

// tensorKinds are the kinds WriteTensors and ReadTensors accept.
var tensorKinds = []arrowfile.Kind{KindGenerator, KindCheckpoint}

// Tensor is a named float64 array, e.g. one weight matrix of a generator.
// Data holds its values in row-major (C) order, as PyTorch and NumPy store
// them: the element at index (i, j, k) of a tensor of shape (a, b, c) is
// Data[(i*b+j)*c+k].
type Tensor struct {
	// Name identifies the tensor in its file: non-empty, valid UTF-8 and
	// unique.
	Name string
	// Shape has at least one dimension (a scalar has shape [1]); every
	// dimension is in [0, math.MaxInt32] and their product is len(Data).
	// A dimension 0 gives an empty tensor.
	Shape []int
	// Data holds the values; they must be finite.
	Data []float64
}

var tensorColumns = []arrowfile.Column{
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "shape", Type: arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int32)},
	{Name: "values", Type: arrow.ListOfNonNullable(arrow.PrimitiveTypes.Float64)},
}

// tensorTotals are the sizes of the columns of a tensor file.
type tensorTotals struct {
	names, dims, values int // bytes of all names; all dimensions; all values
}

// validateTensors checks ts as WriteTensors and ReadTensors do, and
// returns the column sizes. Errors name the row (the tensor's index) and
// the column.
func validateTensors(ts []Tensor) (tensorTotals, error) {
	var tot tensorTotals
	if len(ts) > math.MaxInt32 {
		return tot, fmt.Errorf("%d tensors are too many", len(ts))
	}
	seen := make(map[string]int, len(ts))
	for i, t := range ts {
		switch j, dup := seen[t.Name]; {
		case t.Name == "":
			return tot, fmt.Errorf("row %d: column \"name\": empty tensor name", i)
		case !utf8.ValidString(t.Name):
			return tot, fmt.Errorf("row %d: column \"name\": %q is not valid UTF-8", i, t.Name)
		case dup:
			return tot, fmt.Errorf("row %d: column \"name\": %q is also the name of row %d (names must be unique)", i, t.Name, j)
		}
		seen[t.Name] = i
		if len(t.Shape) == 0 {
			return tot, fmt.Errorf("row %d: column \"shape\": tensor %q has no dimensions (store a scalar with shape [1])", i, t.Name)
		}
		for k, d := range t.Shape {
			if d < 0 || d > math.MaxInt32 {
				return tot, fmt.Errorf("row %d: column \"shape\": tensor %q: dimension %d is %d, out of range [0, %d]", i, t.Name, k, d, math.MaxInt32)
			}
		}
		// The columns' int32 offsets bound the totals; checking them
		// before shapeMatches keeps its products from overflowing.
		tot.names += len(t.Name)
		tot.dims += len(t.Shape)
		tot.values += len(t.Data)
		if tot.names > math.MaxInt32 || tot.dims > math.MaxInt32 || tot.values > math.MaxInt32 {
			return tot, fmt.Errorf("row %d: the tensors hold more than %d name bytes, dimensions or values in all", i, math.MaxInt32)
		}
		if !shapeMatches(t.Shape, len(t.Data)) {
			return tot, fmt.Errorf("row %d: column \"values\": tensor %q has %d values, which does not match its shape %v", i, t.Name, len(t.Data), t.Shape)
		}
		for k, v := range t.Data {
			if !arrowfile.Finite(v) {
				return tot, fmt.Errorf("row %d: column \"values\": tensor %q: value %d is %v, not finite", i, t.Name, k, v)
			}
		}
	}
	return tot, nil
}

// shapeMatches reports whether the product of shape, whose dimensions are
// in [0, math.MaxInt32], is n <= math.MaxInt32, without overflowing.
func shapeMatches(shape []int, n int) bool {
	if slices.Contains(shape, 0) {
		return n == 0
	}
	p := int64(1)
	for _, d := range shape {
		if p *= int64(d); p > int64(n) { // p <= MaxInt32 * MaxInt32 here
			return false
		}
	}
	return p == int64(n)
}

// WriteTensors writes tensors to path, atomically, in the order given: one
// row per tensor with columns "name" (utf8), "shape" (list<int32>) and
// "values" (list<float64>), and meta in the schema metadata. meta.Kind must
// be "generator" or "checkpoint"; other attributes (the generator's type,
// activation, latent dimension, a checkpoint's step, ...) go in meta.Extra.
// Every tensor must have a unique non-empty name, at least one dimension,
// as many values as its shape says and only finite values; zero tensors
// are allowed.
func WriteTensors(path string, tensors []Tensor, meta arrowfile.Meta, opts ...arrowfile.Option) error {
	o := arrowfile.BuildOptions(opts)
	if !slices.Contains(tensorKinds, meta.Kind) {
		return arrowfile.WriteErr(path, fmt.Errorf("meta: Kind %q is not a tensor kind (want one of %q)", meta.Kind, tensorKinds))
	}
	tot, err := validateTensors(tensors)
	if err != nil {
		return arrowfile.WriteErr(path, err)
	}
	md, err := arrowfile.EncodeMeta(meta, meta.Kind, nil)
	if err != nil {
		return arrowfile.WriteErr(path, err)
	}
	rows := len(tensors)
	names := make([]string, rows)
	shapeOffsets := arrowfile.NewBuffer(o.Mem, (rows+1)*arrow.Int32SizeBytes)
	valueOffsets := arrowfile.NewBuffer(o.Mem, (rows+1)*arrow.Int32SizeBytes)
	dims := arrowfile.NewBuffer(o.Mem, tot.dims*arrow.Int32SizeBytes)
	values := arrowfile.NewBuffer(o.Mem, tot.values*arrow.Float64SizeBytes)
	soffs := arrow.Int32Traits.CastFromBytes(shapeOffsets.Bytes())
	voffs := arrow.Int32Traits.CastFromBytes(valueOffsets.Bytes())
	d := arrow.Int32Traits.CastFromBytes(dims.Bytes())
	v := arrow.Float64Traits.CastFromBytes(values.Bytes())
	nd, nv := 0, 0
	for i, t := range tensors {
		names[i] = t.Name
		soffs[i], voffs[i] = int32(nd), int32(nv)
		for _, x := range t.Shape {
			d[nd] = int32(x)
			nd++
		}
		nv += copy(v[nv:], t.Data)
	}
	soffs[rows], voffs[rows] = int32(nd), int32(nv)
	cols := []arrow.Array{
		arrowfile.StringColumn(o.Mem, names),
		arrowfile.ListColumn(arrow.PrimitiveTypes.Int32, rows, shapeOffsets, nd, dims),
		arrowfile.ListColumn(arrow.PrimitiveTypes.Float64, rows, valueOffsets, nv, values),
	}
	defer arrowfile.ReleaseAll(cols)
	fields := make([]arrow.Field, len(tensorColumns))
	for i, c := range tensorColumns {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type}
	}
	return arrowfile.WriteFile(path, o, arrow.NewSchema(fields, &md), cols, rows)
}

// ReadTensors reads a file written by WriteTensors (or by another tool
// following docs/state-format.md) whose kind must be kind, "generator" or
// "checkpoint". It returns the tensors in file order. Besides the kind,
// the schema version and the columns, it checks every tensor as
// WriteTensors does; errors name the file, row and column.
//
// The returned tensors share two backing arrays, one for all the values
// and one for all the shapes (each slice capped at its own length), so
// that reading a few million parameters costs a few allocations, not one
// per value.
func ReadTensors(path string, kind arrowfile.Kind, opts ...arrowfile.Option) ([]Tensor, arrowfile.Meta, error) {
	if !slices.Contains(tensorKinds, kind) {
		return nil, arrowfile.Meta{}, arrowfile.ReadErr(path, fmt.Errorf("kind %q is not a tensor kind (want one of %q)", kind, tensorKinds))
	}
	return arrowfile.ReadPath(path, opts, func(r ipc.ReadAtSeeker, size int64, o arrowfile.Options) ([]Tensor, arrowfile.Meta, error) {
		return readTensors(r, size, o, []arrowfile.Kind{kind})
	})
}

func readTensors(r ipc.ReadAtSeeker, size int64, o arrowfile.Options, kinds []arrowfile.Kind) ([]Tensor, arrowfile.Meta, error) {
	t, err := arrowfile.ReadTable(r, size, o, arrowfile.FileSpec{
		Kinds:   kinds,
		Columns: func(int, map[string]string) ([]arrowfile.Column, error) { return tensorColumns, nil },
	})
	if err != nil {
		return nil, arrowfile.Meta{}, err
	}
	defer t.Release()
	ts, err := readTensorRows(t)
	if err != nil {
		return nil, arrowfile.Meta{}, err
	}
	return ts, t.Meta, nil
}

// tensorBatch is the columns of one record batch of a tensor file.
type tensorBatch struct {
	name          *array.String
	shape, values *array.List
	dims          []int32
	vals          []float64
}

func tensorColumnsOf(t *arrowfile.Table, rec arrow.RecordBatch) (tensorBatch, error) {
	var b tensorBatch
	var err error
	if b.name, err = arrowfile.ColumnAs[*array.String](t, rec, "name"); err != nil {
		return b, err
	}
	if b.shape, err = arrowfile.ColumnAs[*array.List](t, rec, "shape"); err != nil {
		return b, err
	}
	if b.values, err = arrowfile.ColumnAs[*array.List](t, rec, "values"); err != nil {
		return b, err
	}
	dims, ok := b.shape.ListValues().(*array.Int32)
	if !ok {
		return b, arrowfile.Invalidf("column \"shape\": unexpected values type %T", b.shape.ListValues())
	}
	vals, ok := b.values.ListValues().(*array.Float64)
	if !ok {
		return b, arrowfile.Invalidf("column \"values\": unexpected values type %T", b.values.ListValues())
	}
	b.dims, b.vals = dims.Int32Values(), vals.Float64Values()
	return b, nil
}

// listRange returns the range of row i of the list column l over its n
// values, checked.
func listRange(l *array.List, i, n int, column string, row int) (start, end int, err error) {
	s, e := l.ValueOffsets(i)
	if s < 0 || e < s || e > int64(n) {
		return 0, 0, arrowfile.Invalidf("row %d: column %q: values [%d, %d) out of range", row, column, s, e)
	}
	return int(s), int(e), nil
}

func readTensorRows(t *arrowfile.Table) ([]Tensor, error) {
	// First the sizes, so that all values and all dimensions are copied
	// into one array each.
	var nd, nv int64
	batches := make([]tensorBatch, len(t.Recs))
	row := 0 // in the file, across batches
	for k, rec := range t.Recs {
		b, err := tensorColumnsOf(t, rec)
		if err != nil {
			return nil, err
		}
		batches[k] = b
		for i := range int(rec.NumRows()) {
			s, e, err := listRange(b.shape, i, len(b.dims), "shape", row)
			if err != nil {
				return nil, err
			}
			nd += int64(e - s)
			if s, e, err = listRange(b.values, i, len(b.vals), "values", row); err != nil {
				return nil, err
			}
			nv += int64(e - s)
			row++
		}
	}
	// Their data was in the file, so they fit in memory; validateTensors
	// checks the int32 limits of the totals.
	dims := make([]int, nd)
	vals := make([]float64, nv)
	ts := make([]Tensor, 0, t.NumRows())
	nd, nv, row = 0, 0, 0
	for _, b := range batches {
		for i := range b.name.Len() {
			s, e, err := listRange(b.shape, i, len(b.dims), "shape", row)
			if err != nil {
				return nil, err
			}
			shape := dims[nd : nd+int64(e-s) : nd+int64(e-s)]
			for j, d := range b.dims[s:e] {
				shape[j] = int(d) // validateTensors checks the range
			}
			nd += int64(e - s)
			if s, e, err = listRange(b.values, i, len(b.vals), "values", row); err != nil {
				return nil, err
			}
			data := vals[nv : nv+int64(e-s) : nv+int64(e-s)]
			copy(data, b.vals[s:e])
			nv += int64(e - s)
			// Value aliases the Arrow buffer, which is released on return.
			ts = append(ts, Tensor{Name: strings.Clone(b.name.Value(i)), Shape: shape, Data: data})
			row++
		}
	}
	if _, err := validateTensors(ts); err != nil {
		return nil, &arrowfile.InvalidError{Err: err}
	}
	return ts, nil
}
