package store

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
)

// heapAllocated runs f and returns the bytes it allocated on the Go heap.
func heapAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestEnsembleIOHoldsOneCopy checks that the writer sends the ensemble's
// own memory to the file (it allocates far less than the ensemble) and
// that the reader allocates the result and little else (the file is
// mapped, not read into Arrow buffers and copied again).
func TestEnsembleIOHoldsOneCopy(t *testing.T) {
	N, n := 20, 50_000
	E := filetest.TestEnsemble(N, n)
	size := uint64(N * n * 8)
	path := filepath.Join(t.TempDir(), "analysis.arrow")
	var err error
	if got := heapAllocated(func() { err = WriteEnsemble(path, E, filetest.TestMeta("")) }); err != nil {
		t.Fatal(err)
	} else if got > size/10 {
		t.Errorf("WriteEnsemble allocated %d bytes for a %d-byte ensemble, want < 10%%", got, size)
	}
	var back interface{ Dims() (int, int) }
	if got := heapAllocated(func() { back, _, err = ReadEnsemble(path) }); err != nil {
		t.Fatal(err)
	} else if got > size+size/10 {
		t.Errorf("ReadEnsemble allocated %d bytes for a %d-byte ensemble, want < 1.1×", got, size)
	}
	if r, c := back.Dims(); r != N || c != n {
		t.Fatalf("read back %d×%d", r, c)
	}
}

// TestMappedFileShrinking checks that a mapped file cut short under the
// reader gives an error, not a crash.
func TestMappedFileShrinking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "analysis.arrow")
	if err := WriteEnsemble(path, filetest.TestEnsemble(4, 10_000), filetest.TestMeta("")); err != nil {
		t.Fatal(err)
	}
	f, size, err := arrowfile.OpenRegular(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, unmap, err := arrowfile.MapFile(f, size)
	if err != nil {
		t.Skipf("no memory maps here: %v", err)
	}
	defer unmap()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	_, _, err = arrowfile.ReadGuarded(arrowfile.NewMemFile(data), size, arrowfile.BuildOptions(nil), readEnsemble)
	if err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Fatalf("got %v, want a changed-file error", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("a file changing under the reader is not an invalid file: %v", err)
	}
}
