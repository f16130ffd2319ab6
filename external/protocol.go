package external

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/latentda/latentda/internal/vec"
	"github.com/latentda/latentda/store"
)

// ProtocolVersion is the version of the protocol this package speaks; both
// sides put it in every message (key "protocol").
const ProtocolVersion = 2

// Schema metadata keys of a message (docs/external-models.md).
const (
	keyProtocol  = "protocol"     // "2"
	keyKind      = "kind"         // kindHello, kindAdvance, kindState or kindError
	keyStateSize = "state_size"   // n, in hello requests and replies
	keyDt        = "dt"           // the model time step, in hello requests and replies
	keySteps     = "steps"        // model steps to advance, in advance requests
	keyMessage   = "message"      // what went wrong, in error replies
	keyRetryable = "retryable"    // "true": a fresh process may succeed (error replies)
	keyPeriod    = "coord_period" // hello reply with coordinates: the periodic domain's length
)

// Message kinds.
const (
	kindHello   = "hello"   // latentda → model: state size and dt; model → latentda: the same and x₀
	kindAdvance = "advance" // latentda → model: rows of states to advance by steps
	kindState   = "state"   // model → latentda: the advanced states
	kindError   = "error"   // model → latentda: a request failed
)

// stateColumn is the name of the column holding the states.
const stateColumn = "x"

// coordColumn is the name of the hello reply's optional column of the
// state variables' coordinates.
const coordColumn = "coord"

// metadataLimit bounds a message's metadata (an error message is the
// longest legitimate one).
const metadataLimit = 1 << 16

// readBuffer is the size of the buffered readers that readMessage reads
// from: enough to look at a whole schema message before decoding it.
const readBuffer = 1 << 17

// message is one protocol message: its schema metadata and at most one
// record batch of states.
type message struct {
	meta map[string]string
	rec  arrow.RecordBatch // nil: no batch
}

func (m message) kind() string { return m.meta[keyKind] }

func (m message) release() {
	if m.rec != nil {
		m.rec.Release()
	}
}

// intMeta parses the integer metadata value under key.
func (m message) intMeta(key string) (int, error) {
	v, ok := m.meta[key]
	if !ok {
		return 0, fmt.Errorf("%s message has no %q metadata", m.kind(), key)
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s message: %q is %q, not an integer", m.kind(), key, v)
	}
	return i, nil
}

// floatMeta parses the float64 metadata value under key.
func (m message) floatMeta(key string) (float64, error) {
	v, ok := m.meta[key]
	if !ok {
		return 0, fmt.Errorf("%s message has no %q metadata", m.kind(), key)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%s message: %q is %q, not a number", m.kind(), key, v)
	}
	return f, nil
}

// formatFloat writes v so that ParseFloat gives back the same float64.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// stateType is the type of the state column: one float64 per variable.
func stateType(n int) *arrow.FixedSizeListType {
	return arrow.FixedSizeListOfNonNullable(int32(n), arrow.PrimitiveTypes.Float64)
}

// writeMessage writes one message to w: the 8-byte little-endian length of
// an Arrow IPC stream, then the stream, whose schema carries meta (plus the
// protocol version) and which holds, if rows >= 0, one record batch of rows
// states of n variables: column "x" of type fixed_size_list<float64>[n]
// over values (rows·n, row after row, not copied), and, if coords is not
// nil, a column "coord" of the same type over coords (rows·n values).
func writeMessage(w io.Writer, meta map[string]string, values []float64, rows, n int, coords ...float64) error {
	keys := slices.Sorted(maps.Keys(meta))
	vals := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		vals = append(vals, meta[k])
	}
	keys, vals = append(keys, keyProtocol), append(vals, strconv.Itoa(ProtocolVersion))
	md := arrow.NewMetadata(keys, vals)
	if rows < 0 {
		// Metadata only: the length and the stream in one write, so that
		// the reader wakes once.
		var buf bytes.Buffer
		buf.Write(make([]byte, 8))
		if err := writeStream(&buf, arrow.NewSchema(nil, &md), nil); err != nil {
			return err
		}
		b := buf.Bytes()
		binary.LittleEndian.PutUint64(b, uint64(len(b)-8))
		_, err := w.Write(b)
		return err
	}
	if len(values) != rows*n || (coords != nil && len(coords) != rows*n) {
		return fmt.Errorf("external: %d values and %d coordinates for %d rows of %d", len(values), len(coords), rows, n)
	}
	fields := []arrow.Field{{Name: stateColumn, Type: stateType(n)}}
	if coords != nil {
		fields = append(fields, arrow.Field{Name: coordColumn, Type: stateType(n)})
	}
	schema := arrow.NewSchema(fields, &md)
	rec := stateBatch(schema, rows, n, values, coords)
	defer rec.Release()
	// The stream is written twice: first to count its bytes (the values
	// are not copied), then after its length.
	var count counter
	if err := writeStream(&count, schema, rec); err != nil {
		return err
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(count))
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	return writeStream(w, schema, rec)
}

