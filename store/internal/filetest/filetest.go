// Package filetest holds what the tests of store and store/trainfile share:
// files written straight with arrow-go to make malformed inputs ([Raw]),
// test values and metadata, allocators that check for leaks, and the
// checks of the fuzz targets. Only tests import it.
package filetest

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"gonum.org/v1/gonum/mat"
)

// Mat0 is an empty matrix.
var Mat0 mat.Dense

// Raw describes a file written straight with arrow-go, bypassing the
// writers' checks, to make malformed files.
type Raw struct {
	MD     [][2]string // schema metadata, in order
	Fields []arrow.Field
	// Cols builds the columns; nil entries are left out with their field.
	Cols  []func(mem memory.Allocator) arrow.Array
	NRows int
	// IPCOpts are extra options of the ipc writer; Stream writes the IPC
	// stream format instead of the file format.
	IPCOpts []ipc.Option
	Stream  bool
	// Patch, if set, replaces the one occurrence of the int32s Patch[0] in
	// the written file with Patch[1], to make what arrow-go does not write.
	Patch [2][]int32
	// RecMD, if set, writes the columns as len(RecMD) record batches
	// with these custom metadata (the value Computed stands for the
	// columns' checksum); otherwise as one record batch without.
	RecMD [][][2]string
}

// Computed, as a value in Raw.RecMD, is replaced by the checksum of the
// columns.
const Computed = "<computed>"

func BaseMD(kind arrowfile.Kind, extra ...[2]string) [][2]string {
	md := [][2]string{
		{arrowfile.KeySchemaVersion, "1"}, {arrowfile.KeyKind, string(kind)}, {arrowfile.KeyRunID, "r"}, {arrowfile.KeyModel, "m"},
		{arrowfile.KeyCycle, "12"}, {arrowfile.KeyTime, "0.5"}, {arrowfile.KeyParamPrefix + "nx", "4"},
	}
	return append(md, extra...)
}

