package store

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gonum.org/v1/gonum/mat"
)

// mat0 is an empty matrix.
var mat0 mat.Dense

// raw describes a file written straight with arrow-go, bypassing this
// package's checks, to make malformed files.
type raw struct {
	md     [][2]string // schema metadata, in order
	fields []arrow.Field
	// cols builds the columns; nil entries are left out with their field.
	cols  []func(mem memory.Allocator) arrow.Array
	nrows int
	// ipcOpts are extra options of the ipc writer; stream writes the IPC
	// stream format instead of the file format.
	ipcOpts []ipc.Option
	stream  bool
	// patch, if set, replaces the one occurrence of the int32s patch[0] in
	// the written file with patch[1], to make what arrow-go does not write.
	patch [2][]int32
}

func baseMD(kind Kind, extra ...[2]string) [][2]string {
	md := [][2]string{
		{keySchemaVersion, "1"}, {keyKind, string(kind)}, {keyRunID, "r"}, {keyModel, "m"},
		{keyCycle, "12"}, {keyTime, "0.5"}, {keyParamPrefix + "nx", "4"},
	}
	return append(md, extra...)
}

// withMD returns md with key set to value (appended if absent; removed if
// value is "<delete>").
func withMD(md [][2]string, key, value string) [][2]string {
	var out [][2]string
	found := false
	for _, kv := range md {
		if kv[0] == key {
			found = true
			if value == "<delete>" {
				continue
			}
			kv[1] = value
		}
		out = append(out, kv)
	}
	if !found && value != "<delete>" {
		out = append(out, [2]string{key, value})
	}
	return out
}

func (r raw) write(t *testing.T, path string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var keys, vals []string
	for _, kv := range r.md {
		keys, vals = append(keys, kv[0]), append(vals, kv[1])
	}
	md := arrow.NewMetadata(keys, vals)
	schema := arrow.NewSchema(r.fields, &md)
	cols := make([]arrow.Array, len(r.cols))
	for i, c := range r.cols {
		cols[i] = c(mem)
	}
	defer releaseAll(cols)
	rec := array.NewRecordBatch(schema, cols, int64(r.nrows))
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := append([]ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(mem)}, r.ipcOpts...)
	if r.stream {
		w := ipc.NewWriter(f, opts...)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	w, err := ipc.NewFileWriter(f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r.patch[0] != nil {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		old, new := arrow.Int32Traits.CastToBytes(r.patch[0]), arrow.Int32Traits.CastToBytes(r.patch[1])
		if n := bytes.Count(b, old); n != 1 {
			t.Fatalf("patch: %v occurs %d times in the file, want once", r.patch[0], n)
		}
		if err := os.WriteFile(path, bytes.Replace(b, old, new, 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func i32s(vals ...int32) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewInt32Builder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
}

func i64s(vals ...int64) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
}

// f64s builds a float64 column; a nil valid makes every value valid.
func f64s(vals []float64, valid []bool) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.AppendValues(vals, valid)
		return b.NewArray()
	}
}

func bools(vals ...bool) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
}

func strs(vals ...string) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
}

// states builds a fixed_size_list<float64>[n] column of rows×n values
// 0, 1, 2, ...; nullRow >= 0 makes that row's first value null.
func states(rows, n, nullRow int) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewFixedSizeListBuilder(mem, int32(n), arrow.PrimitiveTypes.Float64)
		defer b.Release()
		vb := b.ValueBuilder().(*array.Float64Builder)
		for i := range rows {
			b.Append(true)
			for j := range n {
				if i == nullRow && j == 0 {
					vb.AppendNull()
				} else {
					vb.Append(float64(i*n + j))
				}
			}
		}
		return b.NewArray()
	}
}

// ensembleRaw is a valid 3×4 ensemble file, to be spoilt.
func ensembleRaw() raw {
	return raw{
		md: baseMD(KindEnsemble, [2]string{keyStateSize, "4"}),
		fields: []arrow.Field{
			{Name: "member", Type: arrow.PrimitiveTypes.Int32},
			{Name: "state", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float64)},
		},
		cols:  []func(memory.Allocator) arrow.Array{i32s(0, 1, 2), states(3, 4, -1)},
		nrows: 3,
	}
}

