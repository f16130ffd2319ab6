package trainfile

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/latentda/latentda/store/internal/filetest"
)

// benchTensors are the weights of a dense autoencoder 1000 → 500 → 1000,
// 1 001 500 parameters.
func benchTensors() []Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	var ts []Tensor
	for _, l := range []struct {
		name  string
		shape []int
	}{
		{"encoder.0.weight", []int{500, 1000}}, {"encoder.0.bias", []int{500}},
		{"decoder.0.weight", []int{1000, 500}}, {"decoder.0.bias", []int{1000}},
	} {
		n := 1
		for _, d := range l.shape {
			n *= d
		}
		data := make([]float64, n)
		for i := range data {
			data[i] = rng.NormFloat64() * 0.05
		}
		ts = append(ts, Tensor{Name: l.name, Shape: l.shape, Data: data})
	}
	return ts
}

func tensorBytes(ts []Tensor) int64 {
	var n int64
	for _, t := range ts {
		n += int64(len(t.Data)) * 8
	}
	return n
}

func BenchmarkWriteTensors(b *testing.B) {
	ts := benchTensors()
	path := filepath.Join(b.TempDir(), "generator.arrow")
	meta := filetest.TestMeta(KindGenerator)
	b.SetBytes(tensorBytes(ts))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteTensors(path, ts, meta); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadTensors(b *testing.B) {
	ts := benchTensors()
	path := filepath.Join(b.TempDir(), "generator.arrow")
	if err := WriteTensors(path, ts, filetest.TestMeta(KindGenerator)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(tensorBytes(ts))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ReadTensors(path, KindGenerator); err != nil {
			b.Fatal(err)
		}
	}
}
