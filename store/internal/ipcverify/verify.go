// Package ipcverify checks the structure of an untrusted Arrow IPC file
// before arrow-go decodes it.
//
// arrow-go (v18) decodes the flatbuffers of an IPC file without bounds
// checks: a truncated or corrupt footer, schema or message header makes it
// index past the end of a slice. Package store's readers must report such
// files as errors, never panic, and must not rely on recover. So before a
// file is handed to ipc.NewFileReader, [Footer], [File.Columns] and
// [File.Batches] walk every flatbuffer table, vector and string that
// arrow-go will read, with explicit bounds checks, and check that the
// record batches' nodes and buffers fit the schema and the message bodies,
// and that the record batches fill the file (none is left out of the
// footer).
// They accept only what package store writes: little endian, uncompressed,
// no dictionaries, and the column types int, float, bool, utf8, and list
// and fixed_size_list of those. Every problem found is an error matching
// [ErrInvalid]; a failure to read the bytes is returned as it is.
//
// The field slots below are the vtable offsets of the tables in Arrow's
// Schema.fbs, File.fbs and Message.fbs (slot 4 is the first field, 6 the
// second, and so on).
package ipcverify

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

const (
	maxFooterSize  = 16 << 20 // our footers are a few hundred bytes
	maxMessageSize = 16 << 20 // likewise record batch headers
	maxNesting     = 4        // list and fixed_size_list nesting depth accepted

	fbTypeInt           = 2
	fbTypeFloatingPoint = 3
	fbTypeUtf8          = 5
	fbTypeBool          = 6
	fbTypeList          = 12
	fbTypeFixedSizeList = 16

	fbHeaderRecordBatch = 3

	leadingMagicLen = 8  // "ARROW1" and two bytes of padding
	trailerLen      = 10 // int32 footer length and "ARROW1"
	blockSize       = 24 // struct Block { offset: long; metaDataLength: int; bodyLength: long }
	fieldNodeSize   = 16 // struct FieldNode { length: long; null_count: long }
	bufferSize      = 16 // struct Buffer { offset: long; length: long }
)

var arrowMagic = []byte("ARROW1")

// ErrInvalid is matched (with errors.Is) by every error that reports a
// malformed or unsupported file.
var ErrInvalid = errors.New("ipcverify: invalid Arrow IPC file")

// invalidError marks err as describing an invalid file without changing
// its message.
type invalidError struct{ err error }

func (e *invalidError) Error() string        { return e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{err: fmt.Errorf(format, args...)}
}

// KeyValue is one custom metadata entry of a schema.
type KeyValue struct{ Key, Value string }

// corruptf reports corrupt Arrow metadata.
func corruptf(format string, args ...any) error {
	return invalidf("corrupt Arrow IPC file: "+format, args...)
}

// fbuf is a flatbuffer with bounds-checked little-endian reads.
type fbuf []byte

func (b fbuf) has(off, n int64) bool {
	return off >= 0 && n >= 0 && off <= int64(len(b)) && n <= int64(len(b))-off
}

func (b fbuf) u16(off int64) (uint16, bool) {
	if !b.has(off, 2) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b[off:]), true
}

func (b fbuf) u32(off int64) (uint32, bool) {
	if !b.has(off, 4) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[off:]), true
}

func (b fbuf) i64(off int64) (int64, bool) {
	if !b.has(off, 8) {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(b[off:])), true
}

// fbTable is a flatbuffer table whose vtable has been checked to lie inside
// the buffer.
type fbTable struct {
	b     fbuf
	pos   int64 // table start
	vt    int64 // vtable start
	vtLen int64 // vtable length in bytes
	what  string
}

