package arrowfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/latentda/latentda/store/internal/ipcverify"
)

// Option configures a reader or writer.
type Option func(*Options)

// Options are the settings an [Option] changes.
type Options struct {
	Mem memory.Allocator
	// Digest, if set, makes ReadPath read the whole file into memory first
	// and store the SHA-256 of exactly the bytes it parsed here, in hex.
	Digest *string
	// Stage, if set, makes WriteFile leave its file written but not
	// synced or renamed, here, for a caller that commits several files
	// together (CycleBatch.Commit).
	Stage *[]StagedFile
}

// StagedFile is a file written to its temporary file, to be put under path.
type StagedFile struct {
	File *AtomicFile
	Path string
}

// WithAllocator makes a reader or writer allocate its Arrow buffers from
// mem (the default is memory.DefaultAllocator). Every buffer is released
// before the function returns, so a memory.CheckedAllocator is back to zero
// afterwards; tests use that to check for leaks.
func WithAllocator(mem memory.Allocator) Option {
	return func(o *Options) {
		if mem != nil {
			o.Mem = mem
		}
	}
}

// WithDigest makes ReadPath store the SHA-256 of the bytes it read, in
// hex, in *d: the digest belongs to the data returned even if the file is
// replaced while it is read.
func WithDigest(d *string) Option {
	return func(o *Options) { o.Digest = d }
}

// BuildOptions applies opts to the defaults.
func BuildOptions(opts []Option) Options {
	o := Options{Mem: memory.DefaultAllocator}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WriteFile writes one record batch of cols, carrying their checksum
// (NewRecord), as an Arrow IPC file, atomically (or, with o.stage, leaves
// it staged).
func WriteFile(path string, o Options, schema *arrow.Schema, cols []arrow.Array, nrows int) error {
	rec, err := NewRecord(schema, cols, nrows)
	if err != nil {
		return WriteErr(path, err)
	}
	defer rec.Release()
	return writeRecord(path, o, schema, rec)
}

// writeRecord writes rec as an Arrow IPC file, atomically (or staged).
func writeRecord(path string, o Options, schema *arrow.Schema, rec arrow.RecordBatch) error {
	encode := func(w io.Writer) error {
		fw, err := ipc.NewFileWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(o.Mem))
		if err != nil {
			return err
		}
		if err := fw.Write(rec); err != nil {
			_ = fw.Close()
			return err
		}
		return fw.Close()
	}
	var err error
	if o.Stage == nil {
		err = WriteAtomic(path, encode)
	} else {
		err = Stage(path, o.Stage, encode)
	}
	if err != nil {
		return WriteErr(path, err)
	}
	return nil
}

// Stage writes a file with write to its temporary file and adds it to
// staged.
func Stage(path string, staged *[]StagedFile, write func(w io.Writer) error) error {
	af, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	if err := write(af); err != nil {
		af.Abort()
		return err
	}
	*staged = append(*staged, StagedFile{File: af, Path: path})
	return nil
}

// FileSpec says what a reader expects of a file.
type FileSpec struct {
	Kinds    []Kind   // accepted values of latentda.kind
	DataKeys []string // required kind-specific metadata keys
	// columns returns the expected columns, given the file's schema
	// version and decoded metadata.
	Columns func(version int, data map[string]string) ([]Column, error)
}

// Column is an expected column: its name and exact type.
type Column struct {
	Name string
	Type arrow.DataType
}

// Table is a file's content as read: its metadata and record batches (a
// file written by latentda has one; one rewritten by another tool may
// have several, or none if it has no rows). idx maps column names to their
// index in the schema. Release it when done.
type Table struct {
	Meta Meta
	Data map[string]string
	Idx  map[string]int
	Recs []arrow.RecordBatch
}

// Release releases the record batches.
func (t *Table) Release() {
	for _, r := range t.Recs {
		r.Release()
	}
	t.Recs = nil
}

// NumRows is the number of rows in all the record batches.
func (t *Table) NumRows() int64 {
	var n int64
	for _, r := range t.Recs {
		n += r.NumRows()
	}
	return n
}

// Reader reads one kind of file from r, which holds size bytes.
type Reader[T any] func(r ipc.ReadAtSeeker, size int64, o Options) (T, Meta, error)

