package latent

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/fixture"
)

func TestIdentity(t *testing.T) {
	g := NewIdentity(5)
	if g.Name() != "identity" || g.LatentDim() != 5 || g.StateDim() != 5 {
		t.Fatalf("bad identity %s %d %d", g.Name(), g.LatentDim(), g.StateDim())
	}
	rng := rand.New(rand.NewPCG(1, 1))
	z := fixture.RandVec(5, rng)
	x := make([]float64, 5)
	z2 := make([]float64, 5)
	g.Decode(x, z)
	g.Encode(z2, x)
	if !floats.Equal(x, z) || !floats.Equal(z2, z) {
		t.Errorf("round trip: z %v, x %v, z2 %v", z, x, z2)
	}
	var J mat.Dense
	g.Jacobian(&J, z)
	if !mat.Equal(&J, eye(5)) {
		t.Errorf("J = %v, want I", mat.Formatted(&J))
	}
	// A non-empty J of the wrong size panics, as do bad lengths.
	for name, f := range map[string]func(){
		"J shape": func() { g.Jacobian(mat.NewDense(5, 4, nil), z) },
		"x len":   func() { g.Decode(make([]float64, 4), z) },
		"z len":   func() { g.Encode(make([]float64, 6), x) },
	} {
		if !panics(f) {
			t.Errorf("%s: no panic", name)
		}
	}
}

func eye(n int) *mat.Dense {
	I := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		I.Set(i, i, 1)
	}
	return I
}

func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}

// Full-rank PCA is a whitening affine bijection: E(G(z)) = z and
// G(E(x)) = x to round-off. E(G(z)) loses the digits of μ + Wz that carry
// Wz (|μ| ~ 10 against |Wz| down to 0.01) and is amplified by the condition
// number σ₁/σₙ = 100 of W: ~ε·10³·10² ≈ 2e-11 in the worst case, observed
// 2e-13; 1e-10 relative to the size of the vectors leaves a margin.
func TestPCAFullRankInvertible(t *testing.T) {
	for _, tc := range []struct {
		name string
		m, n int
	}{
		{"tall", 200, 6},
		{"barely", 7, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scales := make([]float64, tc.n)
			for k := range scales {
				scales[k] = math.Pow(100, -float64(k)/float64(tc.n-1)) // 1 … 0.01
			}
			X := fixture.SubspaceData(tc.m, tc.n, scales, 0, 3)
			p, err := FitPCA(X, PCAOptions{Dim: tc.n})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(2, 2))
			x := make([]float64, tc.n)
			z2 := make([]float64, tc.n)
			x2 := make([]float64, tc.n)
			for trial := 0; trial < 20; trial++ {
				z := fixture.RandVec(tc.n, rng)
				p.Decode(x, z)
				p.Encode(z2, x)
				if e := fixture.MaxAbsDiff(z, z2); e > 1e-10*fixture.MaxAbs(z) {
					t.Errorf("E(G(z)) − z = %.3g", e)
				}
				row := X.RawRowView(trial % tc.m)
				p.Encode(z2, row)
				p.Decode(x2, z2)
				if e := fixture.MaxAbsDiff(x2, row); e > 1e-10*fixture.MaxAbs(row) {
					t.Errorf("G(E(x)) − x = %.3g", e)
				}
			}
			// The training codes are white: zero mean, identity covariance.
			Z := mat.NewDense(tc.m, tc.n, nil)
			for i := 0; i < tc.m; i++ {
				p.Encode(Z.RawRowView(i), X.RawRowView(i))
			}
			var cov mat.SymDense
			statCov(&cov, Z)
			if !mat.EqualApprox(&cov, eye(tc.n), 1e-10) {
				t.Errorf("covariance of the codes:\n%v", mat.Formatted(&cov))
			}
			if s := floats.Sum(p.ExplainedVarianceRatio()); math.Abs(s-1) > 1e-12 {
				t.Errorf("full-rank explained variance ratios sum to %v", s)
			}
		})
	}
}

