package neural

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/internal/fixture"
)

var benchSizes = []struct{ n, d int }{{40, 8}, {128, 16}}

func benchGenerators(b *testing.B, n, d int) []latent.Generator {
	X := fixture.SubspaceData(4*n, n, []float64{5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0.1, 1)
	p, err := latent.FitPCA(X, latent.PCAOptions{Dim: d})
	if err != nil {
		b.Fatal(err)
	}
	return []latent.Generator{p, randomAutoencoder(b, n, []int{64, 64}, d, Tanh, 1)}
}

func BenchmarkDecode(b *testing.B) {
	for _, s := range benchSizes {
		for _, g := range benchGenerators(b, s.n, s.d) {
			b.Run(fmt.Sprintf("%s/n=%d,d=%d", g.Name(), s.n, s.d), func(b *testing.B) {
				z := fixture.RandVec(s.d, rand.New(rand.NewPCG(1, 1)))
				x := make([]float64, s.n)
				b.ReportAllocs()
				for b.Loop() {
					g.Decode(x, z)
				}
			})
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, s := range benchSizes {
		for _, g := range benchGenerators(b, s.n, s.d) {
			b.Run(fmt.Sprintf("%s/n=%d,d=%d", g.Name(), s.n, s.d), func(b *testing.B) {
				x := fixture.RandVec(s.n, rand.New(rand.NewPCG(1, 1)))
				z := make([]float64, s.d)
				b.ReportAllocs()
				for b.Loop() {
					g.Encode(z, x)
				}
			})
		}
	}
}

func BenchmarkJacobian(b *testing.B) {
	for _, s := range benchSizes {
		for _, g := range benchGenerators(b, s.n, s.d) {
			b.Run(fmt.Sprintf("%s/n=%d,d=%d", g.Name(), s.n, s.d), func(b *testing.B) {
				z := fixture.RandVec(s.d, rand.New(rand.NewPCG(1, 1)))
				J := mat.NewDense(s.n, s.d, nil)
				b.ReportAllocs()
				for b.Loop() {
					g.Jacobian(J, z)
				}
			})
		}
	}
}

// BenchmarkProject projects noisy states onto the autoencoder's range from
// the encoder's code.
func BenchmarkProject(b *testing.B) {
	for _, s := range benchSizes {
		g := benchGenerators(b, s.n, s.d)[1]
		b.Run(fmt.Sprintf("n=%d,d=%d", s.n, s.d), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x := make([]float64, s.n)
			g.Decode(x, fixture.RandVec(s.d, rng))
			for i := range x {
				x[i] += 0.1 * rng.NormFloat64()
			}
			z0 := make([]float64, s.d)
			g.Encode(z0, x)
			z := make([]float64, s.d)
			p, err := latent.NewProjector(g, latent.ProjectOptions{MaxIter: 10})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Project(z, x, z0)
			}
		})
	}
}

// BenchmarkTrainEpoch runs one epoch of training on 4000 samples of 40
// variables: encoder 40 → 64 → 64 → 8, mirrored decoder, tanh, batches of 64
// in shards of 32.
func BenchmarkTrainEpoch(b *testing.B) {
	X := fixture.SubspaceData(4000, 40, []float64{5, 4, 3, 2, 1, 1, 1, 1, 1, 1}, 0.1, 1)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			opts := AEOptions{Hidden: []int{64, 64}, Latent: 8, Epochs: 1, Workers: workers, Seed: 1}
			for b.Loop() {
				if _, err := TrainAutoencoder(context.Background(), X, nil, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