// ReadPath opens the file at path and reads it with read, wrapping any error
// with the path.
func ReadPath[T any](path string, opts []Option, read Reader[T]) (T, Meta, error) {
	var zero T
	f, size, err := OpenRegular(path)
	if err != nil {
		return zero, Meta{}, ReadErr(path, err)
	}
	defer f.Close()
	o := BuildOptions(opts)
	var r ipc.ReadAtSeeker = f
	var data []byte
	if o.Digest != nil {
		data = make([]byte, size)
		if _, err := io.ReadFull(f, data); err != nil {
			return zero, Meta{}, ReadErr(path, fmt.Errorf("the file changed while it was read: %w", err))
		}
		r = NewMemFile(data)
	}
	v, meta, err := read(r, size, o)
	if err != nil {
		return zero, Meta{}, ReadErr(path, err)
	}
	if o.Digest != nil {
		sum := sha256.Sum256(data)
		*o.Digest = hex.EncodeToString(sum[:])
	}
	return v, meta, nil
}

// ReadMappedPath is ReadPath for readers that copy everything they return
// out of the table (ensembles, vectors, archives): it maps the file into
// memory and arrow-go's record batches point into the mapping, so the data
// is copied once, into the result, rather than read into Arrow buffers
// first. Where mapping is not available it reads the file like ReadPath.
//
// With a digest asked for (WithDigest) it is ReadPath.
//
// Files are replaced by rename, never rewritten in place, so a mapping
// stays valid; should a file be truncated under the reader anyway, the
// access fault becomes an error rather than a crash.
func ReadMappedPath[T any](path string, opts []Option, read Reader[T]) (v T, meta Meta, err error) {
	if BuildOptions(opts).Digest != nil {
		return ReadPath(path, opts, read)
	}
	f, size, err := OpenRegular(path)
	if err != nil {
		return v, Meta{}, ReadErr(path, err)
	}
	defer f.Close()
	data, unmap, err := MapFile(f, size)
	if err != nil {
		// Not mappable here (or empty): read it.
		v, meta, err = read(f, size, BuildOptions(opts))
	} else {
		defer unmap()
		v, meta, err = ReadGuarded(NewMemFile(data), size, BuildOptions(opts), read)
	}
	if err != nil {
		var zero T
		return zero, Meta{}, ReadErr(path, err)
	}
	return v, meta, nil
}

// ReadGuarded runs read, turning a memory access fault (a mapped file that
// shrank) into an error.
func ReadGuarded[T any](r ipc.ReadAtSeeker, size int64, o Options, read Reader[T]) (v T, meta Meta, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if _, fault := p.(interface{ Addr() uintptr }); !fault {
				panic(p)
			}
			var zero T
			v, meta, err = zero, Meta{}, fmt.Errorf("the file changed while it was read: %v", p)
		}
	}()
	return read(r, size, o)
}

// OpenRegular opens path for reading and returns its size; it must be a
// regular file.
func OpenRegular(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("not a regular file (mode %v)", fi.Mode())
	}
	return f, fi.Size(), nil
}

// MemFile is a whole file held in memory: a read-only mapping of it, or a
// byte slice in tests. ReadTable gives its bytes to arrow-go's mapped
// reader, whose buffers then point into them instead of being copies.
type MemFile struct {
	*bytes.Reader
	data []byte
}

// NewMemFile reads data as a file held in memory.
func NewMemFile(data []byte) *MemFile { return &MemFile{Reader: bytes.NewReader(data), data: data} }

// ReadTable verifies and reads the size bytes of a state file from f: its
// structure, metadata, columns, and the checksums of its record batches
// (see KeyChecksum).
func ReadTable(f ipc.ReadAtSeeker, size int64, o Options, spec FileSpec) (*Table, error) {
	// Check the structure before arrow-go reads it (package store/internal/ipcverify). The
	// schema version is judged first: a file from a newer version is
	// reported as such, whatever else is new in it.
	v, err := ipcverify.Footer(f, size)
	if err != nil {
		return nil, Verified(err)
	}
	t := &Table{}
	if t.Meta, t.Data, err = DecodeMeta(v.Metadata, spec.Kinds, spec.DataKeys); err != nil {
		return nil, err
	}
	if err := v.Columns(); err != nil {
		return nil, Verified(err)
	}
	if err := v.Batches(f); err != nil {
		return nil, Verified(err)
	}

	// Bodies are bounded by the file size, checked above; arrow-go's own
	// default limit (256 MiB) would reject large ensembles.
	var r *ipc.FileReader
	if m, ok := f.(*MemFile); ok && int64(len(m.data)) == size {
		r, err = ipc.NewMappedFileReader(m.data, ipc.WithAllocator(o.Mem), ipc.WithBodySizeLimit(0))
	} else {
		r, err = ipc.NewFileReader(f, ipc.WithAllocator(o.Mem), ipc.WithBodySizeLimit(0))
	}
	if err != nil {
		return nil, &InvalidError{Err: err}
	}
	defer r.Close()
	want, err := spec.Columns(t.Meta.SchemaVersion, t.Data)
	if err != nil {
		return nil, err
	}
	if t.Idx, err = checkColumns(r.Schema(), want); err != nil {
		return nil, err
	}
	for i := range r.NumRecords() {
		rec, err := r.RecordBatchAt(i)
		if err != nil {
			t.Release()
			return nil, &InvalidError{Err: fmt.Errorf("record batch %d: %w", i, err)}
		}
		t.Recs = append(t.Recs, rec)
		if err := array.ValidateRecordFull(rec); err != nil {
			t.Release()
			return nil, &InvalidError{Err: fmt.Errorf("record batch %d: %w", i, err)}
		}
		for c, col := range rec.Columns() {
			if int64(col.Len()) != rec.NumRows() {
				t.Release()
				return nil, Invalidf("column %q: %d rows in a batch of %d", rec.ColumnName(c), col.Len(), rec.NumRows())
			}
			if err := noNulls(col); err != nil {
				t.Release()
				return nil, Invalidf("column %q: %v", rec.ColumnName(c), err)
			}
		}
	}
	if err := verifyChecksums(t); err != nil {
		t.Release()
		return nil, err
	}
	return t, nil
}