// writeStream writes an Arrow IPC stream of schema and rec (if not nil).
func writeStream(w io.Writer, schema *arrow.Schema, rec arrow.RecordBatch) error {
	wr := ipc.NewWriter(w, ipc.WithSchema(schema))
	if rec != nil {
		if err := wr.Write(rec); err != nil {
			wr.Close()
			return err
		}
	}
	return wr.Close()
}

// counter is an io.Writer that counts the bytes written to it.
type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}

// stateBatch wraps each of columns (rows·n float64s, nil for none) as a
// column of a record batch of schema.
func stateBatch(schema *arrow.Schema, rows, n int, columns ...[]float64) arrow.RecordBatch {
	var cols []arrow.Array
	for _, values := range columns {
		if values == nil {
			continue
		}
		buf := memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(values))
		child := array.NewData(arrow.PrimitiveTypes.Float64, rows*n, []*memory.Buffer{nil, buf}, nil, 0, 0)
		data := array.NewData(stateType(n), rows, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
		child.Release()
		col := array.MakeFromData(data)
		data.Release()
		defer col.Release()
		cols = append(cols, col)
	}
	return array.NewRecordBatch(schema, cols, int64(rows))
}

// readMessage reads one message from r (a reader of readBuffer bytes): the
// 8-byte little-endian length of an Arrow IPC stream, then the stream: a
// schema, at most one uncompressed record batch, and the end-of-stream
// marker. bodyLimit, if > 0, bounds the size of the batch in bytes.
// Whatever the bytes, it returns an error rather than panicking or running
// out of memory; a message it returns must be released.
func readMessage(r *bufio.Reader, bodyLimit int64) (msg message, err error) {
	var prefix [8]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return message{}, fmt.Errorf("reading a message length: %w", err)
	}
	size := binary.LittleEndian.Uint64(prefix[:])
	if bodyLimit > 0 && size > uint64(bodyLimit)+metadataLimit+1<<10 {
		err := fmt.Errorf("message length %d (bytes % x) exceeds the limit %d", size, prefix, bodyLimit+metadataLimit+1<<10)
		if text := printedText(prefix[:], r); text != "" {
			err = fmt.Errorf("%w: they read as text, %s; stdout is for protocol messages only (logs go to stderr)", err, text)
		}
		return message{}, err
	}
	if err := verifySchema(r); err != nil {
		return message{}, err
	}
	defer func() {
		if p := recover(); p != nil {
			msg.release()
			msg, err = message{}, fmt.Errorf("malformed Arrow IPC stream: %v", p)
		}
	}()
	opts := []ipc.Option{ipc.WithMetadataSizeLimit(metadataLimit)}
	if bodyLimit > 0 {
		opts = append(opts, ipc.WithBodySizeLimit(bodyLimit))
	}
	stream := &io.LimitedReader{R: r, N: int64(min(size, math.MaxInt64))}
	// ipc.NewReader does not pass the limits on to its message reader.
	msgs := checkedMessages{MessageReader: ipc.NewMessageReader(stream, opts...), r: r, stream: stream}
	rd, err := ipc.NewReaderFromMessageReader(msgs, opts...)
	if err != nil {
		return message{}, err
	}
	defer rd.Release()
	defer func() {
		if err == nil && stream.N != 0 {
			msg.release()
			msg, err = message{}, fmt.Errorf("the message length is %d bytes, but its Arrow IPC stream ends after %d", size, int64(size)-stream.N)
		}
	}()
	md := rd.Schema().Metadata()
	msg.meta = make(map[string]string, md.Len())
	for i, k := range md.Keys() {
		msg.meta[k] = md.Values()[i]
	}
	for rd.Next() {
		if msg.rec != nil {
			msg.release()
			return message{}, errors.New("more than one record batch in a message")
		}
		msg.rec = rd.RecordBatch()
		msg.rec.Retain()
	}
	if err := rd.Err(); err != nil {
		msg.release()
		return message{}, err
	}
	if v := msg.meta[keyProtocol]; v != strconv.Itoa(ProtocolVersion) {
		msg.release()
		return message{}, fmt.Errorf("protocol version %q, want %d (schema metadata %q)", v, ProtocolVersion, keyProtocol)
	}
	if msg.kind() == "" {
		msg.release()
		return message{}, fmt.Errorf("message without %q metadata", keyKind)
	}
	return msg, nil
}

