package external

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// stateReply is a state reply over shared memory with metadata meta.
func stateReply(meta map[string]string) message {
	m := map[string]string{keyKind: kindState}
	for k, v := range meta {
		m[k] = v
	}
	return message{meta: m}
}

func TestSharedReply(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6}
	batch := func() message {
		msg := stateReply(map[string]string{keyRows: "2"})
		msg.rec = array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 0)
		return msg
	}
	for _, tc := range []struct {
		name string
		msg  message
		src  []float64
		want string // "" for success, else part of the error
		kind error
	}{
		{"states", stateReply(map[string]string{keyRows: "2"}), v, "", nil},
		{"no rows", stateReply(nil), v, `"rows" is ""`, ErrProtocol},
		{"rows not a number", stateReply(map[string]string{keyRows: "two"}), v, `"rows" is "two"`, ErrProtocol},
		{"fewer rows", stateReply(map[string]string{keyRows: "1"}), v, "holds 1 states, want 2", ErrState},
		{"more rows", stateReply(map[string]string{keyRows: "3"}), v, "holds 3 states, want 2", ErrState},
		{"a batch as well", batch(), v, "with a record batch", ErrProtocol},
		{"NaN", stateReply(map[string]string{keyRows: "2"}), []float64{1, 2, 3, 4, math.NaN(), 6}, "state 1, variable 1 is NaN", ErrState},
		{"Inf", stateReply(map[string]string{keyRows: "2"}), []float64{math.Inf(1), 2, 3, 4, 5, 6}, "state 0, variable 0 is +Inf", ErrState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.msg.release()
			dst := make([]float64, 6)
			err := sharedReply(dst, tc.msg, tc.src, 2, 3)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want == "" && !equal(dst, v):
				t.Errorf("copied %v, want %v", dst, v)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.kind)):
				t.Errorf("error %v, want a %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

// FuzzSharedReply feeds arbitrary rows metadata and file contents to the
// reader of replies over shared memory: it must return an error or copy
// exactly the finite values of the file, never panic.
func FuzzSharedReply(f *testing.F) {
	file := func(v ...float64) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	f.Add("2", file(1, 2, 3, 4, 5, 6))
	f.Add("1", file(1, 2, 3))
	f.Add("-1", file(1, 2, 3, 4, 5, 6))
	f.Add("2", file(1, 2, 3, 4, math.NaN(), 6))
	f.Add("9223372036854775807", []byte{})
	f.Fuzz(func(t *testing.T, rows string, data []byte) {
		const n, want = 3, 2
		src := make([]float64, len(data)/8)
		for i := range src {
			src[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
		}
		dst := make([]float64, want*n)
		err := sharedReply(dst, stateReply(map[string]string{keyRows: rows}), src, want, n)
		if err != nil {
			return
		}
		for i, v := range dst {
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Float64bits(v) != math.Float64bits(src[i]) {
				t.Fatalf("value %d: copied %v from %v", i, v, src[i])
			}
		}
	})
}
