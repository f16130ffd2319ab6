package latent

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randOrthogonal returns a random n × n orthogonal matrix (QR of a Gaussian
// matrix).
func randOrthogonal(n int, rng *rand.Rand) *mat.Dense {
	a := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	var q mat.Dense
	qr.QTo(&q)
	return &q
}

// subspaceData returns m samples of μ + Σₖ cₖ sₖ aₖ with k random orthonormal
// directions aₖ in ℝⁿ, scales sₖ and Gaussian cₖ, plus isotropic noise of
// standard deviation noise.
func subspaceData(m, n int, scales []float64, noise float64, seed uint64) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 7))
	q := randOrthogonal(n, rng)
	X := mat.NewDense(m, n, nil)
	mu := make([]float64, n)
	for j := range mu {
		mu[j] = 10 * rng.NormFloat64()
	}
	for i := 0; i < m; i++ {
		row := X.RawRowView(i)
		copy(row, mu)
		for k, s := range scales {
			c := s * rng.NormFloat64()
			for j := range row {
				row[j] += c * q.At(j, k)
			}
		}
		for j := range row {
			row[j] += noise * rng.NormFloat64()
		}
	}
	return X
}

// manifoldData returns m samples of a 2-D curved sheet in ℝ⁸: with u, v
// uniform on [−1, 1] the features are arcs of two circles and two
// quadratic terms, rotated by a fixed random orthogonal matrix, plus noise.
// Most of the variance is off the best 2-D plane.
func manifoldData(m int, noise float64, seed uint64) *mat.Dense {
	const n = 8
	q := randOrthogonal(n, rand.New(rand.NewPCG(42, 42)))
	rng := rand.New(rand.NewPCG(seed, 8))
	X := mat.NewDense(m, n, nil)
	s := make([]float64, n)
	for i := 0; i < m; i++ {
		u, v := 2*rng.Float64()-1, 2*rng.Float64()-1
		s[0], s[1] = math.Cos(2*u), math.Sin(2*u)
		s[2], s[3] = math.Cos(2*v), math.Sin(2*v)
		s[4] = u * v
		s[5] = u*u - v*v
		s[6] = math.Sin(3 * u * v)
		s[7] = 0.5 * (u + v) * (u - v) * u
		row := X.RawRowView(i)
		for j := range row {
			var x float64
			for k := range s {
				x += q.At(j, k) * s[k]
			}
			row[j] = x + noise*rng.NormFloat64()
		}
	}
	return X
}

// randomAutoencoder returns an autoencoder n → hidden → d → reversed → n
// with random weights and a non-trivial normalisation.
func randomAutoencoder(t testing.TB, n int, hidden []int, d int, act Activation, seed uint64) *Autoencoder {
	t.Helper()
	s := newShape(n, hidden, d, act)
	p := make([]float64, s.size)
	rng := rand.New(rand.NewPCG(seed, 9))
	s.initParams(p, rng.Float64)
	for l := 0; l < s.layers(); l++ {
		for i := range s.b(p, l) {
			s.b(p, l)[i] = 0.3 * rng.NormFloat64()
		}
	}
	enc, dec := s.toLayers(p)
	norm := Normalization{Mean: make([]float64, n), Std: make([]float64, n)}
	for i := range norm.Mean {
		norm.Mean[i] = rng.NormFloat64()
		norm.Std[i] = 0.5 + rng.Float64()
	}
	ae, err := NewAutoencoder(enc, dec, norm)
	if err != nil {
		t.Fatal(err)
	}
	return ae
}

func randVec(n int, rng *rand.Rand) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func maxAbs(a []float64) float64 {
	var m float64
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