// table checks the table at pos, as flatbuffers' Table.Offset will use it.
func (b fbuf) table(pos int64, what string) (fbTable, error) {
	soff, ok := b.u32(pos)
	if !ok {
		return fbTable{}, corruptf("%s: table at offset %d is out of bounds", what, pos)
	}
	vt := pos - int64(int32(soff))
	vtLen, ok := b.u16(vt)
	if !ok || vtLen < 4 || !b.has(vt, int64(vtLen)) {
		return fbTable{}, corruptf("%s: bad vtable at offset %d", what, vt)
	}
	return fbTable{b: b, pos: pos, vt: vt, vtLen: int64(vtLen), what: what}, nil
}

// root is the table a flatbuffer's first four bytes point to.
func (b fbuf) root(what string) (fbTable, error) {
	off, ok := b.u32(0)
	if !ok {
		return fbTable{}, corruptf("%s: too short (%d bytes)", what, len(b))
	}
	return b.table(int64(off), what)
}

// field returns the absolute position of the field in vtable slot, or 0 if
// the table does not have it.
func (t fbTable) field(slot int64) (int64, error) {
	if slot >= t.vtLen {
		return 0, nil
	}
	o, ok := t.b.u16(t.vt + slot)
	if !ok {
		return 0, corruptf("%s: vtable entry %d is out of bounds", t.what, slot)
	}
	if o == 0 {
		return 0, nil
	}
	return t.pos + int64(o), nil
}

// scalar returns the position of a size-byte scalar field, 0 if absent.
func (t fbTable) scalar(slot, size int64, name string) (int64, error) {
	p, err := t.field(slot)
	if err != nil || p == 0 {
		return 0, err
	}
	if !t.b.has(p, size) {
		return 0, corruptf("%s: field %s is out of bounds", t.what, name)
	}
	return p, nil
}

func (t fbTable) int16(slot int64, name string) (int16, error) {
	p, err := t.scalar(slot, 2, name)
	if err != nil || p == 0 {
		return 0, err
	}
	v, _ := t.b.u16(p)
	return int16(v), nil
}

func (t fbTable) int32(slot int64, name string) (int32, error) {
	p, err := t.scalar(slot, 4, name)
	if err != nil || p == 0 {
		return 0, err
	}
	v, _ := t.b.u32(p)
	return int32(v), nil
}

func (t fbTable) int64(slot int64, name string) (int64, error) {
	p, err := t.scalar(slot, 8, name)
	if err != nil || p == 0 {
		return 0, err
	}
	v, _ := t.b.i64(p)
	return v, nil
}

func (t fbTable) uint8(slot int64, name string) (uint8, error) {
	p, err := t.scalar(slot, 1, name)
	if err != nil || p == 0 {
		return 0, err
	}
	return t.b[p], nil
}

// ref follows the offset stored in slot (a table, vector, string or union)
// and returns the position it points to; ok is false if the field is absent.
func (t fbTable) ref(slot int64, name string) (pos int64, ok bool, err error) {
	p, err := t.scalar(slot, 4, name)
	if err != nil || p == 0 {
		return 0, false, err
	}
	u, _ := t.b.u32(p)
	pos = p + int64(u)
	if pos >= int64(len(t.b)) {
		return 0, false, corruptf("%s: field %s points out of bounds", t.what, name)
	}
	return pos, true, nil
}

// vector returns the start and length of the vector in slot, whose
// elements are elemSize bytes each.
func (t fbTable) vector(slot, elemSize int64, name string) (start, n int64, ok bool, err error) {
	p, ok, err := t.ref(slot, name)
	if err != nil || !ok {
		return 0, 0, false, err
	}
	u, okLen := t.b.u32(p)
	start, n = p+4, int64(u)
	if !okLen || !t.b.has(start, n*elemSize) {
		return 0, 0, false, corruptf("%s: vector %s is out of bounds", t.what, name)
	}
	return start, n, true, nil
}

func (t fbTable) str(slot int64, name string) (string, error) {
	start, n, ok, err := t.vector(slot, 1, name)
	if err != nil || !ok {
		return "", err
	}
	return string(t.b[start : start+n]), nil
}

