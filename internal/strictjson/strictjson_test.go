package strictjson

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type doc struct {
		A int      `json:"a"`
		B []string `json:"b"`
	}
	var d doc
	if err := Decode(strings.NewReader(` {"a": 1, "b": ["x"]}
`), &d); err != nil || d.A != 1 || len(d.B) != 1 {
		t.Errorf("got %+v, %v", d, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "EOF"},
		{`{"a": 1`, "unexpected EOF"},
		{`{"a": 1, "c": 2}`, `unknown field "c"`},
		{`{"a": "1"}`, "cannot unmarshal string"},
		{`{"a": 1} {"a": 2}`, "data after the JSON value"},
		{`{"a": 1} x`, "data after the JSON value"},
		{`{"a": 1}]`, "data after the JSON value"},
	} {
		if err := Decode(strings.NewReader(tc.in), &doc{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}