var obsFields = []arrow.Field{
	{Name: "index", Type: arrow.PrimitiveTypes.Int32},
	{Name: "position", Type: arrow.PrimitiveTypes.Float64},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64},
	{Name: "variance", Type: arrow.PrimitiveTypes.Float64},
	{Name: "flagged", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "flag_reason", Type: arrow.BinaryTypes.String},
}

// obsRaw is an observations file with the given columns, valid apart from
// what they hold.
func obsRaw(index []int32, value, variance []float64, flagged []bool, reasons []string) raw {
	pos := make([]float64, len(index))
	return raw{
		md:     baseMD(KindObservations),
		fields: obsFields,
		cols: []func(memory.Allocator) arrow.Array{
			i32s(index...), f64s(pos, nil), f64s(value, nil), f64s(variance, nil), bools(flagged...), strs(reasons...),
		},
		nrows: len(index),
	}
}

func diagRaw(cycles []int32, nobs, nflagged []int32) raw {
	return diagRawVersion(1, cycles, nobs, nflagged)
}

// diagRawVersion is a diagnostics table in the layout of schema version
// 1 or 2, with zero statistics and empty flags.
func diagRawVersion(version int, cycles []int32, nobs, nflagged []int32) raw {
	var fields []arrow.Field
	var cols []func(memory.Allocator) arrow.Array
	n := len(cycles)
	for _, c := range map[int][]column{1: diagColumnsV1, 2: diagColumnsV2}[version] {
		fields = append(fields, arrow.Field{Name: c.name, Type: c.typ})
		switch c.name {
		case "cycle":
			cols = append(cols, i32s(cycles...))
		case "n_obs":
			cols = append(cols, i32s(nobs...))
		case "n_flagged":
			cols = append(cols, i32s(nflagged...))
		case "batch_flag":
			cols = append(cols, strs(make([]string, n)...))
		default:
			cols = append(cols, f64s(make([]float64, n), nil))
		}
	}
	md := withMD(baseMD(KindDiagnostics), keySchemaVersion, strconv.Itoa(version))
	return raw{md: md, fields: fields, cols: cols, nrows: n}
}

// readAny reads path with the reader for kind and returns its error.
func readAny(kind Kind, path string, opts ...Option) error {
	var err error
	switch kind {
	case KindEnsemble:
		_, _, err = ReadEnsemble(path, opts...)
	case KindTruth:
		_, _, err = ReadVector(path, opts...)
	case KindObservations:
		_, _, err = ReadObservations(path, opts...)
	case KindDiagnostics:
		_, _, err = ReadDiagnostics(path, opts...)
	case KindArchive:
		_, _, err = ReadArchive(path, opts...)
	case KindGenerator, KindCheckpoint:
		_, _, err = ReadTensors(path, kind, opts...)
	default:
		panic("readAny: no reader for kind " + kind)
	}
	return err
}

// checkReadError checks that err is a read error naming path, matching
// ErrInvalid (or ErrNewerSchema if newer), and containing want.
func checkReadError(t *testing.T, err error, path, want string, newer bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("read succeeded, want an error containing %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "store: read "+path+": ") {
		t.Errorf("error %q does not start with %q", msg, "store: read "+path+": ")
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
	if newer {
		if !errors.Is(err, ErrNewerSchema) || errors.Is(err, ErrInvalid) {
			t.Errorf("error %q: want ErrNewerSchema, not ErrInvalid", msg)
		}
	} else if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not match ErrInvalid", msg)
	}
}

