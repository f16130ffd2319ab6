package store

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
	"gonum.org/v1/gonum/mat"
)

// The fuzz targets feed arbitrary bytes to the readers. They check that a
// reader never panics and never leaks Arrow memory, that every error is
// classified (ErrInvalid or ErrNewerSchema), and that whatever a reader
// accepts can be written back and reads back the same, bit for bit, and
// that writing it again gives the same bytes.

func FuzzReadEnsemble(f *testing.F) {
	filetest.SeedFiles(f, func(p string) error {
		return WriteEnsemble(p, filetest.TestEnsemble(3, 5), filetest.TestMeta(""), filetest.CheckedOpts(f)...)
	})
	filetest.SeedFiles(f, func(p string) error {
		return WriteEnsemble(p, filetest.TestEnsemble(1, 1), Meta{}, filetest.CheckedOpts(f)...)
	})
	filetest.SeedFiles(f, func(p string) error { return WriteVector(p, []float64{1, 2}, Meta{}, filetest.CheckedOpts(f)...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		E, meta, err := readEnsemble(bytes.NewReader(data), int64(len(data)), arrowfile.Options{Mem: mem})
		mem.AssertSize(t, 0)
		// The mapped path (ReadEnsemble on a file) must judge the bytes
		// the same way and read the same values.
		Em, metaM, errM := readEnsemble(arrowfile.NewMemFile(data), int64(len(data)), arrowfile.Options{Mem: mem})
		mem.AssertSize(t, 0)
		if (err == nil) != (errM == nil) || (err == nil && (!reflect.DeepEqual(meta, metaM) || !filetest.BitsEqual(E.RawMatrix().Data, Em.RawMatrix().Data))) {
			t.Fatalf("read from a reader: %v; from memory: %v (or different values)", err, errM)
		}
		if !filetest.CheckErr(t, err) {
			return
		}
		filetest.Rewrite(t, E, meta, WriteEnsemble, ReadEnsemble, func(a, b *mat.Dense) bool {
			ar, ac := a.Dims()
			br, bc := b.Dims()
			return ar == br && ac == bc && filetest.BitsEqual(a.RawMatrix().Data, b.RawMatrix().Data)
		})
	})
}

func FuzzReadVector(f *testing.F) {
	filetest.SeedFiles(f, func(p string) error {
		return WriteVector(p, filetest.Specials, filetest.TestMeta(""), filetest.CheckedOpts(f)...)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		x, meta, err := readVector(bytes.NewReader(data), int64(len(data)), arrowfile.Options{Mem: mem})
		mem.AssertSize(t, 0)
		if !filetest.CheckErr(t, err) {
			return
		}
		filetest.Rewrite(t, x, meta, WriteVector, ReadVector, filetest.BitsEqual)
	})
}

func FuzzReadObservations(f *testing.F) {
	filetest.SeedFiles(f, func(p string) error {
		return WriteObservations(p, testObservations(), filetest.TestMeta(""), filetest.CheckedOpts(f)...)
	})
	filetest.SeedFiles(f, func(p string) error { return WriteObservations(p, Observations{}, Meta{}, filetest.CheckedOpts(f)...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		obs, meta, err := readObservationsFrom(bytes.NewReader(data), int64(len(data)), arrowfile.Options{Mem: mem})
		mem.AssertSize(t, 0)
		if !filetest.CheckErr(t, err) {
			return
		}
		if err := obs.Validate(); err != nil {
			t.Fatalf("reader returned observations that fail Validate: %v", err)
		}
		filetest.Rewrite(t, obs, meta, WriteObservations, ReadObservations, func(a, b Observations) bool {
			return filetest.BitsEqual(a.Values, b.Values) && filetest.BitsEqual(a.Variances, b.Variances) &&
				filetest.BitsEqual(a.Positions, b.Positions) &&
				reflect.DeepEqual(a.Flagged, b.Flagged) && reflect.DeepEqual(a.Reasons, b.Reasons)
		})
	})
}

func FuzzReadDiagnostics(f *testing.F) {
	filetest.SeedFiles(f, func(p string) error {
		return WriteDiagnostics(p, testDiag(5), filetest.TestMeta(""), filetest.CheckedOpts(f)...)
	})
	filetest.SeedFiles(f, func(p string) error { return WriteDiagnostics(p, nil, Meta{}, filetest.CheckedOpts(f)...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rows, meta, err := readDiagnostics(bytes.NewReader(data), int64(len(data)), arrowfile.Options{Mem: mem})
		mem.AssertSize(t, 0)
		if !filetest.CheckErr(t, err) {
			return
		}
		filetest.Rewrite(t, rows, meta, WriteDiagnostics, ReadDiagnostics, func(a, b []DiagRow) bool {
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

// FuzzIsTempName: a name is taken for a temporary file exactly when it is
// "." + base + ".tmp-" + 16 lower-case hex digits with a non-empty base, so
// RemoveStaleTemps can never match a final file name.
func FuzzIsTempName(f *testing.F) {
	f.Add("analysis.arrow", uint64(0x3f9c0a1b2c3d4e5f))
	f.Add("", uint64(0))
	f.Add(".tmp-", uint64(1))
	f.Fuzz(func(t *testing.T, base string, suffix uint64) {
		made := fmt.Sprintf(".%s%s%016x", base, arrowfile.TempMarker, suffix)
		if got := arrowfile.IsTempName(made); got != (base != "") {
			t.Errorf("isTempName(%q) = %v", made, got)
		}
		if arrowfile.IsTempName(base) {
			rest, ok := strings.CutPrefix(base, ".")
			i := strings.LastIndex(rest, arrowfile.TempMarker)
			if !ok || i < 1 || len(rest)-i-len(arrowfile.TempMarker) != 16 {
				t.Errorf("isTempName(%q) = true for a name not of the form", base)
			}
		}
	})
}
