package trainfile

import (
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
)

// seq returns n finite values starting with the specials.
func seq(n, from int) []float64 {
	v := make([]float64, n)
	for i := range v {
		k := from + i
		v[i] = float64(k)*0.37 - 11
		if k < len(filetest.Specials) {
			v[i] = filetest.Specials[k]
		}
	}
	return v
}

// testTensors are the tensors of a small autoencoder, plus the edge cases:
// a scalar, empty tensors, a 5-d tensor and a non-ASCII name.
func testTensors() []Tensor {
	return []Tensor{
		{Name: "encoder.0.weight", Shape: []int{3, 5}, Data: seq(15, 0)},
		{Name: "encoder.0.bias", Shape: []int{3}, Data: seq(3, 15)},
		{Name: "decoder.0.weight", Shape: []int{5, 3}, Data: seq(15, 30)},
		{Name: "decoder.0.bias", Shape: []int{5}, Data: []float64{-1, 0, 1, 2, 3}},
		{Name: "scale", Shape: []int{1}, Data: []float64{0.5}},
		{Name: "empty", Shape: []int{0}, Data: nil},
		{Name: "empty 2×0×3", Shape: []int{2, 0, 3}, Data: []float64{}},
		{Name: "Δ.5d", Shape: []int{1, 2, 1, 2, 1}, Data: []float64{1, 2, 3, 4}},
	}
}

// sameTensors compares names, shapes and values bit for bit (nil and
// empty Data alike).
func sameTensors(got, want []Tensor) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i].Name != want[i].Name || !reflect.DeepEqual(got[i].Shape, want[i].Shape) || !filetest.BitsEqual(got[i].Data, want[i].Data) {
			return false
		}
	}
	return true
}

func TestTensorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		kind    arrowfile.Kind
		tensors []Tensor
	}{
		{"generator", KindGenerator, testTensors()},
		{"checkpoint", KindCheckpoint, append(testTensors(),
			Tensor{Name: "adam.m.encoder.0.weight", Shape: []int{3, 5}, Data: seq(15, 7)},
			Tensor{Name: "adam.v.encoder.0.weight", Shape: []int{3, 5}, Data: seq(15, 9)},
		)},
		{"one empty tensor", KindGenerator, []Tensor{{Name: "e", Shape: []int{0}}}},
		{"no tensors", KindGenerator, nil},
		{"reversed order", KindGenerator, func() []Tensor {
			ts := testTensors()
			for i, j := 0, len(ts)-1; i < j; i, j = i+1, j-1 {
				ts[i], ts[j] = ts[j], ts[i]
			}
			return ts
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := filetest.CheckedOpts(t)
			path := filepath.Join(dir, tc.name+".arrow")
			meta := filetest.TestMeta(tc.kind)
			meta.Extra = map[string]string{"generator_type": "autoencoder", "activation": "tanh", "latent_dim": "16"}
			if err := WriteTensors(path, tc.tensors, meta, opts...); err != nil {
				t.Fatal(err)
			}
			got, gotMeta, err := ReadTensors(path, tc.kind, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !sameTensors(got, tc.tensors) {
				t.Fatalf("tensors:\n got %v\nwant %v", got, tc.tensors)
			}
			if want := filetest.WantMeta(meta, tc.kind); !reflect.DeepEqual(gotMeta, want) {
				t.Errorf("meta:\n got %+v\nwant %+v", gotMeta, want)
			}
			// The tensors share backing arrays; appending to one must not
			// overwrite the next.
			for i, ts := range got {
				if cap(ts.Data) != len(ts.Data) || cap(ts.Shape) != len(ts.Shape) {
					t.Errorf("tensor %d: cap(Data) %d, len %d; cap(Shape) %d, len %d", i, cap(ts.Data), len(ts.Data), cap(ts.Shape), len(ts.Shape))
				}
				if ts.Data == nil {
					t.Errorf("tensor %d: nil Data", i)
				}
			}
		})
	}
}

