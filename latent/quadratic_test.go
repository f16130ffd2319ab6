package latent

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/fixture"
)

// quadraticManifold returns a generator-free description of a quadratic
// manifold in ℝⁿ: x(z) = μ + A z + C q(z) with A = [s₁a₁ … s_d a_d] and the
// columns of C combinations of further orthonormal directions, so that
// AᵀC = 0.
type quadraticManifold struct {
	n, d int
	mu   []float64
	A    *mat.Dense // n × d
	C    *mat.Dense // n × d(d+1)/2
}

func newQuadraticManifold(n, d int, scales []float64, curv float64, seed uint64) *quadraticManifold {
	rng := rand.New(rand.NewPCG(seed, 17))
	U := fixture.RandOrthogonal(n, rng)
	p := d * (d + 1) / 2
	qm := &quadraticManifold{n: n, d: d, mu: fixture.RandVec(n, rng), A: mat.NewDense(n, d, nil), C: mat.NewDense(n, p, nil)}
	for k := 0; k < d; k++ {
		for i := 0; i < n; i++ {
			qm.A.Set(i, k, scales[k]*U.At(i, k))
		}
	}
	for k := 0; k < p; k++ {
		for c := d; c < n; c++ {
			f := curv * rng.NormFloat64()
			for i := 0; i < n; i++ {
				qm.C.Set(i, k, qm.C.At(i, k)+f*U.At(i, c))
			}
		}
	}
	return qm
}

func (qm *quadraticManifold) point(x, z []float64) {
	q := make([]float64, qm.d*(qm.d+1)/2)
	monomials(q, z)
	copy(x, qm.mu)
	for i := range x {
		x[i] += mat.Dot(qm.A.RowView(i), mat.NewVecDense(qm.d, z)) + mat.Dot(qm.C.RowView(i), mat.NewVecDense(len(q), q))
	}
}

// samples returns m points of the manifold at Gaussian codes drawn in
// antithetic pairs ±z (m even), so that the sample odd moments of z vanish:
// PCA then finds the span of A exactly, whatever the curvature.
func (qm *quadraticManifold) samples(m int, seed uint64) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 18))
	X := mat.NewDense(m, qm.n, nil)
	for i := 0; i < m; i += 2 {
		z := fixture.RandVec(qm.d, rng)
		qm.point(X.RawRowView(i), z)
		for k := range z {
			z[k] = -z[k]
		}
		qm.point(X.RawRowView(i+1), z)
	}
	return X
}

func TestFitQuadraticExact(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n, d   int
		scales []float64
		curv   float64
	}{
		{"n=12,d=3", 12, 3, []float64{3, 2, 1.5}, 0.1},
		{"n=40,d=5", 40, 5, []float64{4, 3, 3, 2, 1}, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qm := newQuadraticManifold(tc.n, tc.d, tc.scales, tc.curv, 1)
			train := qm.samples(600, 2)
			valid := qm.samples(100, 3)
			g, err := FitQuadratic(train, valid, QuadraticOptions{Dim: tc.d})
			if err != nil {
				t.Fatal(err)
			}
			if g.Lambda() != 0 {
				t.Errorf("chose λ = %v on exact data, want 0", g.Lambda())
			}
			// Reconstruction error on held-out manifold points, in
			// units of the state's scale: round-off.
			test := qm.samples(100, 4)
			if mse := ReconstructionError(g, test); !(math.Sqrt(mse) < 1e-10) {
				t.Errorf("held-out RMS reconstruction error %g, want round-off", math.Sqrt(mse))
			}
			// PCA alone cannot represent the curvature.
			pca, err := FitPCA(train, PCAOptions{Dim: tc.d})
			if err != nil {
				t.Fatal(err)
			}
			if mse := ReconstructionError(pca, test); !(math.Sqrt(mse) > 1e-2) {
				t.Errorf("PCA RMS reconstruction error %g on the curved manifold, want > 1e-2", math.Sqrt(mse))
			}
			// The encoder inverts the decoder.
			rng := rand.New(rand.NewPCG(5, 5))
			x := make([]float64, tc.n)
			z2 := make([]float64, tc.d)
			for range 10 {
				z := fixture.RandVec(tc.d, rng)
				g.Decode(x, z)
				g.Encode(z2, x)
				if e := fixture.MaxAbsDiff(z, z2); e > 1e-10 {
					t.Errorf("|E(G(z)) − z| = %g", e)
				}
			}
		})
	}
}