// printedText returns, quoted, the bytes of prefix and those after them
// already in r's buffer, up to 64 in all and to the first that is not
// printable ASCII, if the 8 of prefix are: what a model printed on its
// stdout. Else it returns "".
func printedText(prefix []byte, r *bufio.Reader) string {
	more, _ := r.Peek(min(r.Buffered(), 64-len(prefix)))
	text := append(slices.Clip(prefix), more...)
	n := 0
	for n < len(text) && (text[n] >= ' ' && text[n] <= '~' || text[n] == '\t' || text[n] == '\n' || text[n] == '\r') {
		n++
	}
	if n < len(prefix) {
		return ""
	}
	return strconv.Quote(string(text[:n]))
}

// states returns the values of msg's states, row after row, checking that
// there are rows of them (any number if rows < 0) with n variables each,
// all finite. The slice belongs to msg (valid until its release).
func (m message) states(rows, n int) ([]float64, error) {
	if m.rec == nil {
		return nil, fmt.Errorf("%s message without a record batch of states", m.kind())
	}
	schema := m.rec.Schema()
	if schema.NumFields() != 1 || schema.Field(0).Name != stateColumn {
		return nil, fmt.Errorf("%s message: want one column %q of type %s, got schema %s", m.kind(), stateColumn, stateType(n), schema)
	}
	return m.column(0, rows, n)
}

// helloStates returns the reference state x₀ of a hello reply and, if it
// has them, the coordinates of the state variables (nil if not), checked
// as states checks its states.
func (m message) helloStates(n int) (x0, coords []float64, err error) {
	if m.rec == nil {
		return nil, nil, fmt.Errorf("%s message without a record batch of states", m.kind())
	}
	schema := m.rec.Schema()
	if schema.NumFields() == 2 && schema.Field(0).Name == stateColumn && schema.Field(1).Name == coordColumn {
		if coords, err = m.column(1, 1, n); err != nil {
			return nil, nil, fmt.Errorf("the coordinates: %w", err)
		}
	} else if schema.NumFields() != 1 || schema.Field(0).Name != stateColumn {
		return nil, nil, fmt.Errorf("%s message: want a column %q of type %s and optionally %q of the same type, got schema %s", m.kind(), stateColumn, stateType(n), coordColumn, schema)
	}
	x0, err = m.column(0, 1, n)
	return x0, coords, err
}

// column returns the values of column i, row after row, checking that
// there are rows of them (any number if rows < 0) with n variables each,
// all finite. The slice belongs to msg (valid until its release).
func (m message) column(i, rows, n int) ([]float64, error) {
	name := m.rec.Schema().Field(i).Name
	col, ok := m.rec.Column(i).(*array.FixedSizeList)
	if !ok {
		return nil, fmt.Errorf("%s message: column %q has type %s, want %s", m.kind(), name, m.rec.Column(i).DataType(), stateType(n))
	}
	size := int(col.DataType().(*arrow.FixedSizeListType).Len())
	child, ok := col.ListValues().(*array.Float64)
	if !ok {
		return nil, fmt.Errorf("%s message: column %q has type %s, want %s", m.kind(), name, col.DataType(), stateType(n))
	}
	got := int(m.rec.NumRows())
	if size != n || (rows >= 0 && got != rows) {
		return nil, fmt.Errorf("%w: %s message holds %d states of %d variables, want %d of %d", ErrState, m.kind(), got, size, max(rows, got), n)
	}
	if col.NullN() != 0 || child.NullN() != 0 {
		return nil, fmt.Errorf("%w: %s message: column %q has nulls", ErrState, m.kind(), name)
	}
	all := child.Float64Values()
	off := col.Data().Offset() * n
	if off < 0 || off+got*n > len(all) || col.Len() != got {
		return nil, fmt.Errorf("%s message: column %q holds %d values, want %d", m.kind(), name, len(all)-off, got*n)
	}
	vals := all[off : off+got*n]
	if i := vec.FirstNonFinite(vals); i >= 0 {
		return nil, fmt.Errorf("%w: %s message: state %d, variable %d is %v", ErrState, m.kind(), i/n, i%n, vals[i])
	}
	return vals, nil
}

// verifySchema checks the schema message at the head of r without
// consuming it (store.VerifyStreamSchema): arrow-go decodes its
// flatbuffer without bounds checks and sizes allocations by its counts.
func verifySchema(r *bufio.Reader) error {
	head, err := r.Peek(8)
	if err != nil {
		return fmt.Errorf("reading a message: %w", err)
	}
	if binary.LittleEndian.Uint32(head) != 0xFFFFFFFF {
		return fmt.Errorf("not an Arrow IPC stream: it starts with % x, not the continuation marker ff ff ff ff", head[:4])
	}
	n := int32(binary.LittleEndian.Uint32(head[4:]))
	if n < 4 || n > metadataLimit {
		return fmt.Errorf("schema message metadata length %d outside [4, %d]", n, metadataLimit)
	}
	b, err := r.Peek(8 + int(n))
	if err != nil {
		return fmt.Errorf("reading a message: %w", err)
	}
	return store.VerifyStreamSchema(b[8:])
}

