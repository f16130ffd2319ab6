package neural

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/internal/fixture"
	"github.com/latentda/latentda/observations"
)

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

// On the trained autoencoder, off-manifold states (noise variance 4e-2 on
// top of the data's 1e-4) are encoded imperfectly by the amortised encoder;
// Gauss–Newton from E(x) never increases the residual and, on average,
// lowers the squared residual substantially.
func TestProjectAutoencoder(t *testing.T) {
	res, err := manifoldFixture()
	if err != nil {
		t.Fatal(err)
	}
	g := res.Model
	X := fixture.ManifoldData(50, 0.2, 77)
	proj, err := latent.NewProjector(g.Clone(), latent.ProjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	z0 := make([]float64, 2)
	z := make([]float64, 2)
	var before, after float64
	iters := 0
	for i := 0; i < 50; i++ {
		x := X.RawRowView(i)
		g.Encode(z0, x)
		st := proj.Project(z, x, z0)
		if st.Residual > st.Initial {
			t.Errorf("sample %d: residual went up from %v to %v", i, st.Initial, st.Residual)
		}
		before += st.Initial * st.Initial
		after += st.Residual * st.Residual
		iters += st.Iterations
		// The residual reported is that of the returned code.
		xz := make([]float64, 8)
		g.Decode(xz, z)
		floats.Sub(xz, x)
		if d := math.Abs(floats.Norm(xz, 2) - st.Residual); d > 1e-12*st.Residual {
			t.Errorf("sample %d: reported residual %v, actual %v", i, st.Residual, floats.Norm(xz, 2))
		}
	}
	t.Logf("mean squared residual %.4g from the encoder, %.4g after projection (%.1f steps on average)", before/50, after/50, float64(iters)/50)
	if !(after < 0.9*before) {
		t.Errorf("projection lowered the squared residual only from %v to %v", before, after)
	}
}

// TestObservedJacobian compares the chain-rule Jacobian of H∘G with central
// differences for a nonlinear operator (x²) on a nonlinear generator (a
// small autoencoder); tolerance 1e-6 relative to the largest entry
// (differences with h = 1e-6 have O(h²) truncation and O(ε/h) round-off).
func TestObservedJacobian(t *testing.T) {
	ae := randomAutoencoder(t, 6, []int{8}, 2, "tanh", 3)
	op, err := observations.NewSquare(ae.StateDim(), []int{0, 2, 3, 5})
	if err != nil {
		t.Fatal(err)
	}
	o, err := latent.NewObserved(ae, op)
	if err != nil {
		t.Fatal(err)
	}
	z := []float64{0.3, -0.7}
	var J mat.Dense
	o.Jacobian(&J, z)
	p, d := J.Dims()
	const h = 1e-6
	yp, ym := make([]float64, p), make([]float64, p)
	zz := append([]float64(nil), z...)
	scale := mat.Norm(&J, math.Inf(1))
	for k := 0; k < d; k++ {
		zz[k] = z[k] + h
		o.Decode(yp, zz)
		zz[k] = z[k] - h
		o.Decode(ym, zz)
		zz[k] = z[k]
		for i := 0; i < p; i++ {
			fd := (yp[i] - ym[i]) / (2 * h)
			if math.Abs(fd-J.At(i, k)) > 1e-6*scale {
				t.Errorf("J[%d][%d] = %v, finite difference %v", i, k, J.At(i, k), fd)
			}
		}
	}
}