// WithMD returns md with key set to value (appended if absent; removed if
// value is "<delete>").
func WithMD(md [][2]string, key, value string) [][2]string {
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

func (r Raw) Write(t *testing.T, path string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var keys, vals []string
	for _, kv := range r.MD {
		keys, vals = append(keys, kv[0]), append(vals, kv[1])
	}
	md := arrow.NewMetadata(keys, vals)
	schema := arrow.NewSchema(r.Fields, &md)
	cols := make([]arrow.Array, len(r.Cols))
	for i, c := range r.Cols {
		cols[i] = c(mem)
	}
	defer arrowfile.ReleaseAll(cols)
	recs := []arrow.RecordBatch{array.NewRecordBatch(schema, cols, int64(r.NRows))}
	if r.RecMD != nil {
		recs[0].Release()
		recs = recs[:0]
		sum, err := arrowfile.Checksum(cols)
		if err != nil {
			t.Fatal(err)
		}
		for _, md := range r.RecMD {
			var keys, vals []string
			for _, kv := range md {
				if kv[1] == Computed {
					kv[1] = arrowfile.FormatChecksum(sum)
				}
				keys, vals = append(keys, kv[0]), append(vals, kv[1])
			}
			recs = append(recs, array.NewRecordBatchWithMetadata(schema, cols, int64(r.NRows), arrow.NewMetadata(keys, vals)))
		}
	}
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := append([]ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(mem)}, r.IPCOpts...)
	if r.Stream {
		w := ipc.NewWriter(f, opts...)
		for _, rec := range recs {
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
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
	for _, rec := range recs {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Patch[0] != nil {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		old, new := arrow.Int32Traits.CastToBytes(r.Patch[0]), arrow.Int32Traits.CastToBytes(r.Patch[1])
		if n := bytes.Count(b, old); n != 1 {
			t.Fatalf("patch: %v occurs %d times in the file, want once", r.Patch[0], n)
		}
		if err := os.WriteFile(path, bytes.Replace(b, old, new, 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func I32s(vals ...int32) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewInt32Builder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
}

func I64s(vals ...int64) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
}

// F64s builds a float64 column; a nil valid makes every value valid.
func F64s(vals []float64, valid []bool) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.AppendValues(vals, valid)
		return b.NewArray()
	}
}

func Bools(vals ...bool) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
}

func Strs(vals ...string) func(memory.Allocator) arrow.Array {
	return func(mem memory.Allocator) arrow.Array {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
}

// States builds a fixed_size_list<float64>[n] column of rows×n values
// 0, 1, 2, ...; nullRow >= 0 makes that row's first value null.
func States(rows, n, nullRow int) func(memory.Allocator) arrow.Array {
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

// CheckReadError checks that err is a read error naming path, matching
// ErrInvalid (or ErrNewerSchema if newer), and containing want.
func CheckReadError(t *testing.T, err error, path, want string, newer bool) {
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
		if !errors.Is(err, arrowfile.ErrNewerSchema) || errors.Is(err, arrowfile.ErrInvalid) {
			t.Errorf("error %q: want ErrNewerSchema, not ErrInvalid", msg)
		}
	} else if !errors.Is(err, arrowfile.ErrInvalid) {
		t.Errorf("error %q does not match ErrInvalid", msg)
	}
}

// Specials are values whose bits must survive a round trip.
var Specials = []float64{
	0, math.Copysign(0, -1), 1, -1,
	math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, // denormal
	0x1p-1022, // smallest normal
	math.MaxFloat64, -math.MaxFloat64,
	1e-300, 1e300, math.Pi, -math.E, 1.0 / 3,
}

// NonFinite may be stored in ensembles and diagnostics, not observations.
var NonFinite = []float64{math.Inf(1), math.Inf(-1), math.NaN(), math.Float64frombits(0x7ff8dead0000beef)}

func CheckedOpts(t testing.TB) []arrowfile.Option {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return []arrowfile.Option{arrowfile.WithAllocator(mem)}
}

func TestMeta(kind arrowfile.Kind) arrowfile.Meta {
	return arrowfile.Meta{
		Kind:   kind,
		RunID:  "run-42",
		Model:  "lorenz96",
		Params: map[string]string{"nx": "40", "F": "8", "dt": "0.05", "unicode: Δt": "½"},
		Cycle:  12,
		Time:   0.6000000000000001,
		Extra:  map[string]string{"filter": "letkf", "note": "a=b;c\nd"},
	}
}

// WantMeta is what a reader returns for a file written with m.
func WantMeta(m arrowfile.Meta, kind arrowfile.Kind) arrowfile.Meta {
	m.SchemaVersion = arrowfile.SchemaVersion
	m.Kind = kind
	if len(m.Params) == 0 {
		m.Params = nil
	}
	if len(m.Extra) == 0 {
		m.Extra = nil
	}
	return m
}

func SameBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s[%d]: got %v (%#x), want %v (%#x)", what, i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
		}
	}
}

func TestEnsemble(N, n int) *mat.Dense {
	vals := append(append([]float64{}, Specials...), NonFinite...)
	E := mat.NewDense(N, n, nil)
	for i := range N {
		for j := range n {
			k := i*n + j
			v := vals[k%len(vals)]
			if k >= len(vals) {
				v = float64(k)*0.37 - 11
			}
			E.Set(i, j, v)
		}
	}
	return E
}

// ListDir returns the names in dir.
func ListDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// SeedFiles adds the bytes of valid files written by write, and of a few
// damaged copies, to the corpus.
func SeedFiles(f *testing.F, write func(path string) error) {
	f.Helper()
	path := filepath.Join(f.TempDir(), "seed.arrow")
	if err := write(path); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	flipped := bytes.Clone(b) // one bit of the data: its checksum tells
	flipped[len(b)/2] ^= 1
	f.Add(flipped)
	f.Add(b[:len(b)/2])
	f.Add(b[:len(b)-1])
	f.Add([]byte{})
	f.Add([]byte("ARROW1\x00\x00ARROW1"))
}

// CheckErr fails unless err is nil or classified.
func CheckErr(t *testing.T, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	if !errors.Is(err, arrowfile.ErrInvalid) && !errors.Is(err, arrowfile.ErrNewerSchema) {
		t.Fatalf("unclassified error: %v", err)
	}
	return false
}

// Rewrite writes a value read from fuzz input with write, reads it back
// with read and checks both the value (via same) and, by writing again,
// that the bytes are deterministic.
func Rewrite[T any](t *testing.T, v T, meta arrowfile.Meta,
	write func(path string, v T, meta arrowfile.Meta, opts ...arrowfile.Option) error,
	read func(path string, opts ...arrowfile.Option) (T, arrowfile.Meta, error),
	same func(a, b T) bool) {
	t.Helper()
	opts := CheckedOpts(t)
	dir := FastTempDir(t)
	p1, p2 := filepath.Join(dir, "1.arrow"), filepath.Join(dir, "2.arrow")
	if err := write(p1, v, meta, opts...); err != nil {
		t.Fatalf("writing back what was read: %v", err)
	}
	got, gotMeta, err := read(p1, opts...)
	if err != nil {
		t.Fatalf("reading back what was written: %v", err)
	}
	if !same(v, got) {
		t.Fatalf("value changed on rewrite:\n was %v\n now %v", v, got)
	}
	if !reflect.DeepEqual(meta, gotMeta) {
		t.Fatalf("meta changed on rewrite:\n was %+v\n now %+v", meta, gotMeta)
	}
	if err := write(p2, got, gotMeta, opts...); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) {
		t.Fatal("writing the same value twice gave different bytes")
	}
}

// FastTempDir is a temporary directory in memory (/dev/shm) where there is
// one, so that the fsyncs of the writers cost nothing and the fuzzer runs
// (and minimises) quickly; else t.TempDir().
func FastTempDir(t *testing.T) string {
	if dir, err := os.MkdirTemp("/dev/shm", "latentda-store-fuzz-"); err == nil {
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		return dir
	}
	return t.TempDir()
}

func BitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// EnsembleRaw is a valid 3×4 ensemble file, to be spoilt.
func EnsembleRaw() Raw {
	return Raw{
		MD: BaseMD("ensemble", [2]string{arrowfile.KeyStateSize, "4"}),
		Fields: []arrow.Field{
			{Name: "member", Type: arrow.PrimitiveTypes.Int32},
			{Name: "state", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float64)},
		},
		Cols:  []func(memory.Allocator) arrow.Array{I32s(0, 1, 2), States(3, 4, -1)},
		NRows: 3,
	}
}

// With returns r changed by f.
func (r Raw) With(f func(r *Raw)) Raw { f(&r); return r }