// Arrow IPC message header types (MessageHeader in Arrow's Message.fbs).
const (
	fbHeaderSchema      = 1
	fbHeaderRecordBatch = 3
)

// checkedMessages is readMessage's ipc.MessageReader: before arrow-go
// reads a message from stream, it peeks at the message's header on r and
// refuses what would make arrow-go allocate by an unchecked size (a
// compressed buffer's declared size, a count of custom metadata), and any
// message but a schema or a record batch.
type checkedMessages struct {
	ipc.MessageReader
	r      *bufio.Reader
	stream *io.LimitedReader // r, limited to the message's stream
}

func (c checkedMessages) Message() (*ipc.Message, error) {
	if err := checkHeader(c.r, c.stream.N); err != nil {
		return nil, err
	}
	return c.MessageReader.Message()
}

// checkHeader checks the header of the Arrow IPC message at the head of r,
// which lies within the next n bytes, without consuming it. A message
// whose framing is wrong or that ends after n bytes is left to arrow-go to
// refuse.
func checkHeader(r *bufio.Reader, n int64) error {
	head, err := r.Peek(4)
	if err != nil {
		return nil
	}
	off := 4 // before Arrow 0.15: the metadata length alone
	if binary.LittleEndian.Uint32(head) == 0xFFFFFFFF {
		if head, err = r.Peek(8); err != nil {
			return nil
		}
		off = 8
	}
	size := int(int32(binary.LittleEndian.Uint32(head[off-4:])))
	if size <= 0 || size > metadataLimit || int64(off+size) > n { // end of stream, or arrow-go refuses it
		return nil
	}
	b, err := r.Peek(off + size)
	if err != nil {
		return nil
	}
	return checkMessageHeader(b[off:])
}

// checkMessageHeader checks, with bounds checks, that meta (the flatbuffer
// Message of an Arrow IPC message) is a schema, or a record batch without
// a body compression, and that the count of its custom metadata fits in it.
func checkMessageHeader(meta []byte) error {
	// Message { version: short; header_type: ubyte; header: MessageHeader;
	//           bodyLength: long; custom_metadata: [KeyValue] }
	// RecordBatch { length: long; nodes: [FieldNode]; buffers: [Buffer];
	//               compression: BodyCompression; ... }
	// (vtable slots 4, 6, 8, ...).
	malformed := errors.New("malformed Arrow IPC message header")
	if len(meta) < 4 {
		return malformed
	}
	msg := int(binary.LittleEndian.Uint32(meta))
	// arrow-go allocates by the count of the custom metadata.
	p, ok := fbField(meta, msg, 12)
	if !ok || p+4 > len(meta) {
		return malformed
	}
	if p != 0 {
		vec := p + int(binary.LittleEndian.Uint32(meta[p:]))
		if vec < 0 || vec+4 > len(meta) || int64(binary.LittleEndian.Uint32(meta[vec:])) > int64(len(meta)-vec-4)/4 {
			return fmt.Errorf("%s: custom metadata of more entries than its %d bytes hold", malformed, len(meta))
		}
	}
	p, ok = fbField(meta, msg, 6)
	if !ok || p == 0 || p >= len(meta) {
		return malformed
	}
	switch t := meta[p]; t {
	case fbHeaderSchema:
		return nil
	case fbHeaderRecordBatch:
	default:
		return fmt.Errorf("an Arrow IPC message of header type %d: the protocol's streams hold only a schema and a record batch", t)
	}
	p, ok = fbField(meta, msg, 8)
	if !ok || p == 0 || p+4 > len(meta) {
		return malformed
	}
	batch := p + int(binary.LittleEndian.Uint32(meta[p:]))
	if p, ok = fbField(meta, batch, 10); !ok {
		return malformed
	}
	if p != 0 {
		return errors.New("a record batch with a compressed body: the protocol's messages are uncompressed (write the stream without compression)")
	}
	return nil
}

// fbField returns the position in b of the field in vtable slot slot of
// the flatbuffer table at pos (0 if the table lacks it), or false if b is
// too short to tell.
func fbField(b []byte, pos, slot int) (int, bool) {
	if pos < 0 || pos+4 > len(b) {
		return 0, false
	}
	vt := pos - int(int32(binary.LittleEndian.Uint32(b[pos:])))
	if vt < 0 || vt+2 > len(b) {
		return 0, false
	}
	if slot >= int(binary.LittleEndian.Uint16(b[vt:])) {
		return 0, true
	}
	if vt+slot+2 > len(b) {
		return 0, false
	}
	if off := int(binary.LittleEndian.Uint16(b[vt+slot:])); off != 0 {
		return pos + off, true
	}
	return 0, true
}