// Verified marks a structural problem that package ipcverify found as an
// invalid file (ErrInvalid), with its message; a failure to read the file
// stays as it is.
func Verified(err error) error {
	if errors.Is(err, ipcverify.ErrInvalid) {
		return &InvalidError{Err: err}
	}
	return err
}

// noNulls reports an error if arr or, for lists, its values hold a null.
func noNulls(arr arrow.Array) error {
	if arr.NullN() > 0 {
		for i := range arr.Len() {
			if arr.IsNull(i) {
				return fmt.Errorf("null in row %d (nulls are not allowed)", i)
			}
		}
	}
	if l, ok := arr.(interface{ ListValues() arrow.Array }); ok { // list, fixed_size_list
		if err := noNulls(l.ListValues()); err != nil {
			return fmt.Errorf("list values: %w", err)
		}
	}
	return nil
}

// checkColumns checks that schema has exactly the wanted columns, in any
// order, and returns their indices by name.
func checkColumns(schema *arrow.Schema, want []Column) (map[string]int, error) {
	idx := make(map[string]int, len(want))
	for i, f := range schema.Fields() {
		if _, dup := idx[f.Name]; dup {
			return nil, Invalidf("column %q appears more than once", f.Name)
		}
		idx[f.Name] = i
	}
	for _, c := range want {
		i, ok := idx[c.Name]
		if !ok {
			return nil, Invalidf("column %q is missing", c.Name)
		}
		if got := schema.Field(i).Type; !sameType(c.Type, got) {
			return nil, Invalidf("column %q: want %s, got %s", c.Name, typeString(c.Type), typeString(got))
		}
	}
	if len(idx) != len(want) {
	next:
		for _, f := range schema.Fields() {
			for _, c := range want {
				if c.Name == f.Name {
					continue next
				}
			}
			return nil, Invalidf("unexpected column %q", f.Name)
		}
	}
	return idx, nil
}

// sameType compares types ignoring field names and nullability flags (a
// column without nulls reads the same either way).
func sameType(want, got arrow.DataType) bool {
	if want.ID() != got.ID() {
		return false
	}
	switch w := want.(type) {
	case *arrow.FixedSizeListType:
		g, ok := got.(*arrow.FixedSizeListType)
		return ok && w.Len() == g.Len() && sameType(w.Elem(), g.Elem())
	case *arrow.ListType:
		// pyarrow names the element field "item" and makes it nullable,
		// other writers call it "element": all read the same.
		g, ok := got.(*arrow.ListType)
		return ok && sameType(w.Elem(), g.Elem())
	}
	return arrow.TypeEqual(want, got)
}

// typeString formats a type briefly: int32, float64, list<int32>,
// fixed_size_list<float64>[40].
func typeString(t arrow.DataType) string {
	switch l := t.(type) {
	case *arrow.FixedSizeListType:
		return fmt.Sprintf("fixed_size_list<%s>[%d]", typeString(l.Elem()), l.Len())
	case *arrow.ListType:
		return fmt.Sprintf("list<%s>", typeString(l.Elem()))
	}
	return t.String()
}

