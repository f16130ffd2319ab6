package trainfile

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
	"gonum.org/v1/gonum/mat"
)

// testArchive is an m×n archive of finite values (the specials first),
// with times that do not all increase and every fourth snapshot in the
// validation split.
func testArchive(m, n int) Archive {
	a := Archive{X: mat.NewDense(m, n, nil)}
	for i := range m {
		for j := range n {
			k := i*n + j
			v := float64(k)*0.37 - 11
			if k < len(filetest.Specials) {
				v = filetest.Specials[k]
			}
			a.X.Set(i, j, v)
		}
		a.Times = append(a.Times, float64(i%5)*0.05-0.1)
		a.Valid = append(a.Valid, i%4 == 3)
	}
	return a
}

func sameArchive(t *testing.T, got, want Archive) {
	t.Helper()
	r, c := want.X.Dims()
	if gr, gc := got.X.Dims(); gr != r || gc != c {
		t.Fatalf("dims %dx%d, want %dx%d", gr, gc, r, c)
	}
	for i := range r {
		filetest.SameBits(t, "X row", got.X.RawRowView(i), mat.Row(nil, i, want.X))
	}
	filetest.SameBits(t, "Times", got.Times, want.Times)
	if !reflect.DeepEqual(got.Valid, want.Valid) {
		t.Fatalf("Valid: got %v, want %v", got.Valid, want.Valid)
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	view := testArchive(6, 11)
	view.X = view.X.Slice(0, 6, 2, 9).(*mat.Dense) // stride 11 > 7 columns: written through a copy
	allTrain := Archive{X: mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6}), Times: []float64{0, 0.5}}
	for _, tc := range []struct {
		name    string
		a, want Archive
	}{
		{"1x1", Archive{X: mat.NewDense(1, 1, []float64{math.Copysign(0, -1)}), Times: []float64{3}, Valid: []bool{true}}, Archive{}},
		{"50x40", testArchive(50, 40), Archive{}},
		{"view", view, Archive{}},
		{"nil Valid", allTrain, Archive{X: allTrain.X, Times: allTrain.Times, Valid: []bool{false, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want.X == nil {
				tc.want = tc.a
			}
			opts := filetest.CheckedOpts(t)
			path := filepath.Join(dir, tc.name+".arrow")
			meta := filetest.TestMeta("")
			if err := WriteArchive(path, tc.a, meta, opts...); err != nil {
				t.Fatal(err)
			}
			got, gotMeta, err := ReadArchive(path, opts...)
			if err != nil {
				t.Fatal(err)
			}
			sameArchive(t, got, tc.want)
			if want := filetest.WantMeta(meta, KindArchive); !reflect.DeepEqual(gotMeta, want) {
				t.Errorf("meta:\n got %+v\nwant %+v", gotMeta, want)
			}
		})
	}
}

// statesOf builds a fixed_size_list<float64>[n] column holding vals.
func statesOf(n int, vals ...float64) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewFixedSizeListBuilder(mem, int32(n), arrow.PrimitiveTypes.Float64)
		defer b.Release()
		for i := 0; i < len(vals); i += n {
			b.Append(true)
			b.ValueBuilder().(*array.Float64Builder).AppendValues(vals[i:i+n], nil)
		}
		return b.NewArray()
	}
}

// archiveRaw is a valid 3×2 archive file, to be spoilt.
func archiveRaw() filetest.Raw {
	return filetest.Raw{
		MD: filetest.BaseMD(KindArchive, [2]string{arrowfile.KeyStateSize, "2"}),
		Fields: []arrow.Field{
			{Name: "sample", Type: arrow.PrimitiveTypes.Int32},
			{Name: "time", Type: arrow.PrimitiveTypes.Float64},
			{Name: "split", Type: arrow.BinaryTypes.String},
			{Name: "state", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64)},
		},
		Cols: []func(memory.Allocator) arrow.Array{
			filetest.I32s(0, 1, 2), filetest.F64s([]float64{0, 0.5, 1}, nil), filetest.Strs("train", "valid", "train"), statesOf(2, 1, 2, 3, 4, 5, 6),
		},
		NRows: 3,
	}
}