// sub returns the table (or union member) in slot.
func (t fbTable) sub(slot int64, name string) (fbTable, bool, error) {
	p, ok, err := t.ref(slot, name)
	if err != nil || !ok {
		return fbTable{}, false, err
	}
	sub, err := t.b.table(p, t.what+": "+name)
	return sub, err == nil, err
}

// tables returns the tables of the vector of tables in slot.
func (t fbTable) tables(slot int64, name string) ([]fbTable, error) {
	start, n, ok, err := t.vector(slot, 4, name)
	if err != nil || !ok {
		return nil, err
	}
	out := make([]fbTable, 0, n)
	for i := range n {
		p := start + 4*i
		u, _ := t.b.u32(p)
		sub, err := t.b.table(p+int64(u), t.what+": "+name+"["+strconv.FormatInt(i, 10)+"]")
		if err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	return out, nil
}

// keyValues reads a vector of KeyValue tables { key: string; value: string }.
func (t fbTable) keyValues(slot int64) ([]KeyValue, error) {
	kvs, err := t.tables(slot, "custom_metadata")
	if err != nil {
		return nil, err
	}
	out := make([]KeyValue, len(kvs))
	for i, kv := range kvs {
		if out[i].Key, err = kv.str(4, "key"); err != nil {
			return nil, err
		}
		if out[i].Value, err = kv.str(6, "value"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// colShape is a verified column type.
type colShape struct {
	typ      uint8 // fbType*
	width    int64 // bytes per value of Int and FloatingPoint
	listSize int64 // FixedSizeList
	child    *colShape
}

// ipcBlock is a record batch block from the footer.
type ipcBlock struct {
	offset, meta, body int64
}

// File is the verified structure of an Arrow IPC file.
type File struct {
	size        int64
	footerStart int64
	schema      fbTable
	Metadata    []KeyValue // schema-level custom metadata
	blocks      []ipcBlock
	columns     []colShape
}

// readAt reads n bytes at off.
func readAt(r io.ReaderAt, off, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}

// Footer checks the magic numbers and the footer, and reads the
// schema-level metadata. Call Columns and Batches next.
func Footer(r io.ReaderAt, size int64) (*File, error) {
	const minSize = leadingMagicLen + 4 + trailerLen
	if size < minSize {
		return nil, invalidf("not an Arrow IPC file: %d bytes is too small (empty or truncated file?)", size)
	}
	head, err := readAt(r, 0, int64(len(arrowMagic)))
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(head, arrowMagic) {
		return nil, invalidf("not an Arrow IPC file: it does not start with %q", arrowMagic)
	}
	tail, err := readAt(r, size-trailerLen, trailerLen)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tail[4:], arrowMagic) {
		return nil, invalidf("not a complete Arrow IPC file: it does not end with %q (truncated file?)", arrowMagic)
	}
	flen := int64(int32(binary.LittleEndian.Uint32(tail)))
	if flen < 4 || flen > size-minSize+4 {
		return nil, invalidf("not a complete Arrow IPC file: footer length %d does not fit the file size %d (truncated file?)", flen, size)
	}
	if flen > maxFooterSize {
		return nil, invalidf("Arrow IPC footer of %d bytes is larger than the limit %d", flen, maxFooterSize)
	}
	f := &File{size: size, footerStart: size - trailerLen - flen}
	buf, err := readAt(r, f.footerStart, flen)
	if err != nil {
		return nil, err
	}
	footer, err := fbuf(buf).root("footer")
	if err != nil {
		return nil, err
	}
	if _, err := footer.int16(4, "version"); err != nil {
		return nil, err
	}
	schema, ok, err := footer.sub(6, "schema")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, corruptf("footer has no schema")
	}
	f.schema = schema
	if _, n, _, err := footer.vector(8, blockSize, "dictionaries"); err != nil {
		return nil, err
	} else if n != 0 {
		return nil, invalidf("dictionary-encoded columns are not supported")
	}
	start, n, _, err := footer.vector(10, blockSize, "recordBatches")
	if err != nil {
		return nil, err
	}
	for i := range n {
		p := start + i*blockSize
		off, _ := footer.b.i64(p)
		meta, _ := footer.b.u32(p + 8)
		body, _ := footer.b.i64(p + 16)
		f.blocks = append(f.blocks, ipcBlock{offset: off, meta: int64(int32(meta)), body: body})
	}
	if e, err := schema.int16(4, "endianness"); err != nil {
		return nil, err
	} else if e != 0 {
		return nil, invalidf("big-endian Arrow files are not supported")
	}
	if f.Metadata, err = schema.keyValues(8); err != nil {
		return nil, err
	}
	return f, nil
}

// Columns checks the schema's fields and their types.
func (f *File) Columns() error {
	var err error
	f.columns, err = schemaColumns(f.schema)
	return err
}

// schemaColumns checks the fields of a Schema table and their types.
func schemaColumns(schema fbTable) ([]colShape, error) {
	fields, err := schema.tables(6, "fields")
	if err != nil {
		return nil, err
	}
	columns := make([]colShape, len(fields))
	for i, fld := range fields {
		if columns[i], err = verifyField(fld, 0); err != nil {
			return nil, err
		}
	}
	return columns, nil
}

// verifyField checks a Field table { name: string; nullable: bool;
// type_type: ubyte; type: Type; dictionary: DictionaryEncoding;
// children: [Field]; custom_metadata: [KeyValue] }.
func verifyField(t fbTable, depth int) (colShape, error) {
	var s colShape
	name, err := t.str(4, "name")
	if err != nil {
		return s, err
	}
	if _, err := t.uint8(6, "nullable"); err != nil {
		return s, err
	}
	if s.typ, err = t.uint8(8, "type_type"); err != nil {
		return s, err
	}
	typ, ok, err := t.sub(10, "type")
	if err != nil {
		return s, err
	}
	if !ok {
		return s, corruptf("column %q has no type", name)
	}
	if p, err := t.field(12); err != nil {
		return s, err
	} else if p != 0 {
		return s, invalidf("column %q: dictionary-encoded columns are not supported", name)
	}
	children, err := t.tables(14, "children")
	if err != nil {
		return s, err
	}
	kvs, err := t.keyValues(16)
	if err != nil {
		return s, err
	}
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, "ARROW:extension:") {
			return s, invalidf("column %q: extension types are not supported", name)
		}
	}
	wantChildren := 0
	switch s.typ {
	case fbTypeInt: // Int { bitWidth: int; is_signed: bool }
		bw, err := typ.int32(4, "bitWidth")
		if err != nil {
			return s, err
		}
		if _, err := typ.uint8(6, "is_signed"); err != nil {
			return s, err
		}
		if bw != 8 && bw != 16 && bw != 32 && bw != 64 {
			return s, invalidf("column %q: unsupported integer width %d", name, bw)
		}
		s.width = int64(bw / 8)
	case fbTypeFloatingPoint: // FloatingPoint { precision: Precision (short) }
		p, err := typ.int16(4, "precision")
		if err != nil {
			return s, err
		}
		switch p {
		case 0, 1, 2:
			s.width = 2 << p
		default:
			return s, invalidf("column %q: unsupported floating point precision %d", name, p)
		}
	case fbTypeBool, fbTypeUtf8:
	case fbTypeList: // List {} (int32 offsets; not LargeList)
		if depth+1 >= maxNesting {
			return s, invalidf("column %q: lists nested too deeply", name)
		}
		wantChildren = 1
	case fbTypeFixedSizeList: // FixedSizeList { listSize: int }
		n, err := typ.int32(4, "listSize")
		if err != nil {
			return s, err
		}
		if n < 1 {
			return s, invalidf("column %q: invalid fixed_size_list size %d", name, n)
		}
		if depth+1 >= maxNesting {
			return s, invalidf("column %q: lists nested too deeply", name)
		}
		s.listSize = int64(n)
		wantChildren = 1
	default:
		return s, invalidf("column %q: unsupported Arrow type (flatbuffer type id %d)", name, s.typ)
	}
	if len(children) != wantChildren {
		return s, invalidf("column %q: type has %d child fields, want %d", name, len(children), wantChildren)
	}
	if wantChildren == 1 {
		child, err := verifyField(children[0], depth+1)
		if err != nil {
			return s, err
		}
		s.child = &child
	}
	return s, nil
}

