package external

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// encode returns writeMessage's bytes.
func encode(t testing.TB, meta map[string]string, values []float64, rows, n int, coords ...float64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeMessage(&b, meta, values, rows, n, coords...); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encodeColumns writes an IPC stream of one batch of cols under schema
// metadata meta (protocol and kind included by the caller), for messages
// writeMessage cannot make.
func encodeColumns(t testing.TB, meta map[string]string, batches int, cols ...arrow.Array) []byte {
	t.Helper()
	var keys, vals []string
	for k, v := range meta {
		keys, vals = append(keys, k), append(vals, v)
	}
	md := arrow.NewMetadata(keys, vals)
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: stateColumn, Type: c.DataType(), Nullable: true}
	}
	schema := arrow.NewSchema(fields, &md)
	var b bytes.Buffer
	w := ipc.NewWriter(&b, ipc.WithSchema(schema))
	rec := array.NewRecordBatch(schema, cols, int64(cols[0].Len()))
	defer rec.Release()
	for range batches {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return append(binary.LittleEndian.AppendUint64(nil, uint64(b.Len())), b.Bytes()...)
}

// listColumn builds a fixed_size_list<elem>[n] column over a child array.
func listColumn(n int, child arrow.Array) arrow.Array {
	data := array.NewData(arrow.FixedSizeListOf(int32(n), child.DataType()), child.Len()/n, []*memory.Buffer{nil}, []arrow.ArrayData{child.Data()}, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

func float64s(vals []float64, valid []bool) arrow.Array {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(vals, valid)
	return b.NewArray()
}

var state = map[string]string{keyKind: kindState}

// stateStream is a state message of 2 states of 3 variables whose record
// batch has the custom metadata batchMeta, written with the writer
// options opts, for messages writeMessage cannot make: its length and
// its stream.
func stateStream(t testing.TB, batchMeta arrow.Metadata, opts ...ipc.Option) (prefix, stream []byte) {
	t.Helper()
	md := arrow.NewMetadata([]string{keyProtocol, keyKind}, []string{strconv.Itoa(ProtocolVersion), kindState})
	schema := arrow.NewSchema([]arrow.Field{{Name: stateColumn, Type: stateType(3)}}, &md)
	rec := stateBatch(schema, 2, 3, []float64{1, 2, 3, 4, 5, 6})
	defer rec.Release()
	rec = array.NewRecordBatchWithMetadata(schema, rec.Columns(), rec.NumRows(), batchMeta)
	defer rec.Release()
	var b bytes.Buffer
	w := ipc.NewWriter(&b, append(opts, ipc.WithSchema(schema))...)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.AppendUint64(nil, uint64(b.Len())), b.Bytes()
}

// lz4Bomb is a state message whose body is LZ4-compressed, its values
// buffer declaring 2^36 bytes uncompressed.
func lz4Bomb(t testing.TB) []byte {
	prefix, data := stateStream(t, arrow.Metadata{}, ipc.WithLZ4())
	// The values buffer: its uncompressed length, 48 bytes, then an LZ4 frame.
	i := bytes.Index(data, append(binary.LittleEndian.AppendUint64(nil, 48), 0x04, 0x22, 0x4d, 0x18))
	if i < 0 {
		t.Fatal("no LZ4 frame of 48 bytes in the stream")
	}
	binary.LittleEndian.PutUint64(data[i:], 1<<36)
	return append(prefix, data...)
}

// metadataBomb is a state message whose record batch's custom metadata
// claims 2^30 entries.
func metadataBomb(t testing.TB) []byte {
	prefix, data := stateStream(t, arrow.NewMetadata([]string{"k"}, []string{"v"}))
	// The batch's Message follows the schema message (continuation,
	// length, flatbuffer; no body) and its own continuation and length.
	meta := data[8+binary.LittleEndian.Uint32(data[4:])+8:]
	p, ok := fbField(meta, int(binary.LittleEndian.Uint32(meta)), 12)
	if !ok || p == 0 {
		t.Fatal("no custom metadata in the record batch message")
	}
	binary.LittleEndian.PutUint32(meta[p+int(binary.LittleEndian.Uint32(meta[p:])):], 1<<30)
	return append(prefix, data...)
}

func TestReadMessage(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6}
	proto := map[string]string{keyProtocol: strconv.Itoa(ProtocolVersion), keyKind: kindState}
	for _, tc := range []struct {
		name  string
		data  []byte
		rows  int    // states wanted (-1: any)
		want  string // "" for success, else part of the error
		state bool   // the error is an ErrState
	}{
		{"states", encode(t, state, v, 2, 3), 2, "", false},
		{"any number of states", encode(t, state, v, 2, 3), -1, "", false},
		{"one column per variable is not the format", encodeColumns(t, proto, 1, float64s(v, nil)), 6, "has type float64, want fixed_size_list", false},
		{"float32 values", encodeColumns(t, proto, 1, listColumn(3, func() arrow.Array {
			b := array.NewFloat32Builder(memory.DefaultAllocator)
			defer b.Release()
			b.AppendValues([]float32{1, 2, 3, 4, 5, 6}, nil)
			return b.NewArray()
		}())), 2, "want fixed_size_list", false},
		{"wrong state size", encodeColumns(t, proto, 1, listColumn(2, float64s(v, nil))), 3, "states of 2 variables", true},
		{"wrong number of states", encode(t, state, v, 2, 3), 3, "holds 2 states", true},
		{"nulls", encodeColumns(t, proto, 1, listColumn(3, float64s(v, []bool{true, true, false, true, true, true}))), 2, "nulls", true},
		{"NaN", encode(t, state, []float64{1, 2, 3, 4, math.NaN(), 6}, 2, 3), 2, "state 1, variable 1 is NaN", true},
		{"Inf", encode(t, state, []float64{math.Inf(-1), 2, 3, 4, 5, 6}, 2, 3), 2, "state 0, variable 0 is -Inf", true},
		{"two batches", encodeColumns(t, proto, 2, listColumn(3, float64s(v, nil))), 2, "more than one record batch", false},
		{"no batch", encode(t, state, nil, -1, 3), 2, "without a record batch", false},
		{"other protocol version", encodeColumns(t, map[string]string{keyProtocol: "1", keyKind: kindState}, 1, listColumn(3, float64s(v, nil))), 2, "protocol version", false},
		{"no kind", encodeColumns(t, map[string]string{keyProtocol: strconv.Itoa(ProtocolVersion)}, 1, listColumn(3, float64s(v, nil))), 2, "without \"kind\"", false},
		{"text", []byte("Traceback (most recent call last):\n  File \"model.py\", line 1\x00"), 2, `exceeds the limit 1115136: they read as text, "Traceback (most recent call last):\n  File \"model.py\", line 1"; stdout is for`, false},
		{"binary", []byte{1, 2, 3, 4, 5, 6, 7, 8, ' ', ' '}, 2, "(bytes 01 02 03 04 05 06 07 08) exceeds the limit 1115136", false},
		{"stream shorter than its length", append(binary.LittleEndian.AppendUint64(nil, 1000), encode(t, state, v, 2, 3)[8:]...), 2, "length is 1000 bytes, but its Arrow IPC stream ends after 512", false},
		{"empty", nil, 2, "EOF", false},
		{"truncated", encode(t, state, v, 2, 3)[:100], 2, "EOF", false},
		{"compressed body declaring 64 GiB", lz4Bomb(t), 2, "compressed body", false},
		{"batch metadata claiming 2^30 entries", metadataBomb(t), 2, "custom metadata of more entries", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := readMessage(bufio.NewReaderSize(bytes.NewReader(tc.data), readBuffer), 1<<20)
			if err == nil {
				defer msg.release()
				var vals []float64
				if vals, err = msg.states(tc.rows, 3); err == nil && tc.want == "" && !equal(vals, v) {
					t.Errorf("states %v, want %v", vals, v)
				}
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case tc.want != "" && errors.Is(err, ErrState) != tc.state:
				t.Errorf("errors.Is(%v, ErrState) = %v, want %v", err, !tc.state, tc.state)
			}
		})
	}
}

