package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"gonum.org/v1/gonum/mat"
)

// The fuzz targets feed arbitrary bytes to the readers. They check that a
// reader never panics and never leaks Arrow memory, that every error is
// classified (ErrInvalid or ErrNewerSchema), and that whatever a reader
// accepts can be written back and reads back the same, bit for bit, and
// that writing it again gives the same bytes.

// seedFiles adds the bytes of valid files written by write, and of a few
// damaged copies, to the corpus.
func seedFiles(f *testing.F, write func(path string) error) {
	f.Helper()
	path := filepath.Join(f.TempDir(), "seed.arrow")
	if err := write(path); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(b[:len(b)-1])
	f.Add([]byte{})
	f.Add([]byte("ARROW1\x00\x00ARROW1"))
}

// checkErr fails unless err is nil or classified.
func checkErr(t *testing.T, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("unclassified error: %v", err)
	}
	return false
}

// rewrite writes a value read from fuzz input with write, reads it back
// with read and checks both the value (via same) and, by writing again,
// that the bytes are deterministic.
func rewrite[T any](t *testing.T, v T, meta Meta,
	write func(path string, v T, meta Meta, opts ...Option) error,
	read func(path string, opts ...Option) (T, Meta, error),
	same func(a, b T) bool) {
	t.Helper()
	opts := checkedOpts(t)
	dir := fastTempDir(t)
	p1, p2 := filepath.Join(dir, "1.arrow"), filepath.Join(dir, "2.arrow")
	if err := write(p1, v, meta, opts...); err != nil {
		t.Fatalf("writing back what was read: %v", err)
	}
	got, gotMeta, err := read(p1, opts...)
	if err != nil {
		t.Fatalf("reading back what was written: %v", err)
	}
	if !same(v, got) {
		t.Fatalf("value changed on rewrite:\n was %v\n now %v", v, got)
	}
	if !reflect.DeepEqual(meta, gotMeta) {
		t.Fatalf("meta changed on rewrite:\n was %+v\n now %+v", meta, gotMeta)
	}
	if err := write(p2, got, gotMeta, opts...); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) {
		t.Fatal("writing the same value twice gave different bytes")
	}
}

// fastTempDir is a temporary directory in memory (/dev/shm) where there is
// one, so that the fsyncs of the writers cost nothing and the fuzzer runs
// (and minimises) quickly; else t.TempDir().
func fastTempDir(t *testing.T) string {
	if dir, err := os.MkdirTemp("/dev/shm", "latentda-store-fuzz-"); err == nil {
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		return dir
	}
	return t.TempDir()
}

func bitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func FuzzReadEnsemble(f *testing.F) {
	seedFiles(f, func(p string) error { return WriteEnsemble(p, testEnsemble(3, 5), testMeta(""), checkedOpts(f)...) })
	seedFiles(f, func(p string) error { return WriteEnsemble(p, testEnsemble(1, 1), Meta{}, checkedOpts(f)...) })
	seedFiles(f, func(p string) error { return WriteVector(p, []float64{1, 2}, Meta{}, checkedOpts(f)...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		E, meta, err := readEnsemble(bytes.NewReader(data), int64(len(data)), options{mem: mem})
		mem.AssertSize(t, 0)
		// The mapped path (ReadEnsemble on a file) must judge the bytes
		// the same way and read the same values.
		Em, metaM, errM := readEnsemble(newMemFile(data), int64(len(data)), options{mem: mem})
		mem.AssertSize(t, 0)
		if (err == nil) != (errM == nil) || (err == nil && (!reflect.DeepEqual(meta, metaM) || !bitsEqual(E.RawMatrix().Data, Em.RawMatrix().Data))) {
			t.Fatalf("read from a reader: %v; from memory: %v (or different values)", err, errM)
		}
		if !checkErr(t, err) {
			return
		}
		rewrite(t, E, meta, WriteEnsemble, ReadEnsemble, func(a, b *mat.Dense) bool {
			ar, ac := a.Dims()
			br, bc := b.Dims()
			return ar == br && ac == bc && bitsEqual(a.RawMatrix().Data, b.RawMatrix().Data)
		})
	})
}

func FuzzReadVector(f *testing.F) {
	seedFiles(f, func(p string) error { return WriteVector(p, specials, testMeta(""), checkedOpts(f)...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		x, meta, err := readVector(bytes.NewReader(data), int64(len(data)), options{mem: mem})
		mem.AssertSize(t, 0)
		if !checkErr(t, err) {
			return
		}
		rewrite(t, x, meta, WriteVector, ReadVector, bitsEqual)
	})
}

func FuzzReadObservations(f *testing.F) {
	seedFiles(f, func(p string) error {
		return WriteObservations(p, testObservations(), testMeta(""), checkedOpts(f)...)
	})
	seedFiles(f, func(p string) error { return WriteObservations(p, Observations{}, Meta{}, checkedOpts(f)...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		obs, meta, err := readObservationsFrom(bytes.NewReader(data), int64(len(data)), options{mem: mem})
		mem.AssertSize(t, 0)
		if !checkErr(t, err) {
			return
		}
		if err := obs.Validate(); err != nil {
			t.Fatalf("reader returned observations that fail Validate: %v", err)
		}
		rewrite(t, obs, meta, WriteObservations, ReadObservations, func(a, b Observations) bool {
			return bitsEqual(a.Values, b.Values) && bitsEqual(a.Variances, b.Variances) &&
				bitsEqual(a.Positions, b.Positions) &&
				reflect.DeepEqual(a.Flagged, b.Flagged) && reflect.DeepEqual(a.Reasons, b.Reasons)
		})
	})
}

func FuzzReadDiagnostics(f *testing.F) {
	seedFiles(f, func(p string) error { return WriteDiagnostics(p, testDiag(5), testMeta(""), checkedOpts(f)...) })
	seedFiles(f, func(p string) error { return WriteDiagnostics(p, nil, Meta{}, checkedOpts(f)...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rows, meta, err := readDiagnostics(bytes.NewReader(data), int64(len(data)), options{mem: mem})
		mem.AssertSize(t, 0)
		if !checkErr(t, err) {
			return
		}
		rewrite(t, rows, meta, WriteDiagnostics, ReadDiagnostics, func(a, b []DiagRow) bool {
			if len(a) != len(b) {
				return false
			}
			for i := range a {
				if !a[i].same(b[i]) {
					return false
				}
			}
			return true
		})
	})
}

func FuzzReadArchive(f *testing.F) {
	seedFiles(f, func(p string) error { return WriteArchive(p, testArchive(4, 3), testMeta(""), checkedOpts(f)...) })
	seedFiles(f, func(p string) error {
		return WriteArchive(p, Archive{X: mat.NewDense(1, 1, []float64{2}), Times: []float64{0}}, Meta{}, checkedOpts(f)...)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		a, meta, err := readArchive(bytes.NewReader(data), int64(len(data)), options{mem: mem})
		mem.AssertSize(t, 0)
		if !checkErr(t, err) {
			return
		}
		if err := a.validate(); err != nil {
			t.Fatalf("reader returned an archive that fails validation: %v", err)
		}
		rewrite(t, a, meta, WriteArchive, ReadArchive, func(a, b Archive) bool {
			ar, ac := a.X.Dims()
			br, bc := b.X.Dims()
			return ar == br && ac == bc && bitsEqual(a.X.RawMatrix().Data, b.X.RawMatrix().Data) &&
				bitsEqual(a.Times, b.Times) && reflect.DeepEqual(a.Valid, b.Valid)
		})
	})
}

func FuzzReadTensors(f *testing.F) {
	seedFiles(f, func(p string) error {
		return WriteTensors(p, testTensors(), testMeta(KindGenerator), checkedOpts(f)...)
	})
	seedFiles(f, func(p string) error {
		return WriteTensors(p, testTensors()[3:6], Meta{Kind: KindCheckpoint}, checkedOpts(f)...)
	})
	seedFiles(f, func(p string) error { return WriteTensors(p, nil, Meta{Kind: KindGenerator}, checkedOpts(f)...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		ts, meta, err := readTensors(bytes.NewReader(data), int64(len(data)), options{mem: mem}, tensorKinds)
		mem.AssertSize(t, 0)
		if !checkErr(t, err) {
			return
		}
		if _, err := validateTensors(ts); err != nil {
			t.Fatalf("reader returned tensors that fail validation: %v", err)
		}
		read := func(path string, opts ...Option) ([]Tensor, Meta, error) {
			return ReadTensors(path, meta.Kind, opts...)
		}
		rewrite(t, ts, meta, WriteTensors, read, sameTensors)
	})
}

// FuzzIsTempName: a name is taken for a temporary file exactly when it is
// "." + base + ".tmp-" + 16 lower-case hex digits with a non-empty base, so
// RemoveStaleTemps can never match a final file name.
func FuzzIsTempName(f *testing.F) {
	f.Add("analysis.arrow", uint64(0x3f9c0a1b2c3d4e5f))
	f.Add("", uint64(0))
	f.Add(".tmp-", uint64(1))
	f.Fuzz(func(t *testing.T, base string, suffix uint64) {
		made := fmt.Sprintf(".%s%s%016x", base, tempMarker, suffix)
		if got := isTempName(made); got != (base != "") {
			t.Errorf("isTempName(%q) = %v", made, got)
		}
		if isTempName(base) {
			rest, ok := strings.CutPrefix(base, ".")
			i := strings.LastIndex(rest, tempMarker)
			if !ok || i < 1 || len(rest)-i-len(tempMarker) != 16 {
				t.Errorf("isTempName(%q) = true for a name not of the form", base)
			}
		}
	})
}