func TestFitQuadraticChoosesLambda(t *testing.T) {
	// Few noisy samples of a curved manifold: the unregularised fit of the
	// 55 quadratic columns on 80 samples over-fits the noise.
	qm := newQuadraticManifold(30, 10, []float64{5, 4, 4, 3, 3, 2, 2, 2, 1, 1}, 0.05, 1)
	train := qm.samples(80, 2)
	valid := qm.samples(200, 3)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, X := range []*mat.Dense{train, valid} {
		raw := X.RawMatrix()
		for i := range raw.Data {
			raw.Data[i] += 0.3 * rng.NormFloat64()
		}
	}
	g, err := FitQuadratic(train, valid, QuadraticOptions{Dim: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !(g.Lambda() > 0) {
		t.Errorf("chose λ = %v on noisy under-determined data, want > 0", g.Lambda())
	}
	g0, err := FitQuadratic(train, nil, QuadraticOptions{Dim: 10, Lambdas: []float64{0}})
	if err != nil {
		t.Fatal(err)
	}
	if e, e0 := ReconstructionError(g, valid), ReconstructionError(g0, valid); !(e < e0) {
		t.Errorf("held-out MSE %g with the chosen λ, %g with λ = 0: want lower", e, e0)
	}
}

func TestQuadraticJacobian(t *testing.T) {
	qm := newQuadraticManifold(20, 4, []float64{3, 2, 2, 1}, 0.2, 3)
	g, err := FitQuadratic(qm.samples(200, 1), nil, QuadraticOptions{Dim: 4, Lambdas: []float64{1e-3}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for range 5 {
		z := fixture.RandVec(4, rng)
		// Central differences are exact for a quadratic up to round-off.
		fixture.CheckJacobianFD(t, g, z, 1e-3, 1e-9)
	}
}

func TestQuadraticParamsRoundTrip(t *testing.T) {
	qm := newQuadraticManifold(12, 3, []float64{3, 2, 1}, 0.1, 4)
	g, err := FitQuadratic(qm.samples(100, 1), qm.samples(40, 2), QuadraticOptions{Dim: 3, EncoderIter: 2})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewQuadratic(g.Params())
	if err != nil {
		t.Fatal(err)
	}
	c := g.Clone()
	rng := rand.New(rand.NewPCG(1, 1))
	x := fixture.RandVec(12, rng)
	z1, z2, z3 := make([]float64, 3), make([]float64, 3), make([]float64, 3)
	g.Encode(z1, x)
	h.Encode(z2, x)
	c.Encode(z3, x)
	if fixture.MaxAbsDiff(z1, z2) != 0 || fixture.MaxAbsDiff(z1, z3) != 0 {
		t.Errorf("codes differ: %v, restored %v, clone %v", z1, z2, z3)
	}
	for _, tc := range []struct {
		name string
		edit func(p *QuadraticParams)
	}{
		{"short quadratic", func(p *QuadraticParams) { p.Quadratic = p.Quadratic[1:] }},
		{"short mean", func(p *QuadraticParams) { p.QuadMean = p.QuadMean[1:] }},
		{"NaN", func(p *QuadraticParams) { p.Quadratic[0] = math.NaN() }},
		{"negative lambda", func(p *QuadraticParams) { p.Lambda = -1 }},
		{"no encoder iterations", func(p *QuadraticParams) { p.EncoderIter = 0 }},
		{"bad PCA", func(p *QuadraticParams) { p.PCA.Scales[0] = 0 }},
	} {
		p := g.Params()
		tc.edit(&p)
		if _, err := NewQuadratic(p); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestFitQuadraticOptions(t *testing.T) {
	X := fixture.SubspaceData(50, 6, []float64{3, 2, 1}, 0.1, 1)
	for _, tc := range []struct {
		name  string
		valid *mat.Dense
		opts  QuadraticOptions
	}{
		{"no dim", X, QuadraticOptions{}},
		{"negative lambda", X, QuadraticOptions{Dim: 2, Lambdas: []float64{-1}}},
		{"empty lambdas", X, QuadraticOptions{Dim: 2, Lambdas: []float64{}}},
		{"several lambdas without validation", nil, QuadraticOptions{Dim: 2}},
		{"negative iterations", X, QuadraticOptions{Dim: 2, EncoderIter: -1}},
		{"validation width", mat.NewDense(3, 5, nil), QuadraticOptions{Dim: 2}},
	} {
		if _, err := FitQuadratic(X, tc.valid, tc.opts); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// benchQuadratic is a quadratic generator at the latent benchmark's KS
// size, n = 128 and d = 32 (528 monomials), with a point near its
// manifold.
func benchQuadratic(b *testing.B) (*Quadratic, []float64) {
	const n, d = 128, 32
	scales := make([]float64, d)
	for k := range scales {
		scales[k] = 1 / float64(k+1)
	}
	qm := newQuadraticManifold(n, d, scales, 0.01, 1)
	g, err := FitQuadratic(qm.samples(1200, 1), nil, QuadraticOptions{Dim: d, Lambdas: []float64{1e-3}})
	if err != nil {
		b.Fatal(err)
	}
	x := qm.samples(2, 3).RawRowView(0)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range x {
		x[i] += 0.01 * rng.NormFloat64()
	}
	return g, x
}

// BenchmarkQuadraticJacobian: the Jacobian, which the encoder's
// Gauss–Newton steps take once per step and member.
func BenchmarkQuadraticJacobian(b *testing.B) {
	g, _ := benchQuadratic(b)
	z := fixture.RandVec(g.LatentDim(), rand.New(rand.NewPCG(2, 2)))
	J := mat.NewDense(g.StateDim(), g.LatentDim(), nil)
	for b.Loop() {
		g.Jacobian(J, z)
	}
}

// BenchmarkQuadraticEncode: one encoding (the PCA code, then the
// Gauss–Newton steps), which the latent filters take once per member and
// cycle: go test -run '^$' -bench Quadratic ./latent
func BenchmarkQuadraticEncode(b *testing.B) {
	g, x := benchQuadratic(b)
	z := make([]float64, g.LatentDim())
	for b.Loop() {
		g.Encode(z, x)
	}
}

// offsetEncoder is a generator whose encoder misses by a fixed code
// offset: a poor amortised encoder in front of an exact decoder.
type offsetEncoder struct{ Generator }

func (g offsetEncoder) Encode(z, x []float64) {
	g.Generator.Encode(z, x)
	for k := range z {
		z[k] += 0.1
	}
}

// TestProjectionError: on a curved manifold, a generator whose encoder
// misses leaves a reconstruction error that the projection removes (the
// held-out points lie on the manifold); for a PCA, whose encoder is the
// orthogonal projection, the two errors agree on any data.
func TestProjectionError(t *testing.T) {
	qm := newQuadraticManifold(12, 3, []float64{3, 2, 1.5}, 0.1, 1)
	train, valid, test := qm.samples(600, 2), qm.samples(100, 3), qm.samples(100, 4)
	g, err := FitQuadratic(train, valid, QuadraticOptions{Dim: 3})
	if err != nil {
		t.Fatal(err)
	}
	miss := offsetEncoder{g}
	rec, proj := math.Sqrt(ReconstructionError(miss, test)), math.Sqrt(ProjectionError(miss, test))
	if !(rec > 0.05) || !(proj < 1e-7) { // the projection stops at a step of 1e-8 relative
		t.Errorf("missing encoder: reconstruction RMSE %g (want > 0.05), projected %g (want < 1e-7)", rec, proj)
	}
	pca, err := FitPCA(train, PCAOptions{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	r2, p2 := ReconstructionError(pca, test), ProjectionError(pca, test)
	if math.Abs(r2-p2) > 1e-12*r2 {
		t.Errorf("PCA: reconstruction MSE %g, projected %g, want equal", r2, p2)
	}
}