// A hello reply holds x₀ and, optionally, coordinates (with a period).
func TestHelloStates(t *testing.T) {
	x0 := []float64{1, 2, 3}
	hello := func(meta map[string]string, coords ...float64) []byte {
		m := map[string]string{keyKind: kindHello}
		for k, v := range meta {
			m[k] = v
		}
		return encode(t, m, x0, 1, 3, coords...)
	}
	proto := map[string]string{keyProtocol: strconv.Itoa(ProtocolVersion), keyKind: kindHello}
	coordThenX := func() []byte { // the columns in the other order, both named "x"
		return encodeColumns(t, proto, 1, listColumn(3, float64s([]float64{0, 1, 2}, nil)), listColumn(3, float64s(x0, nil)))
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		coords []float64
		period float64
		want   string
		state  bool
	}{
		{"x₀ only", hello(nil), nil, 0, "", false},
		{"coordinates on a line", hello(nil, 0, 1, 5), []float64{0, 1, 5}, 0, "", false},
		{"coordinates on a ring", hello(map[string]string{keyPeriod: "6"}, 0, 2, 4), []float64{0, 2, 4}, 6, "", false},
		{"NaN coordinate", hello(nil, 0, math.NaN(), 4), nil, 0, "the coordinates: invalid state from the model: hello message: state 0, variable 1 is NaN", true},
		{"coordinate at the period", hello(map[string]string{keyPeriod: "4"}, 0, 2, 4), nil, 0, "coordinate 2 is 4, outside", true},
		{"negative coordinate", hello(map[string]string{keyPeriod: "4"}, -1, 2, 3), nil, 0, "coordinate 0 is -1, outside", true},
		{"zero period", hello(map[string]string{keyPeriod: "0"}, 0, 1, 2), nil, 0, "want a finite length > 0", true},
		{"infinite period", hello(map[string]string{keyPeriod: "+Inf"}, 0, 1, 2), nil, 0, "want a finite length > 0", true},
		{"period not a number", hello(map[string]string{keyPeriod: "ring"}, 0, 1, 2), nil, 0, "not a number", false},
		{"period without coordinates", hello(map[string]string{keyPeriod: "6"}), nil, 0, "without a \"coord\" column", false},
		{"columns swapped", coordThenX(), nil, 0, "want a column \"x\"", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := readMessage(bufio.NewReaderSize(bytes.NewReader(tc.data), readBuffer), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer msg.release()
			var period float64
			x, coords, err := msg.helloStates(3)
			if err == nil {
				period, err = checkCoords(msg, coords)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want == "" && (!equal(x, x0) || !slices.Equal(coords, tc.coords) || period != tc.period):
				t.Errorf("x₀ %v, coordinates %v, period %v; want %v, %v, %v", x, coords, period, x0, tc.coords, tc.period)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case tc.want != "" && errors.Is(err, ErrState) != tc.state:
				t.Errorf("errors.Is(%v, ErrState) = %v, want %v", err, !tc.state, tc.state)
			}
		})
	}
}