// Batches checks every record batch block and message header.
func (f *File) Batches(r io.ReaderAt) error {
	blocks := slices.Clone(f.blocks)
	for i, b := range blocks {
		switch {
		case b.offset < leadingMagicLen || b.offset%8 != 0:
			return corruptf("record batch %d: bad offset %d", i, b.offset)
		case b.meta < 8 || b.meta%8 != 0 || b.meta > maxMessageSize:
			return corruptf("record batch %d: bad metadata length %d", i, b.meta)
		case b.body < 0 || b.body%8 != 0:
			return corruptf("record batch %d: bad body length %d", i, b.body)
		case b.offset > f.footerStart || b.meta > f.footerStart-b.offset || b.body > f.footerStart-b.offset-b.meta:
			return corruptf("record batch %d at offset %d (%d+%d bytes) runs past the footer at %d (truncated file?)",
				i, b.offset, b.meta, b.body, f.footerStart)
		}
	}
	// Blocks must not overlap: this bounds the work below by the file size.
	slices.SortFunc(blocks, func(a, b ipcBlock) int { return cmp.Compare(a.offset, b.offset) })
	for i := 1; i < len(blocks); i++ {
		if prev := blocks[i-1]; prev.offset+prev.meta+prev.body > blocks[i].offset {
			return corruptf("record batches at offsets %d and %d overlap", prev.offset, blocks[i].offset)
		}
	}
	if err := f.contiguous(r, blocks); err != nil {
		return err
	}
	for i, b := range f.blocks {
		if err := f.verifyBatch(r, i, b); err != nil {
			return err
		}
	}
	return nil
}

