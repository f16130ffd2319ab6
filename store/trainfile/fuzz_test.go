package trainfile

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
	"gonum.org/v1/gonum/mat"
)

// The fuzz targets feed arbitrary bytes to the readers, like those of
// package store (see store/fuzz_test.go).

func FuzzReadArchive(f *testing.F) {
	filetest.SeedFiles(f, func(p string) error {
		return WriteArchive(p, testArchive(4, 3), filetest.TestMeta(""), filetest.CheckedOpts(f)...)
	})
	filetest.SeedFiles(f, func(p string) error {
		return WriteArchive(p, Archive{X: mat.NewDense(1, 1, []float64{2}), Times: []float64{0}}, arrowfile.Meta{}, filetest.CheckedOpts(f)...)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		a, meta, err := readArchive(bytes.NewReader(data), int64(len(data)), arrowfile.Options{Mem: mem})
		mem.AssertSize(t, 0)
		if !filetest.CheckErr(t, err) {
			return
		}
		if err := a.validate(); err != nil {
			t.Fatalf("reader returned an archive that fails validation: %v", err)
		}
		filetest.Rewrite(t, a, meta, WriteArchive, ReadArchive, func(a, b Archive) bool {
			ar, ac := a.X.Dims()
			br, bc := b.X.Dims()
			return ar == br && ac == bc && filetest.BitsEqual(a.X.RawMatrix().Data, b.X.RawMatrix().Data) &&
				filetest.BitsEqual(a.Times, b.Times) && reflect.DeepEqual(a.Valid, b.Valid)
		})
	})
}

func FuzzReadTensors(f *testing.F) {
	filetest.SeedFiles(f, func(p string) error {
		return WriteTensors(p, testTensors(), filetest.TestMeta(KindGenerator), filetest.CheckedOpts(f)...)
	})
	filetest.SeedFiles(f, func(p string) error {
		return WriteTensors(p, testTensors()[3:6], arrowfile.Meta{Kind: KindCheckpoint}, filetest.CheckedOpts(f)...)
	})
	filetest.SeedFiles(f, func(p string) error {
		return WriteTensors(p, nil, arrowfile.Meta{Kind: KindGenerator}, filetest.CheckedOpts(f)...)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		ts, meta, err := readTensors(bytes.NewReader(data), int64(len(data)), arrowfile.Options{Mem: mem}, tensorKinds)
		mem.AssertSize(t, 0)
		if !filetest.CheckErr(t, err) {
			return
		}
		if _, err := validateTensors(ts); err != nil {
			t.Fatalf("reader returned tensors that fail validation: %v", err)
		}
		read := func(path string, opts ...arrowfile.Option) ([]Tensor, arrowfile.Meta, error) {
			return ReadTensors(path, meta.Kind, opts...)
		}
		filetest.Rewrite(t, ts, meta, WriteTensors, read, sameTensors)
	})
}