func TestReadMalformedArchive(t *testing.T) {
	with := func(f func(r *filetest.Raw)) filetest.Raw { r := archiveRaw(); f(&r); return r }
	for _, tc := range []struct {
		name string
		kind arrowfile.Kind
		raw  filetest.Raw
		want string
	}{
		{"valid archive (control)", KindArchive, archiveRaw(), ""},
		{"archive read as ensemble", store.KindEnsemble, archiveRaw(), `file kind is "archive", want "ensemble"`},
		{"ensemble read as archive", KindArchive, filetest.EnsembleRaw(), `file kind is "ensemble", want "archive"`},
		{"no state size", KindArchive, with(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyStateSize, "<delete>") }), `"latentda.state_size" is missing`},
		{"wrong list size", KindArchive, with(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyStateSize, "3") }), `column "state": want fixed_size_list<float64>[3], got fixed_size_list<float64>[2]`},
		{"member, not sample", KindArchive, with(func(r *filetest.Raw) { r.Fields[0].Name = "member" }), `column "sample" is missing`},
		{"samples out of order", KindArchive, with(func(r *filetest.Raw) { r.Cols[0] = filetest.I32s(0, 2, 1) }), `column "sample": row 1 holds sample 2, want 1 (samples are stored in order 0..N-1)`},
		{"no snapshots", KindArchive, with(func(r *filetest.Raw) {
			r.Cols = []func(memory.Allocator) arrow.Array{filetest.I32s(), filetest.F64s(nil, nil), filetest.Strs(), statesOf(2)}
			r.NRows = 0
		}), "no rows"},
		{"NaN state", KindArchive, with(func(r *filetest.Raw) { r.Cols[3] = statesOf(2, 1, 2, 3, math.NaN(), 5, 6) }), `row 1: column "state": element 1 is NaN, not finite`},
		{"infinite state", KindArchive, with(func(r *filetest.Raw) { r.Cols[3] = statesOf(2, math.Inf(1), 2, 3, 4, 5, 6) }), `row 0: column "state": element 0 is +Inf, not finite`},
		{"infinite time", KindArchive, with(func(r *filetest.Raw) { r.Cols[1] = filetest.F64s([]float64{0, 0.5, math.Inf(-1)}, nil) }), `row 2: column "time": -Inf is not finite`},
		{"NaN time", KindArchive, with(func(r *filetest.Raw) { r.Cols[1] = filetest.F64s([]float64{math.NaN(), 0.5, 1}, nil) }), `row 0: column "time": NaN is not finite`},
		{"unknown split", KindArchive, with(func(r *filetest.Raw) { r.Cols[2] = filetest.Strs("train", "test", "train") }), `row 1: column "split": "test" is neither "train" nor "valid"`},
		{"split in capitals", KindArchive, with(func(r *filetest.Raw) { r.Cols[2] = filetest.Strs("train", "valid", "TRAIN") }), `row 2: column "split": "TRAIN" is neither`},
		{"split as int8", KindArchive, with(func(r *filetest.Raw) {
			r.Fields[2].Type = arrow.PrimitiveTypes.Int8
			r.Cols[2] = func(mem memory.Allocator) arrow.Array {
				b := array.NewInt8Builder(mem)
				defer b.Release()
				b.AppendValues([]int8{0, 1, 0}, nil)
				return b.NewArray()
			}
		}), `column "split": want utf8, got int8`},
		{"null split", KindArchive, with(func(r *filetest.Raw) {
			r.Cols[2] = func(mem memory.Allocator) arrow.Array {
				b := array.NewStringBuilder(mem)
				defer b.Release()
				b.AppendValues([]string{"train", "", "valid"}, []bool{true, false, true})
				return b.NewArray()
			}
		}), `column "split": null in row 1`},
		{"times not increasing (allowed)", KindArchive, with(func(r *filetest.Raw) { r.Cols[1] = filetest.F64s([]float64{1, 0, 0}, nil) }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "archive.arrow")
			tc.raw.Write(t, path)
			err := readAny(tc.kind, path, filetest.CheckedOpts(t)...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("control file: %v", err)
				}
				return
			}
			filetest.CheckReadError(t, err, path, tc.want, false)
		})
	}
}

func TestWriteArchiveRejects(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.arrow")
	good := testArchive(3, 2)
	nanX := testArchive(3, 2)
	nanX.X.Set(2, 1, math.NaN())
	for _, tc := range []struct {
		name string
		a    Archive
		meta arrowfile.Meta
		want string
	}{
		{"nil X", Archive{}, arrowfile.Meta{}, "empty archive"},
		{"empty X", Archive{X: &filetest.Mat0}, arrowfile.Meta{}, "empty archive"},
		{"short Times", Archive{X: good.X, Times: good.Times[:2]}, arrowfile.Meta{}, "3 snapshots but 2 Times"},
		{"short Valid", Archive{X: good.X, Times: good.Times, Valid: []bool{true}}, arrowfile.Meta{}, "3 snapshots but 1 Valid"},
		{"NaN value", Archive{X: nanX.X, Times: good.Times}, arrowfile.Meta{}, `row 2: column "state": element 1 is NaN, not finite`},
		{"infinite time", Archive{X: good.X, Times: []float64{0, math.Inf(1), 0}}, arrowfile.Meta{}, `row 1: column "time": +Inf is not finite`},
		{"wrong kind", good, arrowfile.Meta{Kind: store.KindEnsemble}, `Kind is "ensemble", but this writer writes "archive" files`},
	} {
		err := WriteArchive(p, tc.a, tc.meta, filetest.CheckedOpts(t)...)
		if err == nil || !strings.HasPrefix(err.Error(), "store: write "+p+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if names := filetest.ListDir(t, dir); len(names) != 0 {
		t.Errorf("failed writes left %v", names)
	}
}

func TestWriteArchiveDoesNotChangeInput(t *testing.T) {
	a := testArchive(4, 5)
	before := mat.DenseCopyOf(a.X)
	times := append([]float64(nil), a.Times...)
	if err := WriteArchive(filepath.Join(t.TempDir(), "a.arrow"), a, arrowfile.Meta{}, filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	filetest.SameBits(t, "X after write", a.X.RawMatrix().Data, before.RawMatrix().Data)
	filetest.SameBits(t, "Times after write", a.Times, times)
}

// TestArchiveIsNotAnEnsemble: the two kinds share the "state" column but
// no reader takes one for the other.
func TestArchiveIsNotAnEnsemble(t *testing.T) {
	dir := t.TempDir()
	pa, pe := filepath.Join(dir, "archive.arrow"), filepath.Join(dir, "ensemble.arrow")
	if err := WriteArchive(pa, testArchive(3, 4), arrowfile.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := store.WriteEnsemble(pe, filetest.TestEnsemble(3, 4), arrowfile.Meta{}); err != nil {
		t.Fatal(err)
	}
	filetest.CheckReadError(t, readAny(store.KindEnsemble, pa), pa, `file kind is "archive"`, false)
	filetest.CheckReadError(t, readAny(KindArchive, pe), pe, `file kind is "ensemble"`, false)
}