// contiguous checks that the schema message, the record batches (blocks,
// sorted by offset) and an end-of-stream marker fill the file between its
// leading magic and its footer, as every Arrow writer lays them out, so
// that no record batch in the file is missing from the footer (a damaged
// footer would otherwise drop rows without an error).
func (f *File) contiguous(r io.ReaderAt, blocks []ipcBlock) error {
	if f.footerStart < leadingMagicLen+8 {
		return corruptf("no room for the schema message before the footer at %d", f.footerStart)
	}
	head, err := readAt(r, leadingMagicLen, 8)
	if err != nil {
		return err
	}
	prefix, n := int64(4), int64(int32(binary.LittleEndian.Uint32(head)))
	if uint32(n) == 0xFFFFFFFF {
		prefix, n = 8, int64(int32(binary.LittleEndian.Uint32(head[4:])))
	}
	end := leadingMagicLen + prefix + n // the schema message has no body
	if n <= 0 || end > f.footerStart {
		return corruptf("schema message of %d bytes at offset %d does not fit before the footer at %d", n, leadingMagicLen, f.footerStart)
	}
	for _, b := range blocks {
		if b.offset != end {
			return corruptf("%d bytes at offset %d belong to no record batch the footer lists", b.offset-end, end)
		}
		end = b.offset + b.meta + b.body
	}
	gap := f.footerStart - end
	if gap == 0 {
		return nil
	}
	tail, err := readAt(r, end, min(gap, 9))
	if err != nil {
		return err
	}
	// The end-of-stream marker: a continuation and a zero length, or
	// (before Arrow 0.15) a zero length alone.
	if !bytes.Equal(tail, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}) && !bytes.Equal(tail, []byte{0, 0, 0, 0}) {
		return corruptf("%d bytes at offset %d belong to no record batch the footer lists", gap, end)
	}
	return nil
}

