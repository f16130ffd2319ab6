package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/latentda/latentda/store/internal/filetest"
	"gonum.org/v1/gonum/mat"
)

// The benchmarks write to and read from b.TempDir(), so the write numbers
// include the two fsyncs of every atomic write.

var benchSizes = []struct{ N, n int }{{24, 40}, {20, 1_000_000}}

func benchEnsemble(N, n int) *mat.Dense {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float64, N*n)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return mat.NewDense(N, n, data)
}

func BenchmarkWriteEnsemble(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", s.N, s.n), func(b *testing.B) {
			E := benchEnsemble(s.N, s.n)
			path := filepath.Join(b.TempDir(), "analysis.arrow")
			meta := filetest.TestMeta("")
			b.SetBytes(int64(s.N * s.n * 8))
			b.ReportAllocs()
			for b.Loop() {
				if err := WriteEnsemble(path, E, meta); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadEnsemble(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", s.N, s.n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "analysis.arrow")
			if err := WriteEnsemble(path, benchEnsemble(s.N, s.n), filetest.TestMeta("")); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(s.N * s.n * 8))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ReadEnsemble(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawDisk is the yardstick for the two above: the same bytes
// written with one os.File.Write and fsync, and read with one ReadAt, in
// the same directory.
func BenchmarkRawDisk(b *testing.B) {
	for _, s := range benchSizes {
		data := make([]byte, s.N*s.n*8)
		for i := range data {
			data[i] = byte(i)
		}
		path := filepath.Join(b.TempDir(), "raw.bin")
		b.Run(fmt.Sprintf("write-fsync/%dx%d", s.N, s.n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("read/%dx%d", s.N, s.n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.ReadAt(data, 0); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}