// statCov sets dst to the unbiased sample covariance of the rows of X.
func statCov(dst *mat.SymDense, X *mat.Dense) {
	m, n := X.Dims()
	mean := make([]float64, n)
	for i := 0; i < m; i++ {
		floats.Add(mean, X.RawRowView(i))
	}
	floats.Scale(1/float64(m), mean)
	A := mat.NewDense(m, n, nil)
	for i := 0; i < m; i++ {
		floats.SubTo(A.RawRowView(i), X.RawRowView(i), mean)
	}
	dst.SymOuterK(1/float64(m-1), A.T())
}

// Data on a k-dimensional affine subspace are reproduced by the PCA of
// dimension k up to round-off, a few ε times the largest entry (the mean is
// ~10 here; observed ~1e-16 relative, so 1e-12 relative is a wide margin),
// and the variance criterion finds k.
func TestPCASubspace(t *testing.T) {
	for _, tc := range []struct {
		m, n   int
		scales []float64
	}{
		{100, 20, []float64{3, 1}},
		{50, 30, []float64{5, 2, 1, 0.5}},
		{400, 10, []float64{1, 1, 1, 1, 1, 1, 1}},
	} {
		X := fixture.SubspaceData(tc.m, tc.n, tc.scales, 0, uint64(tc.n))
		k := len(tc.scales)
		for _, opts := range []PCAOptions{{Dim: k}, {Variance: 0.999999}, {Variance: 1}} {
			p, err := FitPCA(X, opts)
			if err != nil {
				t.Fatalf("%d×%d %+v: %v", tc.m, tc.n, opts, err)
			}
			if p.LatentDim() != k || p.StateDim() != tc.n {
				t.Errorf("%d×%d %+v: dims %d, %d, want %d, %d", tc.m, tc.n, opts, p.LatentDim(), p.StateDim(), k, tc.n)
				continue
			}
			big := fixture.MaxAbs(X.RawMatrix().Data)
			if mse := ReconstructionError(p, X); math.Sqrt(mse) > 1e-12*big {
				t.Errorf("%d×%d %+v: rms reconstruction error %.3g (data up to %.3g)", tc.m, tc.n, opts, math.Sqrt(mse), big)
			}
		}
		// One more dimension than the rank is rejected.
		if _, err := FitPCA(X, PCAOptions{Dim: k + 1}); err == nil || !strings.Contains(err.Error(), "rank") {
			t.Errorf("%d×%d: Dim = rank+1 gave %v", tc.m, tc.n, err)
		}
	}
}