func (f *File) verifyBatch(r io.ReaderAt, i int, b ipcBlock) error {
	buf, err := readAt(r, b.offset, b.meta)
	if err != nil {
		return err
	}
	prefix := int64(4)
	if binary.LittleEndian.Uint32(buf) == 0xFFFFFFFF {
		prefix = 8 // continuation marker, then the length
	}
	if n := int64(int32(binary.LittleEndian.Uint32(buf[prefix-4:]))); n != b.meta-prefix {
		return corruptf("record batch %d: message length %d does not match the footer's %d", i, n, b.meta-prefix)
	}
	what := fmt.Sprintf("record batch %d", i)
	msg, err := fbuf(buf[prefix:]).root(what)
	if err != nil {
		return err
	}
	// Message { version: short; header_type: ubyte; header: MessageHeader;
	//           bodyLength: long; custom_metadata: [KeyValue] }
	if _, err := msg.int16(4, "version"); err != nil {
		return err
	}
	if ht, err := msg.uint8(6, "header_type"); err != nil {
		return err
	} else if ht != fbHeaderRecordBatch {
		return corruptf("%s: message is of type %d, not a record batch", what, ht)
	}
	rb, ok, err := msg.sub(8, "header")
	if err != nil {
		return err
	}
	if !ok {
		return corruptf("%s: message has no header", what)
	}
	if n, err := msg.int64(10, "bodyLength"); err != nil {
		return err
	} else if n != b.body {
		return corruptf("%s: body length %d does not match the footer's %d", what, n, b.body)
	}
	if _, err := msg.keyValues(12); err != nil {
		return err
	}
	// RecordBatch { length: long; nodes: [FieldNode]; buffers: [Buffer];
	//               compression: BodyCompression; variadicBufferCounts: [long] }
	length, err := rb.int64(4, "length")
	if err != nil {
		return err
	}
	if length < 0 {
		return corruptf("%s: negative length %d", what, length)
	}
	w := batchWalker{b: rb.b, r: r, bodyStart: b.offset + b.meta, body: b.body, what: what}
	if w.nodes, w.nNodes, _, err = rb.vector(6, fieldNodeSize, "nodes"); err != nil {
		return err
	}
	if w.bufs, w.nBufs, _, err = rb.vector(8, bufferSize, "buffers"); err != nil {
		return err
	}
	if p, err := rb.field(10); err != nil {
		return err
	} else if p != 0 {
		return invalidf("%s: compressed Arrow files are not supported", what)
	}
	for c := range f.columns {
		n, err := w.column(&f.columns[c])
		if err != nil {
			return err
		}
		if n != length {
			return corruptf("%s: column %d has %d rows, the batch %d", what, c, n, length)
		}
	}
	if w.iNode != w.nNodes || w.iBuf != w.nBufs {
		return corruptf("%s: %d field nodes and %d buffers, the schema needs %d and %d", what, w.nNodes, w.nBufs, w.iNode, w.iBuf)
	}
	return nil
}

// batchWalker consumes a record batch's field nodes and buffers in the
// order arrow-go's loader does, checking them against the schema.
type batchWalker struct {
	b           fbuf
	r           io.ReaderAt
	bodyStart   int64 // file offset of the body
	body        int64 // body length
	what        string
	nodes, bufs int64 // vector starts
	nNodes      int64
	nBufs       int64
	iNode, iBuf int64
}

func (w *batchWalker) node() (length, nulls int64, err error) {
	if w.iNode >= w.nNodes {
		return 0, 0, corruptf("%s: too few field nodes (%d) for the schema", w.what, w.nNodes)
	}
	p := w.nodes + w.iNode*fieldNodeSize
	w.iNode++
	length, _ = w.b.i64(p)
	nulls, _ = w.b.i64(p + 8)
	if length < 0 || nulls < 0 || nulls > length {
		return 0, 0, corruptf("%s: field node %d: bad length %d or null count %d", w.what, w.iNode-1, length, nulls)
	}
	return length, nulls, nil
}