func TestWriteTensorsDoesNotChangeInput(t *testing.T) {
	ts := testTensors()
	before := testTensors()
	if err := WriteTensors(filepath.Join(t.TempDir(), "g.arrow"), ts, arrowfile.Meta{Kind: KindGenerator}, filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	if !sameTensors(ts, before) {
		t.Fatal("WriteTensors changed its input")
	}
}

// TestReadTensorsAllocs: reading a million parameters takes a few
// allocations, not one per value; writing them likewise.
func TestReadTensorsAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	path := filepath.Join(t.TempDir(), "g.arrow")
	ts := benchTensors()
	meta := arrowfile.Meta{Kind: KindGenerator}
	if err := WriteTensors(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(3, func() {
		if _, _, err := ReadTensors(path, KindGenerator); err != nil {
			t.Fatal(err)
		}
	}); allocs > 500 {
		t.Errorf("ReadTensors: %v allocations for %d tensors", allocs, len(ts))
	}
	if allocs := testing.AllocsPerRun(3, func() {
		if err := WriteTensors(path, ts, meta); err != nil {
			t.Fatal(err)
		}
	}); allocs > 500 {
		t.Errorf("WriteTensors: %v allocations for %d tensors", allocs, len(ts))
	}
}

// int32Lists builds a list<int32> column as pyarrow would (nullable
// elements named "item"); a nil list is a null row.
func int32Lists(lists ...[]int32) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int32)
		defer b.Release()
		vb := b.ValueBuilder().(*array.Int32Builder)
		for _, l := range lists {
			if l == nil {
				b.AppendNull()
				continue
			}
			b.Append(true)
			vb.AppendValues(l, nil)
		}
		return b.NewArray()
	}
}

// float64Lists builds a list<float64> column as pyarrow would; a nil list
// is an empty row.
func float64Lists(lists ...[]float64) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float64)
		defer b.Release()
		vb := b.ValueBuilder().(*array.Float64Builder)
		for _, l := range lists {
			b.Append(true)
			vb.AppendValues(l, nil)
		}
		return b.NewArray()
	}
}

var tensorFields = []arrow.Field{
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "shape", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)},
	{Name: "values", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)},
}

// tensorRaw is a tensor file of the given rows, valid apart from what they
// hold, with list columns as pyarrow writes them.
func tensorRaw(kind arrowfile.Kind, names []string, shapes [][]int32, values [][]float64) filetest.Raw {
	return filetest.Raw{
		MD:     filetest.BaseMD(kind),
		Fields: slices.Clone(tensorFields),
		Cols:   []func(memory.Allocator) arrow.Array{filetest.Strs(names...), int32Lists(shapes...), float64Lists(values...)},
		NRows:  len(names),
	}
}

// goodTensorRaw is a valid generator file of two tensors, to be spoilt.
func goodTensorRaw() filetest.Raw {
	return tensorRaw(KindGenerator, []string{"w", "b"}, [][]int32{{2, 3}, {2}}, [][]float64{{1, 2, 3, 4, 5, 6}, {-1, 1}})
}