// StateType is the type of a "state" column: one float64 per grid point.
func StateType(n int) *arrow.FixedSizeListType {
	return arrow.FixedSizeListOfNonNullable(int32(n), arrow.PrimitiveTypes.Float64)
}

// Column builders. Buffers are allocated from mem and fully written
// (allocators need not zero memory), so that the same values always give
// the same bytes.

// NewBuffer allocates a zeroed buffer of nbytes from mem.
func NewBuffer(mem memory.Allocator, nbytes int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(nbytes)
	clear(b.Bytes())
	return b
}

// newArray makes an array of type dt and length n from buffers (which it
// takes over) and children.
func newArray(dt arrow.DataType, n int, buffers []*memory.Buffer, children []arrow.ArrayData) arrow.Array {
	d := array.NewData(dt, n, buffers, children, 0, 0)
	for _, b := range buffers {
		if b != nil {
			b.Release()
		}
	}
	defer d.Release()
	return array.MakeFromData(d)
}

// Int32Column builds an int32 column of n values value(i).
func Int32Column(mem memory.Allocator, n int, value func(i int) int32) arrow.Array {
	buf := NewBuffer(mem, n*arrow.Int32SizeBytes)
	vals := arrow.Int32Traits.CastFromBytes(buf.Bytes())
	for i := range vals {
		vals[i] = value(i)
	}
	return newArray(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{nil, buf}, nil)
}

// Float64Column builds a float64 column of n values value(i).
func Float64Column(mem memory.Allocator, n int, value func(i int) float64) arrow.Array {
	buf := NewBuffer(mem, n*arrow.Float64SizeBytes)
	vals := arrow.Float64Traits.CastFromBytes(buf.Bytes())
	for i := range vals {
		vals[i] = value(i)
	}
	return newArray(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{nil, buf}, nil)
}

// BoolColumn builds a boolean column of vals.
func BoolColumn(mem memory.Allocator, vals []bool) arrow.Array {
	buf := NewBuffer(mem, (len(vals)+7)/8)
	b := buf.Bytes()
	for i, v := range vals {
		if v {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return newArray(arrow.FixedWidthTypes.Boolean, len(vals), []*memory.Buffer{nil, buf}, nil)
}

// StringColumn builds a utf8 column; the caller has checked that the total
// length fits in int32 offsets.
func StringColumn(mem memory.Allocator, vals []string) arrow.Array {
	total := 0
	for _, s := range vals {
		total += len(s)
	}
	offBuf := NewBuffer(mem, (len(vals)+1)*arrow.Int32SizeBytes)
	offs := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
	dataBuf := NewBuffer(mem, total)
	data := dataBuf.Bytes()
	pos := 0
	for i, s := range vals {
		offs[i] = int32(pos)
		pos += copy(data[pos:], s)
	}
	offs[len(vals)] = int32(pos)
	return newArray(arrow.BinaryTypes.String, len(vals), []*memory.Buffer{nil, offBuf, dataBuf}, nil)
}

// StateColumn builds a fixed_size_list<float64>[n] column of rows rows over
// values (rows*n float64s, which it takes over).
func StateColumn(rows, n int, values *memory.Buffer) arrow.Array {
	child := array.NewData(arrow.PrimitiveTypes.Float64, rows*n, []*memory.Buffer{nil, values}, nil, 0, 0)
	values.Release()
	defer child.Release()
	return newArray(StateType(n), rows, []*memory.Buffer{nil}, []arrow.ArrayData{child})
}

// ListColumn builds a list<elem> column of rows rows from offsets (rows+1
// int32s, 0 first and nvalues last) and values (nvalues values of the
// fixed-width type elem), taking over both buffers.
func ListColumn(elem arrow.DataType, rows int, offsets *memory.Buffer, nvalues int, values *memory.Buffer) arrow.Array {
	child := array.NewData(elem, nvalues, []*memory.Buffer{nil, values}, nil, 0, 0)
	values.Release()
	defer child.Release()
	return newArray(arrow.ListOfNonNullable(elem), rows, []*memory.Buffer{nil, offsets}, []arrow.ArrayData{child})
}

// ReleaseAll releases arrays.
func ReleaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}

// ColumnAs returns column name of rec as type T. The column's type has been
// checked by checkColumns; the check here only keeps a mistake in a
// reader from turning into a panic.
func ColumnAs[T arrow.Array](t *Table, rec arrow.RecordBatch, name string) (T, error) {
	a, ok := rec.Column(t.Idx[name]).(T)
	if !ok {
		var zero T
		return zero, Invalidf("column %q: unexpected array type %T", name, rec.Column(t.Idx[name]))
	}
	return a, nil
}
