package config

import (
	"strings"
	"testing"
)

// TestChecksum: the line round-trips, a changed byte above it or in it is
// a mismatch, and a config without the line is read as it is.
func TestChecksum(t *testing.T) {
	yaml := []byte("name: a\nseed: 3\n")
	stored := WithChecksum(yaml)
	if !strings.HasPrefix(string(stored[len(yaml):]), checksumPrefix) {
		t.Fatalf("stored config %q lacks its checksum line", stored)
	}
	if back, err := VerifyChecksum(stored); err != nil || string(back) != string(yaml) {
		t.Errorf("VerifyChecksum = %q, %v; want the config", back, err)
	}
	for _, tc := range []struct {
		name string
		data string
		ok   bool
	}{
		{"no line", "name: a\nseed: 3\n", true},
		{"a digit changed", strings.Replace(string(stored), "seed: 3", "seed: 7", 1), false},
		{"the checksum changed", string(stored[:len(stored)-2]) + "0\n", false},
		{"line without its newline", strings.TrimSuffix(string(stored), "\n"), true},
		{"prefix inside a line", "name: a # latentda checksum crc32c:00000000\n", true},
	} {
		_, err := VerifyChecksum([]byte(tc.data))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func FuzzVerifyChecksum(f *testing.F) {
	f.Add(WithChecksum([]byte("name: a\n")))
	f.Add([]byte("# latentda checksum crc32c:zz\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := VerifyChecksum(data)
		if err == nil && len(body) > len(data) {
			t.Fatalf("body longer than the data")
		}
		if err == nil && len(body) < len(data) {
			if again, err := VerifyChecksum(WithChecksum(body)); err != nil || string(again) != string(body) {
				t.Fatalf("round trip of a verified body failed: %v", err)
			}
		}
	})
}