func TestReadMalformed(t *testing.T) {
	ens := ensembleRaw
	withEns := func(f func(r *raw)) raw { r := ens(); f(&r); return r }
	ok := []bool{false, false}
	none := []string{"", ""}
	for _, tc := range []struct {
		name  string
		kind  Kind // reader to use
		raw   raw
		want  string
		newer bool
	}{
		{"valid ensemble (control)", KindEnsemble, ens(), "", false},
		{"wrong kind", KindEnsemble, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, ok, none), `file kind is "observations", want "ensemble"`, false},
		{"ensemble read as truth", KindTruth, ens(), `file kind is "ensemble", want one of ["truth" "estimate"]`, false},
		{"ensemble read as observations", KindObservations, ens(), `file kind is "ensemble", want "observations"`, false},
		{"ensemble read as diagnostics", KindDiagnostics, ens(), `file kind is "ensemble", want "diagnostics"`, false},
		{"newer schema version", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keySchemaVersion, "5") }),
			"written with schema version 5, but this build of latentda reads schema versions up to 4", true},
		{"version 2 observations without scores", KindObservations, func() raw {
			r := obsRaw([]int32{0}, []float64{1}, []float64{1}, []bool{false}, []string{""})
			r.md = withMD(r.md, keySchemaVersion, "2")
			return r
		}(), `column "innovation_z" is missing`, false},
		{"newer schema version, new columns", KindObservations, raw{
			md:     withMD(baseMD(KindObservations), keySchemaVersion, "5"),
			fields: []arrow.Field{{Name: "x", Type: arrow.ListOf(arrow.PrimitiveTypes.Int8)}},
			cols: []func(memory.Allocator) arrow.Array{func(mem memory.Allocator) arrow.Array {
				b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int8)
				defer b.Release()
				b.Append(true)
				return b.NewArray()
			}},
			nrows: 1,
		}, "schema version 5", true},
		{"schema version 0", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keySchemaVersion, "0") }), "not a valid schema version", false},
		{"schema version text", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keySchemaVersion, "one") }), "is not an integer", false},
		{"no schema version", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keySchemaVersion, "<delete>") }), "not a latentda state file", false},
		{"no kind", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keyKind, "<delete>") }), `"latentda.kind" is missing or empty`, false},
		{"no state size", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keyStateSize, "<delete>") }), `"latentda.state_size" is missing`, false},
		{"bad state size", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keyStateSize, "-4") }), "is not a size", false},
		{"duplicate key", KindEnsemble, withEns(func(r *raw) { r.md = append(r.md, [2]string{keyRunID, "other"}) }), "appears more than once", false},
		{"unknown latentda key", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, "latentda.colour", "blue") }), `unknown metadata key "latentda.colour"`, false},
		{"foreign key is ignored", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, "pandas", "{}") }), "", false},
		{"time NaN", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keyTime, "NaN") }), "is not a finite number", false},
		{"negative cycle", KindEnsemble, withEns(func(r *raw) { r.md = withMD(r.md, keyCycle, "-1") }), "is not a cycle number", false},
		{"wrong list size", KindEnsemble, withEns(func(r *raw) {
			r.md = withMD(r.md, keyStateSize, "40")
			r.fields[1].Type = arrow.FixedSizeListOf(39, arrow.PrimitiveTypes.Float64)
			r.cols[1] = states(3, 39, -1)
		}), `column "state": want fixed_size_list<float64>[40], got fixed_size_list<float64>[39]`, false},
		{"list of float32", KindEnsemble, withEns(func(r *raw) {
			r.fields[1].Type = arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32)
			r.cols[1] = func(mem memory.Allocator) arrow.Array {
				b := array.NewFixedSizeListBuilder(mem, 4, arrow.PrimitiveTypes.Float32)
				defer b.Release()
				for range 3 {
					b.Append(true)
					b.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{1, 2, 3, 4}, nil)
				}
				return b.NewArray()
			}
		}), `column "state": want fixed_size_list<float64>[4], got fixed_size_list<float32>[4]`, false},
		{"member int64", KindEnsemble, withEns(func(r *raw) {
			r.fields[0].Type = arrow.PrimitiveTypes.Int64
			r.cols[0] = i64s(0, 1, 2)
		}), `column "member": want int32, got int64`, false},
		{"missing column", KindEnsemble, withEns(func(r *raw) { r.fields, r.cols = r.fields[1:], r.cols[1:] }), `column "member" is missing`, false},
		{"extra column", KindEnsemble, withEns(func(r *raw) {
			r.fields = append(r.fields, arrow.Field{Name: "weight", Type: arrow.PrimitiveTypes.Float64})
			r.cols = append(r.cols, f64s([]float64{1, 1, 1}, nil))
		}), `unexpected column "weight"`, false},
		{"columns in another order", KindEnsemble, withEns(func(r *raw) {
			r.fields[0], r.fields[1] = r.fields[1], r.fields[0]
			r.cols[0], r.cols[1] = r.cols[1], r.cols[0]
		}), "", false},
		{"members out of order", KindEnsemble, withEns(func(r *raw) { r.cols[0] = i32s(0, 2, 1) }), `row 1 holds member 2, want 1`, false},
		{"no members", KindEnsemble, withEns(func(r *raw) { r.cols = []func(memory.Allocator) arrow.Array{i32s(), states(0, 4, -1)}; r.nrows = 0 }), "no rows", false},
		{"null state value", KindEnsemble, withEns(func(r *raw) { r.cols[1] = states(3, 4, 2) }), `column "state": list values: null in row 8`, false},
		{"null member", KindEnsemble, withEns(func(r *raw) {
			r.cols[0] = func(mem memory.Allocator) arrow.Array {
				b := array.NewInt32Builder(mem)
				defer b.Release()
				b.AppendValues([]int32{0, 1, 2}, []bool{true, false, true})
				return b.NewArray()
			}
		}), `column "member": null in row 1`, false},
		{"stream format", KindEnsemble, withEns(func(r *raw) { r.stream = true }), "not an Arrow IPC file", false},
		{"compressed", KindEnsemble, withEns(func(r *raw) { r.ipcOpts = []ipc.Option{ipc.WithZstd()} }), "compressed Arrow files are not supported", false},
		{"unsupported type", KindEnsemble, withEns(func(r *raw) {
			r.fields = append(r.fields, arrow.Field{Name: "when", Type: arrow.FixedWidthTypes.Date32})
			r.cols = append(r.cols, func(mem memory.Allocator) arrow.Array {
				b := array.NewDate32Builder(mem)
				defer b.Release()
				b.AppendValues([]arrow.Date32{1, 2, 3}, nil)
				return b.NewArray()
			})
		}), `column "when": unsupported Arrow type`, false},

		{"vector with 2 rows", KindTruth, raw{
			md:     baseMD(KindTruth, [2]string{keyStateSize, "4"}),
			fields: []arrow.Field{{Name: "state", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float64)}},
			cols:   []func(memory.Allocator) arrow.Array{states(2, 4, -1)},
			nrows:  2,
		}, "vector file has 2 rows, want 1", false},

		{"observations (control)", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, []bool{false, true}, []string{"", "qc"}), "", false},
		{"NaN observation", KindObservations, obsRaw([]int32{0, 1}, []float64{1, math.NaN()}, []float64{1, 1}, ok, none), `row 1: column "value": NaN is not finite`, false},
		{"infinite observation", KindObservations, obsRaw([]int32{0, 1}, []float64{math.Inf(-1), 1}, []float64{1, 1}, ok, none), `row 0: column "value": -Inf is not finite`, false},
		{"zero variance", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 0}, ok, none), `row 1: column "variance": 0 is not a finite number > 0`, false},
		{"negative variance", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{-1, 1}, ok, none), `row 0: column "variance": -1 is not`, false},
		{"NaN variance", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, math.NaN()}, ok, none), `row 1: column "variance": NaN is not`, false},
		{"reason without flag", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, ok, []string{"", "why"}), `row 1: column "flag_reason"`, false},
		{"string offsets not monotonic", KindObservations, func() raw {
			// arrow-go's own ValidateFull panics on such offsets, and its
			// loader on offsets past the data (found by TestReadGarbage).
			r := obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, []bool{true, true}, []string{"", ""})
			r.cols[5] = func(mem memory.Allocator) arrow.Array {
				offsets := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 5, 2}))
				data := memory.NewBufferBytes([]byte("abcde"))
				d := array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, offsets, data}, nil, 0, 0)
				defer d.Release()
				return array.MakeFromData(d)
			}
			return r
		}(), "string offset 1 is 5, outside [0, 2]", false},
		{"index out of order", KindObservations, obsRaw([]int32{1, 0}, []float64{1, 2}, []float64{1, 1}, ok, none), `row 0: column "index": got 1, want 0`, false},

		{"diagnostics (control)", KindDiagnostics, diagRaw([]int32{0, 1}, []int32{4, 4}, []int32{0, 4}), "", false},
		{"cycles not increasing", KindDiagnostics, diagRaw([]int32{3, 3}, []int32{4, 4}, []int32{0, 0}), `row 1: column "cycle": 3 does not follow 3`, false},
		{"too many flagged", KindDiagnostics, diagRaw([]int32{0, 1}, []int32{4, 4}, []int32{0, 5}), `row 1: column "n_flagged": 5 out of range`, false},
		{"negative cycle row", KindDiagnostics, diagRaw([]int32{-1}, []int32{4}, []int32{0}), `row 0: column "cycle": -1 out of range`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cycles", "000012", "state.arrow")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.raw.write(t, path)
			err := readAny(tc.kind, path, checkedOpts(t)...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("control file: %v", err)
				}
				return
			}
			checkReadError(t, err, path, tc.want, tc.newer)
		})
	}
}

