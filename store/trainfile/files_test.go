package trainfile

import (
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
)

// The checks that package store runs on its own kinds of file, here on
// archives and tensor files.

func TestDeterministic(t *testing.T) {
	filetest.CheckDeterministic(t, t.TempDir(), map[string]func(path string) error{
		"archive": func(p string) error {
			return WriteArchive(p, testArchive(9, 7), filetest.TestMeta(""), filetest.CheckedOpts(t)...)
		},
		"archive view": func(p string) error {
			a := testArchive(9, 20)
			a.X = a.X.Slice(0, 9, 3, 17).(*mat.Dense)
			return WriteArchive(p, a, filetest.TestMeta(""), filetest.CheckedOpts(t)...)
		},
		"generator": func(p string) error {
			return WriteTensors(p, testTensors(), filetest.TestMeta(KindGenerator), filetest.CheckedOpts(t)...)
		},
		"checkpoint": func(p string) error {
			return WriteTensors(p, testTensors(), filetest.TestMeta(KindCheckpoint), filetest.CheckedOpts(t)...)
		},
		"no tensors": func(p string) error {
			return WriteTensors(p, nil, filetest.TestMeta(KindGenerator), filetest.CheckedOpts(t)...)
		},
	})
}

// validFiles writes one file of each kind in dir and returns their kinds
// by path.
func validFiles(t *testing.T, dir string) map[string]arrowfile.Kind {
	t.Helper()
	files := map[string]arrowfile.Kind{}
	p := filepath.Join(dir, "archive.arrow")
	if err := WriteArchive(p, testArchive(6, 5), filetest.TestMeta(""), filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindArchive
	p = filepath.Join(dir, "generator.arrow")
	if err := WriteTensors(p, testTensors(), filetest.TestMeta(KindGenerator), filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindGenerator
	p = filepath.Join(dir, "checkpoint.arrow")
	if err := WriteTensors(p, testTensors()[:2], filetest.TestMeta(KindCheckpoint), filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindCheckpoint
	return files
}

// readAny reads path with the reader for kind and returns its error.
func readAny(kind arrowfile.Kind, path string, opts ...arrowfile.Option) error {
	var err error
	switch kind {
	case store.KindEnsemble: // for the tests of the kind check
		_, _, err = store.ReadEnsemble(path, opts...)
	case KindArchive:
		_, _, err = ReadArchive(path, opts...)
	case KindGenerator, KindCheckpoint:
		_, _, err = ReadTensors(path, kind, opts...)
	default:
		panic("readAny: no reader for kind " + kind)
	}
	return err
}

func TestReadTruncated(t *testing.T) {
	dir := t.TempDir()
	filetest.CheckTruncated(t, dir, validFiles(t, dir), readAny)
}

func TestReadGarbage(t *testing.T) {
	dir := t.TempDir()
	filetest.CheckGarbage(t, dir, validFiles(t, dir), readAny)
}

func TestReadMissingFile(t *testing.T) {
	filetest.CheckMissing(t, []arrowfile.Kind{KindArchive, KindGenerator, KindCheckpoint}, readAny)
}

// TestChecksumDetectsFlippedBit: a bit flipped in one stored value (left
// finite) of an archive, a generator or a checkpoint makes the read fail,
// naming the file.
func TestChecksumDetectsFlippedBit(t *testing.T) {
	const marker = 1.2345678901234567
	for _, tc := range []struct {
		kind  arrowfile.Kind
		write func(path string) error
	}{
		{KindArchive, func(p string) error {
			a := testArchive(6, 5)
			a.X.Set(4, 3, marker)
			return WriteArchive(p, a, filetest.TestMeta(""))
		}},
		{KindGenerator, func(p string) error {
			ts := testTensors()
			ts[1].Data[0] = marker
			return WriteTensors(p, ts, filetest.TestMeta(KindGenerator))
		}},
		{KindCheckpoint, func(p string) error {
			ts := testTensors()
			ts[0].Data[len(ts[0].Data)-1] = marker
			return WriteTensors(p, ts, filetest.TestMeta(KindCheckpoint))
		}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), string(tc.kind)+".arrow")
			if err := tc.write(path); err != nil {
				t.Fatal(err)
			}
			if err := readAny(tc.kind, path, filetest.CheckedOpts(t)...); err != nil {
				t.Fatalf("intact file: %v", err)
			}
			filetest.FlipBit(t, path, marker)
			filetest.CheckReadError(t, readAny(tc.kind, path, filetest.CheckedOpts(t)...), path, "record batch 0: checksum mismatch", false)
		})
	}
}