func TestReadMalformedTensors(t *testing.T) {
	with := func(f func(r *filetest.Raw)) filetest.Raw { r := goodTensorRaw(); f(&r); return r }
	newer := strconv.Itoa(arrowfile.SchemaVersion + 1)
	for _, tc := range []struct {
		name string
		kind arrowfile.Kind
		raw  filetest.Raw
		want string
	}{
		{"valid generator (control)", KindGenerator, goodTensorRaw(), ""},
		{"valid checkpoint (control)", KindCheckpoint, with(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyKind, string(KindCheckpoint)) }), ""},
		{"non-nullable elements named element (control)", KindGenerator, with(func(r *filetest.Raw) {
			shape := arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.PrimitiveTypes.Int32})
			values := arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.PrimitiveTypes.Float64})
			r.Fields[1].Type, r.Fields[2].Type = shape, values
			r.Cols[1] = func(mem memory.Allocator) arrow.Array {
				return relist(mem, shape, int32Lists([]int32{2, 3}, []int32{2}))
			}
			r.Cols[2] = func(mem memory.Allocator) arrow.Array {
				return relist(mem, values, float64Lists([]float64{1, 2, 3, 4, 5, 6}, []float64{-1, 1}))
			}
		}), ""},
		{"zero tensors (control)", KindGenerator, tensorRaw(KindGenerator, nil, nil, nil), ""},
		{"empty tensor of huge dimensions (control)", KindGenerator, tensorRaw(KindGenerator, []string{"e"}, [][]int32{{math.MaxInt32, 0, math.MaxInt32}}, [][]float64{nil}), ""},

		{"generator read as checkpoint", KindCheckpoint, goodTensorRaw(), `file kind is "generator", want "checkpoint"`},
		{"checkpoint read as generator", KindGenerator, with(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyKind, string(KindCheckpoint)) }), `file kind is "checkpoint", want "generator"`},
		{"ensemble read as generator", KindGenerator, filetest.EnsembleRaw(), `file kind is "ensemble", want "generator"`},
		{"generator read as ensemble", store.KindEnsemble, goodTensorRaw(), `file kind is "generator", want "ensemble"`},
		{"generator read as archive", KindArchive, goodTensorRaw(), `file kind is "generator", want "archive"`},
		{"newer schema version", KindGenerator, with(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, newer) }), "written with schema version " + newer},

		{"duplicate names", KindGenerator, tensorRaw(KindGenerator, []string{"w", "b", "w"}, [][]int32{{1}, {1}, {1}}, [][]float64{{1}, {2}, {3}}),
			`row 2: column "name": "w" is also the name of row 0 (names must be unique)`},
		{"empty name", KindGenerator, with(func(r *filetest.Raw) { r.Cols[0] = filetest.Strs("w", "") }), `row 1: column "name": empty tensor name`},
		{"name not UTF-8", KindGenerator, with(func(r *filetest.Raw) { r.Cols[0] = filetest.Strs("w", "b\xff") }), "string at index 1 is not valid utf8"},
		{"too few values", KindGenerator, with(func(r *filetest.Raw) { r.Cols[2] = float64Lists([]float64{1, 2, 3, 4, 5}, []float64{-1, 1}) }),
			`row 0: column "values": tensor "w" has 5 values, which does not match its shape [2 3]`},
		{"too many values", KindGenerator, with(func(r *filetest.Raw) { r.Cols[2] = float64Lists([]float64{1, 2, 3, 4, 5, 6}, []float64{-1, 1, 0}) }),
			`row 1: column "values": tensor "b" has 3 values, which does not match its shape [2]`},
		{"values of an empty tensor", KindGenerator, tensorRaw(KindGenerator, []string{"e"}, [][]int32{{4, 0}}, [][]float64{{1}}),
			`tensor "e" has 1 values, which does not match its shape [4 0]`},
		{"shape product overflows", KindGenerator, tensorRaw(KindGenerator, []string{"big"}, [][]int32{{math.MaxInt32, math.MaxInt32, math.MaxInt32, 2}}, [][]float64{{1, 2}}),
			`tensor "big" has 2 values, which does not match its shape [2147483647 2147483647 2147483647 2]`},
		{"negative dimension", KindGenerator, with(func(r *filetest.Raw) { r.Cols[1] = int32Lists([]int32{2, -3}, []int32{2}) }),
			`row 0: column "shape": tensor "w": dimension 1 is -3, out of range [0, 2147483647]`},
		{"0-d tensor", KindGenerator, with(func(r *filetest.Raw) { r.Cols[1] = int32Lists([]int32{2, 3}, []int32{}) }),
			`row 1: column "shape": tensor "b" has no dimensions (store a scalar with shape [1])`},
		{"NaN value", KindGenerator, with(func(r *filetest.Raw) { r.Cols[2] = float64Lists([]float64{1, 2, 3, 4, 5, 6}, []float64{math.NaN(), 1}) }),
			`row 1: column "values": tensor "b": value 0 is NaN, not finite`},
		{"infinite value", KindGenerator, with(func(r *filetest.Raw) {
			r.Cols[2] = float64Lists([]float64{1, 2, 3, 4, math.Inf(-1), 6}, []float64{0, 1})
		}),
			`row 0: column "values": tensor "w": value 4 is -Inf, not finite`},
		{"null value", KindGenerator, with(func(r *filetest.Raw) {
			r.Cols[2] = func(mem memory.Allocator) arrow.Array {
				b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float64)
				defer b.Release()
				vb := b.ValueBuilder().(*array.Float64Builder)
				b.Append(true)
				vb.AppendValues([]float64{1, 2, 3, 4, 5, 6}, nil)
				b.Append(true)
				vb.AppendValues([]float64{0, 1}, []bool{true, false})
				return b.NewArray()
			}
		}), `column "values": list values: null in row 7`},
		{"null shape", KindGenerator, with(func(r *filetest.Raw) { r.Cols[1] = int32Lists([]int32{2, 3}, nil) }), `column "shape": null in row 1`},
		{"shape list<int64>", KindGenerator, with(func(r *filetest.Raw) {
			r.Fields[1].Type = arrow.ListOf(arrow.PrimitiveTypes.Int64)
			r.Cols[1] = func(mem memory.Allocator) arrow.Array {
				b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int64)
				defer b.Release()
				vb := b.ValueBuilder().(*array.Int64Builder)
				b.Append(true)
				vb.AppendValues([]int64{2, 3}, nil)
				b.Append(true)
				vb.AppendValues([]int64{2}, nil)
				return b.NewArray()
			}
		}), `column "shape": want list<int32>, got list<int64>`},
		{"values list<float32>", KindGenerator, with(func(r *filetest.Raw) {
			r.Fields[2].Type = arrow.ListOf(arrow.PrimitiveTypes.Float32)
			r.Cols[2] = func(mem memory.Allocator) arrow.Array {
				b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float32)
				defer b.Release()
				vb := b.ValueBuilder().(*array.Float32Builder)
				b.Append(true)
				vb.AppendValues([]float32{1, 2, 3, 4, 5, 6}, nil)
				b.Append(true)
				vb.AppendValues([]float32{-1, 1}, nil)
				return b.NewArray()
			}
		}), `column "values": want list<float64>, got list<float32>`},
		{"values fixed_size_list", KindGenerator, tensorRaw(KindGenerator, []string{"a", "b"}, [][]int32{{2}, {2}}, nil).With(func(r *filetest.Raw) {
			r.Fields[2].Type = arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64)
			r.Cols[2] = filetest.States(2, 2, -1)
		}), `column "values": want list<float64>, got fixed_size_list<float64>[2]`},
		{"values large_list", KindGenerator, with(func(r *filetest.Raw) {
			r.Fields[2].Type = arrow.LargeListOf(arrow.PrimitiveTypes.Float64)
			r.Cols[2] = func(mem memory.Allocator) arrow.Array {
				b := array.NewLargeListBuilder(mem, arrow.PrimitiveTypes.Float64)
				defer b.Release()
				vb := b.ValueBuilder().(*array.Float64Builder)
				b.Append(true)
				vb.AppendValues([]float64{1, 2, 3, 4, 5, 6}, nil)
				b.Append(true)
				vb.AppendValues([]float64{-1, 1}, nil)
				return b.NewArray()
			}
		}), `column "values": unsupported Arrow type (flatbuffer type id 21)`},
		// arrow-go's writer slices list values by their offsets, so bad
		// offsets are patched into the written file.
		{"list offsets past the values", KindGenerator, with(func(r *filetest.Raw) {
			r.Patch = [2][]int32{{0, 6, 8}, {0, 6, 9}} // the "values" offsets
		}), "list offset 2 is 9, outside [6, 8]"},
		{"list offsets not monotonic", KindGenerator,
			tensorRaw(KindGenerator, []string{"w", "b"}, [][]int32{{6}, {1, 2}}, [][]float64{{1, 2, 3, 4, 5, 6}, {-1, 1}}).With(func(r *filetest.Raw) {
				r.Patch = [2][]int32{{0, 1, 3}, {0, 3, 1}} // the "shape" offsets
			}), "list offset 2 is 1, outside [3, 3]"},
		{"missing shape", KindGenerator, with(func(r *filetest.Raw) {
			r.Fields = []arrow.Field{r.Fields[0], r.Fields[2]}
			r.Cols = []func(memory.Allocator) arrow.Array{r.Cols[0], r.Cols[2]}
		}), `column "shape" is missing`},
		{"extra column", KindGenerator, with(func(r *filetest.Raw) {
			r.Fields = append(r.Fields, arrow.Field{Name: "dtype", Type: arrow.BinaryTypes.String})
			r.Cols = append(r.Cols, filetest.Strs("float32", "float32"))
		}), `unexpected column "dtype"`},
		{"unknown latentda key", KindGenerator, with(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, "latentda.activation", "tanh") }), `unknown metadata key "latentda.activation"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "generator.arrow")
			tc.raw.Write(t, path)
			err := readAny(tc.kind, path, filetest.CheckedOpts(t)...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("control file: %v", err)
				}
				return
			}
			filetest.CheckReadError(t, err, path, tc.want, strings.HasPrefix(tc.want, "written with schema version"))
		})
	}
}

// relist gives the list column made by build the list type dt (the same
// layout, other element field name or nullability).
func relist(mem memory.Allocator, dt arrow.DataType, build func(memory.Allocator) arrow.Array) arrow.Array {
	a := build(mem)
	defer a.Release()
	d := array.NewData(dt, a.Len(), a.Data().Buffers(), a.Data().Children(), 0, a.Data().Offset())
	defer d.Release()
	return array.MakeFromData(d)
}

func TestWriteTensorsRejects(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.arrow")
	gen := arrowfile.Meta{Kind: KindGenerator}
	w := func(ts ...Tensor) []Tensor { return ts }
	for _, tc := range []struct {
		name    string
		tensors []Tensor
		meta    arrowfile.Meta
		want    string
	}{
		{"no kind", testTensors(), arrowfile.Meta{}, `meta: Kind "" is not a tensor kind (want one of ["generator" "checkpoint"])`},
		{"ensemble kind", testTensors(), arrowfile.Meta{Kind: store.KindEnsemble}, `Kind "ensemble" is not a tensor kind`},
		{"bad meta", testTensors(), arrowfile.Meta{Kind: KindCheckpoint, Time: math.NaN()}, "Time NaN is not finite"},
		{"duplicate name", w(Tensor{"a", []int{1}, []float64{1}}, Tensor{"a", []int{1}, []float64{2}}), gen, `row 1: column "name": "a" is also the name of row 0`},
		{"empty name", w(Tensor{"", []int{1}, []float64{1}}), gen, `row 0: column "name": empty tensor name`},
		{"name not UTF-8", w(Tensor{"\xc3", []int{1}, []float64{1}}), gen, "is not valid UTF-8"},
		{"0-d", w(Tensor{"s", nil, []float64{1}}), gen, `row 0: column "shape": tensor "s" has no dimensions`},
		{"negative dimension", w(Tensor{"n", []int{-1}, nil}), gen, `dimension 0 is -1, out of range`},
		{"dimension too large", w(Tensor{"n", []int{0, math.MaxInt32 + 1}, nil}), gen, `dimension 1 is 2147483648, out of range`},
		{"shape mismatch", w(Tensor{"m", []int{2, 2}, []float64{1, 2, 3}}), gen, `tensor "m" has 3 values, which does not match its shape [2 2]`},
		{"values for a dimension 0", w(Tensor{"m", []int{0}, []float64{1}}), gen, `tensor "m" has 1 values, which does not match its shape [0]`},
		{"NaN", w(Tensor{"a", []int{1}, []float64{1}}, Tensor{"b", []int{2}, []float64{1, math.NaN()}}), gen, `row 1: column "values": tensor "b": value 1 is NaN, not finite`},
		{"Inf", w(Tensor{"b", []int{1}, []float64{math.Inf(1)}}), gen, `value 0 is +Inf, not finite`},
	} {
		err := WriteTensors(p, tc.tensors, tc.meta, filetest.CheckedOpts(t)...)
		if err == nil || !strings.HasPrefix(err.Error(), "store: write "+p+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if names := filetest.ListDir(t, dir); len(names) != 0 {
		t.Errorf("failed writes left %v", names)
	}

	// ReadTensors wants a tensor kind: a mistake of the caller, not of the
	// file.
	err := WriteTensors(p, testTensors(), gen)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []arrowfile.Kind{"", store.KindEnsemble} {
		_, _, err := ReadTensors(p, kind)
		if err == nil || errors.Is(err, arrowfile.ErrInvalid) || !strings.Contains(err.Error(), "is not a tensor kind") {
			t.Errorf("ReadTensors(%q): got %v", kind, err)
		}
	}
}
