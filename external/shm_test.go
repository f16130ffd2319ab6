package external

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strconv"
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
		vals []float64
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
		{"-Inf", stateReply(map[string]string{keyRows: "2"}), []float64{1, 2, 3, 4, 5, math.Inf(-1)}, "state 1, variable 2 is -Inf", ErrState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.msg.release()
			err := checkReply(tc.msg, tc.vals, 2, 3)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.kind)):
				t.Errorf("error %v, want a %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

// checkReply is what a request over shared memory checks of a reply of
// rows states of n values, vals, that is not hosted.
func checkReply(msg message, vals []float64, rows, n int) error {
	if err := sharedReply(msg, rows); err != nil {
		return err
	}
	return checkFinite(vals, n)
}

// FuzzSharedReply feeds arbitrary rows metadata and file contents to the
// checks of replies over shared memory: they must accept exactly the
// replies of 2 states whose values are all finite, and never panic.
func FuzzSharedReply(f *testing.F) {
	file := func(v ...float64) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	f.Add("2", file(1, 2, 3, 4, 5, 6))
	f.Add("1", file(1, 2, 3, 4, 5, 6))
	f.Add("-1", file(1, 2, 3, 4, 5, 6))
	f.Add("2", file(1, 2, 3, 4, math.NaN(), 6))
	f.Add("9223372036854775807", file(1, 2, 3, 4, 5, 6))
	f.Fuzz(func(t *testing.T, rows string, data []byte) {
		const n, want = 3, 2
		if len(data) < 8*want*n {
			return
		}
		vals := make([]float64, want*n)
		for i := range vals {
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
		}
		err := checkReply(stateReply(map[string]string{keyRows: rows}), vals, want, n)
		finite := !slices.ContainsFunc(vals, func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) })
		r, perr := strconv.Atoi(rows)
		if ok := perr == nil && r == want && finite; (err == nil) != ok {
			t.Fatalf("rows %q, values %v: error %v", rows, vals, err)
		}
	})
}