// validFiles writes one valid file of each kind into dir and returns the
// reader kind of each path.
func validFiles(t *testing.T, dir string) map[string]Kind {
	t.Helper()
	files := map[string]Kind{}
	p := filepath.Join(dir, "ensemble.arrow")
	if err := WriteEnsemble(p, testEnsemble(5, 8), testMeta(""), checkedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindEnsemble
	p = filepath.Join(dir, "truth.arrow")
	if err := WriteVector(p, specials, testMeta(""), checkedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindTruth
	p = filepath.Join(dir, "observations.arrow")
	if err := WriteObservations(p, testObservations(), testMeta(""), checkedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindObservations
	p = filepath.Join(dir, "diagnostics.arrow")
	if err := WriteDiagnostics(p, testDiag(4), testMeta(""), checkedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindDiagnostics
	p = filepath.Join(dir, "archive.arrow")
	if err := WriteArchive(p, testArchive(6, 5), testMeta(""), checkedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindArchive
	p = filepath.Join(dir, "generator.arrow")
	if err := WriteTensors(p, testTensors(), testMeta(KindGenerator), checkedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindGenerator
	p = filepath.Join(dir, "checkpoint.arrow")
	if err := WriteTensors(p, testTensors()[:2], testMeta(KindCheckpoint), checkedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindCheckpoint
	return files
}

func TestReadTruncated(t *testing.T) {
	dir := t.TempDir()
	for path, kind := range validFiles(t, dir) {
		full, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n := len(full)
		cuts := []int{0, 1, 6, 8, 9, 16, 64, n / 4, n / 2, 3 * n / 4, n - 64, n - 17, n - 11, n - 10, n - 9, n - 4, n - 1}
		for _, cut := range cuts {
			if cut < 0 || cut >= n {
				continue
			}
			bad := filepath.Join(dir, "truncated.arrow")
			if err := os.WriteFile(bad, full[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			err := readAny(kind, bad, checkedOpts(t)...)
			if err == nil {
				t.Errorf("%s cut to %d of %d bytes: read succeeded", filepath.Base(path), cut, n)
				continue
			}
			checkReadError(t, err, bad, "", false)
			if cut == 0 && !strings.Contains(err.Error(), "too small (empty or truncated file?)") {
				t.Errorf("empty file: %v", err)
			}
			if cut > 22 && !strings.Contains(err.Error(), "truncated file?") {
				t.Errorf("%s cut to %d of %d bytes: error does not suggest truncation: %v", filepath.Base(path), cut, n, err)
			}
		}
	}
}

func TestReadGarbage(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	files := validFiles(t, dir)
	for i := range 200 {
		b := make([]byte, rng.IntN(600))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%2 == 1 && len(b) > 20 { // random bytes with valid magic numbers
			copy(b, "ARROW1\x00\x00")
			copy(b[len(b)-6:], "ARROW1")
		}
		path := filepath.Join(dir, "garbage.arrow")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, kind := range files {
			checkReadError(t, readAny(kind, path, checkedOpts(t)...), path, "", false)
		}
	}
	// Single-byte corruptions of valid files: an error or a clean read,
	// never a panic or a leak.
	for path, kind := range files {
		full, _ := os.ReadFile(path)
		for range 300 {
			b := append([]byte(nil), full...)
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			bad := filepath.Join(dir, "flipped.arrow")
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := readAny(kind, bad, checkedOpts(t)...); err != nil {
				checkReadError(t, err, bad, "", errors.Is(err, ErrNewerSchema))
			}
		}
	}
}

func TestReadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.arrow")
	for _, kind := range []Kind{KindEnsemble, KindTruth, KindObservations, KindDiagnostics, KindArchive, KindGenerator, KindCheckpoint} {
		err := readAny(kind, path)
		if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "store: read "+path) {
			t.Errorf("%s: got %v", kind, err)
		}
	}
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.arrow")
	good := testObservations()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"empty ensemble", WriteEnsemble(p, &mat0, Meta{}), "empty ensemble"},
		{"nil ensemble", WriteEnsemble(p, nil, Meta{}), "empty ensemble"},
		{"wrong kind", WriteEnsemble(p, testEnsemble(2, 2), Meta{Kind: KindTruth}), `Kind is "truth"`},
		{"newer version", WriteEnsemble(p, testEnsemble(2, 2), Meta{SchemaVersion: 5}), "writes only schema version 4"},
		{"negative cycle", WriteVector(p, []float64{1}, Meta{Cycle: -1}), "Cycle -1 out of range"},
		{"infinite time", WriteVector(p, []float64{1}, Meta{Time: math.Inf(1)}), "Time +Inf is not finite"},
		{"empty param key", WriteVector(p, []float64{1}, Meta{Params: map[string]string{"": "x"}}), "Params has an empty key"},
		{"bad utf8", WriteVector(p, []float64{1}, Meta{Extra: map[string]string{"k": "\xff"}}), "not valid UTF-8"},
		{"empty vector", WriteVector(p, nil, Meta{}), "vector length 0"},
		{"vector kind", WriteVector(p, []float64{1}, Meta{Kind: KindEnsemble}), "not a vector kind"},
		{"length mismatch", WriteObservations(p, Observations{Values: []float64{1}}, Meta{}), "1 Values but 0 Variances"},
		{"flag length", WriteObservations(p, Observations{Values: good.Values, Variances: good.Variances, Positions: good.Positions, Flagged: []bool{true}}, Meta{}), "Flagged"},
		{"zero variance", WriteObservations(p, Observations{Values: []float64{1}, Variances: []float64{0}, Positions: []float64{0}}, Meta{}), `row 0: column "variance"`},
		{"NaN position", WriteObservations(p, Observations{Values: []float64{1}, Variances: []float64{1}, Positions: []float64{math.NaN()}}, Meta{}), `row 0: column "position"`},
		{"diag order", WriteDiagnostics(p, []DiagRow{{Cycle: 2}, {Cycle: 1}}, Meta{}), `row 1: column "cycle"`},
		{"diag time", WriteDiagnostics(p, []DiagRow{{Time: math.NaN()}}, Meta{}), `row 0: column "time"`},
	} {
		if tc.err == nil || !strings.HasPrefix(tc.err.Error(), "store: write "+p+": ") || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, tc.err, tc.want)
		}
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("failed writes left %v", names)
	}
}