// The reader returns the messages of a stream one after the other.
func TestReadMessageSequence(t *testing.T) {
	var b bytes.Buffer
	b.Write(encode(t, map[string]string{keyKind: kindHello, keyStateSize: "3"}, nil, -1, 3))
	b.Write(encode(t, state, []float64{1, 2, 3}, 1, 3))
	b.Write(encode(t, map[string]string{keyKind: kindError, keyMessage: "boom"}, nil, -1, 0))
	r := bufio.NewReaderSize(&b, readBuffer)
	for _, want := range []string{kindHello, kindState, kindError} {
		msg, err := readMessage(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		if msg.kind() != want {
			t.Errorf("kind %q, want %q", msg.kind(), want)
		}
		msg.release()
	}
	if _, err := r.Peek(1); !errors.Is(err, io.EOF) {
		t.Errorf("bytes left after the three messages (%v)", err)
	}
}

// FuzzReadMessage feeds arbitrary bytes to the reader: it must return an
// error or a message, never panic or hang, and the states of a message it
// accepts are whole and finite.
func FuzzReadMessage(f *testing.F) {
	f.Add(encode(f, map[string]string{keyKind: kindHello, keyStateSize: "3", keyDt: "0.05"}, []float64{1, 2, 3}, 1, 3))
	valid := encode(f, state, []float64{1, 2, 3, 4, 5, 6}, 2, 3)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(encode(f, map[string]string{keyKind: kindError, keyMessage: "boom"}, nil, -1, 0))
	f.Add([]byte("Traceback (most recent call last):\n"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add(encode(f, map[string]string{keyKind: kindHello, keyPeriod: "6"}, []float64{1, 2, 3}, 1, 3, 0, 2, 4))
	f.Add(lz4Bomb(f))
	f.Add(metadataBomb(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := readMessage(bufio.NewReaderSize(bytes.NewReader(data), readBuffer), 1<<20)
		if err != nil {
			return
		}
		defer msg.release()
		if x0, coords, err := msg.helloStates(3); err == nil {
			for _, v := range append(slices.Clone(x0), coords...) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("hello accepted %v", v)
				}
			}
			if period, err := checkCoords(msg, coords); err == nil && period > 0 {
				for _, c := range coords {
					if !(c >= 0 && c < period) {
						t.Fatalf("accepted coordinate %v on a ring of length %v", c, period)
					}
				}
			}
		}
		vals, err := msg.states(-1, 3)
		if err != nil {
			return
		}
		if len(vals)%3 != 0 {
			t.Fatalf("%d values for states of 3", len(vals))
		}
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted %v", v)
			}
		}
	})
}