// buffer returns the body offset and length of the next buffer, checked to
// lie in the body.
func (w *batchWalker) buffer() (off, n int64, err error) {
	if w.iBuf >= w.nBufs {
		return 0, 0, corruptf("%s: too few buffers (%d) for the schema", w.what, w.nBufs)
	}
	p := w.bufs + w.iBuf*bufferSize
	w.iBuf++
	off, _ = w.b.i64(p)
	n, _ = w.b.i64(p + 8)
	if off < 0 || n < 0 || off > w.body || n > w.body-off {
		return 0, 0, corruptf("%s: buffer %d (offset %d, length %d) lies outside the body of %d bytes", w.what, w.iBuf-1, off, n, w.body)
	}
	return off, n, nil
}

// column checks one column (and its children) and returns its length.
func (w *batchWalker) column(s *colShape) (int64, error) {
	length, nulls, err := w.node()
	if err != nil {
		return 0, err
	}
	node := w.iNode - 1
	_, validity, err := w.buffer()
	if err != nil {
		return 0, err
	}
	short := func(name string) error {
		return corruptf("%s: field node %d: %s buffer too short for %d values", w.what, node, name, length)
	}
	if nulls > 0 && validity < (length+7)/8 {
		return 0, short("validity")
	}
	switch s.typ {
	case fbTypeInt, fbTypeFloatingPoint:
		_, n, err := w.buffer()
		if err != nil {
			return 0, err
		}
		if length > n/s.width {
			return 0, short("data")
		}
	case fbTypeBool:
		_, n, err := w.buffer()
		if err != nil {
			return 0, err
		}
		if (length+7)/8 > n {
			return 0, short("data")
		}
	case fbTypeUtf8:
		off, n, err := w.buffer()
		if err != nil {
			return 0, err
		}
		if length > 0 && length > n/4-1 {
			return 0, short("offsets")
		}
		_, dataLen, err := w.buffer()
		if err != nil {
			return 0, err
		}
		if length > 0 {
			if err := w.checkOffsets(node, "string", off, length, dataLen); err != nil {
				return 0, err
			}
		}
	case fbTypeList:
		off, n, err := w.buffer()
		if err != nil {
			return 0, err
		}
		if length > 0 && length > n/4-1 {
			return 0, short("offsets")
		}
		childLen, err := w.column(s.child)
		if err != nil {
			return 0, err
		}
		if length > 0 {
			if err := w.checkOffsets(node, "list", off, length, childLen); err != nil {
				return 0, err
			}
		}
	case fbTypeFixedSizeList:
		childLen, err := w.column(s.child)
		if err != nil {
			return 0, err
		}
		if length > childLen/s.listSize {
			return 0, short("child")
		}
	}
	return length, nil
}

// checkOffsets checks the length+1 int32 offsets of the utf8 or list column
// of field node node stored at body offset off, against the length of its
// data (bytes, or list values): arrow-go panics while loading string offsets
// that point past the data (recovering, but leaking the message body), and
// its ValidateFull panics on string offsets that are not monotonic.
func (w *batchWalker) checkOffsets(node int64, what string, off, length, dataLen int64) error {
	buf, err := readAt(w.r, w.bodyStart+off, 4*(length+1))
	if err != nil {
		return err
	}
	prev := int64(0)
	for i := range length + 1 {
		o := int64(int32(binary.LittleEndian.Uint32(buf[4*i:])))
		if o < prev || o > dataLen {
			return corruptf("%s: field node %d: %s offset %d is %d, outside [%d, %d]", w.what, node, what, i, o, prev, dataLen)
		}
		prev = o
	}
	return nil
}