// The variance criterion picks the smallest d whose cumulative ratio reaches
// the target.
func TestPCAVarianceSelection(t *testing.T) {
	X := fixture.SubspaceData(500, 8, []float64{4, 3, 2, 1, 0.5, 0.25, 0.1, 0.05}, 0, 5)
	full, err := FitPCA(X, PCAOptions{Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	ratio := full.ExplainedVarianceRatio()
	v := full.ExplainedVariance()
	for k := 1; k < len(v); k++ {
		if !(v[k] < v[k-1]) {
			t.Fatalf("variances not decreasing: %v", v)
		}
	}
	cum := make([]float64, len(ratio))
	floats.CumSum(cum, ratio)
	for _, target := range []float64{0.1, 0.5, 0.9, 0.99, 0.999, cum[2], (cum[2] + cum[3]) / 2} {
		want := 1
		for want < len(cum) && cum[want-1] < target-1e-12 {
			want++
		}
		p, err := FitPCA(X, PCAOptions{Variance: target})
		if err != nil {
			t.Fatal(err)
		}
		if p.LatentDim() != want {
			t.Errorf("Variance %v: d = %d, want %d (cumulative %v)", target, p.LatentDim(), want, cum)
		}
		if !floats.Equal(p.ExplainedVariance(), v[:want]) {
			t.Errorf("Variance %v: explained variance %v, want %v", target, p.ExplainedVariance(), v[:want])
		}
	}
	// The population variances are scales²; with 500 samples the sample
	// ones are within a few standard errors √(2/499) ≈ 6 %.
	for k, s := range []float64{4, 3, 2, 1} {
		if r := v[k] / (s * s); math.Abs(r-1) > 0.25 {
			t.Errorf("variance %d = %v, want ≈ %v", k, v[k], s*s)
		}
	}
}

func TestPCAParamsAndJacobian(t *testing.T) {
	X := fixture.SubspaceData(60, 9, []float64{3, 2, 1}, 0.1, 11)
	p, err := FitPCA(X, PCAOptions{Dim: 3})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewPCA(p.Params())
	if err != nil {
		t.Fatal(err)
	}
	if q.Name() != "pca" || q.Clone() != Generator(q) {
		t.Error("bad name or clone")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	z := fixture.RandVec(3, rng)
	x1, x2 := make([]float64, 9), make([]float64, 9)
	p.Decode(x1, z)
	q.Decode(x2, z)
	if !floats.Equal(x1, x2) {
		t.Errorf("stored parameters decode differently")
	}
	if !floats.Equal(p.ExplainedVarianceRatio(), q.ExplainedVarianceRatio()) {
		t.Errorf("ratios differ")
	}
	// J = W: columns are G(z + e_k) − G(z), exactly up to round-off of
	// the mean (~10), so 1e-12.
	var J mat.Dense
	p.Jacobian(&J, z)
	for k := 0; k < 3; k++ {
		z[k]++
		p.Decode(x2, z)
		z[k]--
		for i := range x1 {
			if e := math.Abs(x2[i] - x1[i] - J.At(i, k)); e > 1e-12*fixture.MaxAbs(x1) {
				t.Errorf("J[%d][%d] = %v, difference %v", i, k, J.At(i, k), x2[i]-x1[i])
			}
		}
	}
	// Bad stored parameters.
	bad := p.Params()
	bad.Components[0] *= 1.1
	if _, err := NewPCA(bad); err == nil {
		t.Error("non-orthonormal components accepted")
	}
	bad = p.Params()
	bad.Scales[1] = 0
	if _, err := NewPCA(bad); err == nil {
		t.Error("zero scale accepted")
	}
}

func TestPCAErrors(t *testing.T) {
	good := fixture.SubspaceData(10, 4, []float64{1, 1}, 0.1, 1)
	withNaN := mat.DenseCopyOf(good)
	withNaN.Set(3, 2, math.NaN())
	withInf := mat.DenseCopyOf(good)
	withInf.Set(0, 0, math.Inf(-1))
	constant := mat.NewDense(5, 3, []float64{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3})
	for _, tc := range []struct {
		name string
		X    *mat.Dense
		opts PCAOptions
		want string
	}{
		{"nil", nil, PCAOptions{Dim: 1}, "no data"},
		{"empty", &mat.Dense{}, PCAOptions{Dim: 1}, "no data"},
		{"one sample", mat.NewDense(1, 3, []float64{1, 2, 3}), PCAOptions{Dim: 1}, "at least 2"},
		{"NaN", withNaN, PCAOptions{Dim: 1}, "non-finite"},
		{"Inf", withInf, PCAOptions{Dim: 1}, "non-finite"},
		{"constant", constant, PCAOptions{Dim: 1}, "constant"},
		{"Dim > rank", good, PCAOptions{Dim: 5}, "rank"},
		{"Dim > m-1", fixture.SubspaceData(3, 5, []float64{1, 1, 1}, 0.1, 1), PCAOptions{Dim: 3}, "rank"},
		{"negative Dim", good, PCAOptions{Dim: -1}, "Dim"},
		{"both", good, PCAOptions{Dim: 1, Variance: 0.5}, "not both"},
		{"neither", good, PCAOptions{}, "Variance"},
		{"Variance > 1", good, PCAOptions{Variance: 1.5}, "Variance"},
		{"Variance NaN", good, PCAOptions{Variance: math.NaN()}, "Variance"},
	} {
		_, err := FitPCA(tc.X, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
