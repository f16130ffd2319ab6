package filetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentda/latentda/store/internal/arrowfile"
)

// ReadFunc reads the file at path with the reader for kind and returns its
// error.
type ReadFunc func(kind arrowfile.Kind, path string, opts ...arrowfile.Option) error

// CheckDeterministic writes each file three times, twice under its name
// and once under another, in dir, and fails unless all three are the same
// bytes.
func CheckDeterministic(t *testing.T, dir string, writers map[string]func(path string) error) {
	t.Helper()
	for name, write := range writers {
		var first []byte
		for i := range 3 {
			path := filepath.Join(dir, name+".arrow")
			if i == 1 {
				path = filepath.Join(dir, name+"-again.arrow") // a different file name
			}
			if err := write(path); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = b
			} else if !bytes.Equal(first, b) {
				t.Errorf("%s: write %d differs from the first", name, i)
			}
		}
	}
}

// CheckTruncated cuts each of files (path: kind) at several lengths and
// checks that reading the truncated copy, in dir, fails with an error that
// names it and suggests truncation.
func CheckTruncated(t *testing.T, dir string, files map[string]arrowfile.Kind, readAny ReadFunc) {
	t.Helper()
	for path, kind := range files {
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
			err := readAny(kind, bad, CheckedOpts(t)...)
			if err == nil {
				t.Errorf("%s cut to %d of %d bytes: read succeeded", filepath.Base(path), cut, n)
				continue
			}
			CheckReadError(t, err, bad, "", false)
			if cut == 0 && !strings.Contains(err.Error(), "too small (empty or truncated file?)") {
				t.Errorf("empty file: %v", err)
			}
			if cut > 22 && !strings.Contains(err.Error(), "truncated file?") {
				t.Errorf("%s cut to %d of %d bytes: error does not suggest truncation: %v", filepath.Base(path), cut, n, err)
			}
		}
	}
}

// CheckGarbage checks that random bytes (some with valid magic numbers), in
// dir, fail to read as any of the kinds of files as invalid, and that
// single-byte corruptions of files give an error or a clean read, never a
// panic or a leak.
func CheckGarbage(t *testing.T, dir string, files map[string]arrowfile.Kind, readAny ReadFunc) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
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
			CheckReadError(t, readAny(kind, path, CheckedOpts(t)...), path, "", false)
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
			if err := readAny(kind, bad, CheckedOpts(t)...); err != nil {
				CheckReadError(t, err, bad, "", errors.Is(err, arrowfile.ErrNewerSchema))
			}
		}
	}
}

// CheckMissing checks that reading a missing file as each of kinds gives an
// error that matches os.ErrNotExist, not ErrInvalid, and names the file.
func CheckMissing(t *testing.T, kinds []arrowfile.Kind, readAny ReadFunc) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nope.arrow")
	for _, kind := range kinds {
		err := readAny(kind, path)
		if !errors.Is(err, os.ErrNotExist) || errors.Is(err, arrowfile.ErrInvalid) || !strings.HasPrefix(err.Error(), "store: read "+path) {
			t.Errorf("%s: got %v", kind, err)
		}
	}
}

// FlipBit flips the lowest mantissa bit of the one float64 equal to marker
// in the file at path, as a disk or memory error might: the value stays
// finite and only its checksum tells.
func FlipBit(t testing.TB, path string, marker float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pattern := binary.LittleEndian.AppendUint64(nil, math.Float64bits(marker))
	if n := bytes.Count(b, pattern); n != 1 {
		t.Fatalf("%v occurs %d times in %s, want once", marker, n, path)
	}
	b[bytes.Index(b, pattern)] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
