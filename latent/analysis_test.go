package latent

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/latent/internal/fixture"
)

// randSPD returns a random d × d covariance (row-major) of rank r.
func randSPD(d, r int, rng *rand.Rand) []float64 {
	F := mat.NewDense(d, r, nil)
	for i := 0; i < d; i++ {
		for k := 0; k < r; k++ {
			F.Set(i, k, rng.NormFloat64())
		}
	}
	var S mat.Dense
	S.Mul(F, F.T())
	return S.RawMatrix().Data
}

// TestStaticRoot: BᵀB = Σ to 1e-12 relative to the largest entry (an
// eigendecomposition of a d = 12 matrix), with one row per nonzero
// eigenvalue, and the identity for whitened codes.
func TestStaticRoot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, tc := range []struct{ d, r int }{{12, 12}, {12, 7}, {1, 1}} {
		sigma := randSPD(tc.d, tc.r, rng)
		B, err := StaticRoot(sigma, tc.d)
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := B.Dims(); m != tc.r {
			t.Errorf("d %d rank %d: %d rows", tc.d, tc.r, m)
		}
		var BtB mat.Dense
		BtB.Mul(B.T(), B)
		scale := 0.0
		for _, v := range sigma {
			scale = math.Max(scale, math.Abs(v))
		}
		for i, v := range BtB.RawMatrix().Data {
			if math.Abs(v-sigma[i]) > 1e-12*scale {
				t.Fatalf("d %d rank %d: BᵀB differs from Σ by %g at %d", tc.d, tc.r, v-sigma[i], i)
			}
		}
	}
	B, err := StaticRoot(nil, 3)
	if err != nil || !mat.Equal(B, eye(3)) {
		t.Errorf("whitened codes: got %v, %v, want the identity", mat.Formatted(B), err)
	}
	for _, tc := range []struct {
		sigma []float64
		want  string
	}{
		{[]float64{1, 0, 0}, "want 2×2"},
		{[]float64{1, 0, 0, math.NaN()}, "not finite"},
		{[]float64{1, 0, 0, -1}, "negative eigenvalue"},
		{[]float64{0, 0, 0, 0}, "zero"},
	} {
		if _, err := StaticRoot(tc.sigma, 2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.sigma, err, tc.want)
		}
	}
}

// TestObservedVariance compares with the diagonal of H diag(v) Hᵀ formed
// by gonum.
func TestObservedVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	H := mat.NewDense(4, 6, nil)
	v := make([]float64, 6)
	for i := range H.RawMatrix().Data {
		H.RawMatrix().Data[i] = rng.NormFloat64()
	}
	for j := range v {
		v[j] = rng.Float64()
	}
	var HV, C mat.Dense
	HV.Mul(H, mat.NewDiagDense(6, v))
	C.Mul(&HV, H.T())
	got := make([]float64, 4)
	ObservedVariance(got, H, v)
	for k, g := range got {
		if math.Abs(g-C.At(k, k)) > 1e-13*C.At(k, k) {
			t.Errorf("entry %d: %v, want %v", k, g, C.At(k, k))
		}
	}
}

// TestEstimateStats: the codes of a PCA are whitened (Σ_clim is left as
// the identity, and the sample covariance of the training codes is I to
// round-off), and the mean of the representation variances is the
// reconstruction error.
func TestEstimateStats(t *testing.T) {
	X := fixture.SubspaceData(400, 10, []float64{3, 2, 1}, 0.2, 1)
	train := X.Slice(0, 300, 0, 10).(*mat.Dense)
	valid := X.Slice(300, 400, 0, 10).(*mat.Dense)
	p, err := FitPCA(train, PCAOptions{Dim: 3})
	if err != nil {
		t.Fatal(err)
	}
	st := EstimateStats(p, train, valid)
	if st.CodeCov != nil {
		t.Error("PCA statistics carry a code covariance")
	}
	for i, v := range CodeCovariance(p, train) {
		want := 0.0
		if i%4 == 0 {
			want = 1
		}
		if math.Abs(v-want) > 1e-10 {
			t.Fatalf("PCA code covariance entry %d is %v, want %v", i, v, want)
		}
	}
	var mean float64
	for _, v := range st.RepVar {
		mean += v / 10
	}
	if want := ReconstructionError(p, valid); math.Abs(mean-want) > 1e-12*want {
		t.Errorf("mean representation variance %v, reconstruction error %v", mean, want)
	}
}

// TestRepresentationErrorCalibratesNIS is the toy case where the
// representation error is known: states of ℝ²⁰ whose first 10 variables
// move on a 5-dimensional subspace (scales 3 … 1.2) and whose last 10 are
// independent noise of standard deviations 0.4 … 0.9, which a PCA of
// dimension 5 cannot represent, so Σ_rep is diagonal and estimated by
// RepresentationVariance on held-out states. Every variable is observed
// with error variance 0.1, and the ETKF runs on codes whose ensemble has
// the codes' climatological moments N(0, I). The NIS of the truth's
// observations then averages to p only if R carries Σ_rep: without it
// the ratio NIS/p is (10·1 + Σⱼ(σⱼ² + 0.1)/0.1)/20 ≈ 2.9; with it, 1 up to
// the sampling of Σ_rep and of the PCA (3000 held-out states, 2000
// trials: the standard error of the mean ratio is √(2/20/2000) ≈ 0.007; we
// allow 0.05).
func TestRepresentationErrorCalibratesNIS(t *testing.T) {
	const n, d, N, r = 20, 5, 10, 0.1
	rng := rand.New(rand.NewPCG(11, 12))
	q := fixture.RandOrthogonal(10, rng)
	scales := []float64{3, 2.5, 2, 1.5, 1.2}
	draw := func(m int) *mat.Dense {
		X := mat.NewDense(m, n, nil)
		for i := 0; i < m; i++ {
			row := X.RawRowView(i)
			for k, s := range scales {
				c := s * rng.NormFloat64()
				for j := 0; j < 10; j++ {
					row[j] += c * q.At(j, k)
				}
			}
			for j := 10; j < n; j++ {
				row[j] = (0.4 + 0.05*float64(j-10)) * rng.NormFloat64()
			}
		}
		return X
	}
	train, valid, truths := draw(3000), draw(3000), draw(2000)
	p, err := FitPCA(train, PCAOptions{Dim: d})
	if err != nil {
		t.Fatal(err)
	}
	rep := EstimateStats(p, train, valid).RepVar
	// A code ensemble with exact sample moments N(0, I).
	Z := mat.NewDense(N, d, nil)
	for i := range Z.RawMatrix().Data {
		Z.RawMatrix().Data[i] = rng.NormFloat64()
	}
	whitenRows(Z)
	pos := make([]float64, n)
	for j := range pos {
		pos[j] = float64(j)
	}
	H := mat.NewDense(n, n, nil)
	for j := 0; j < n; j++ {
		H.Set(j, j, 1)
	}
	repObs := make([]float64, n)
	ObservedVariance(repObs, H, rep)
	ratio := func(withRep bool) float64 {
		f, err := enkf.New(enkf.Config{Method: enkf.ETKF, Inflation: 1}, N, d, pos)
		if err != nil {
			t.Fatal(err)
		}
		rVar := make([]float64, n)
		for j := range rVar {
			rVar[j] = r
			if withRep {
				rVar[j] += repObs[j]
			}
		}
		HE := mat.NewDense(N, n, nil)
		E := mat.NewDense(N, d, nil)
		y := make([]float64, n)
		var sum float64
		for i := 0; i < 2000; i++ {
			E.Copy(Z)
			for k := 0; k < N; k++ {
				p.Decode(HE.RawRowView(k), E.RawRowView(k))
			}
			for j, x := range truths.RawRowView(i) {
				y[j] = x + math.Sqrt(r)*rng.NormFloat64()
			}
			inno, err := f.Analyze(E, HE, y, rVar, nil)
			if err != nil {
				t.Fatal(err)
			}
			sum += inno.NIS / inno.Expected
		}
		return sum / 2000
	}
	without, with := ratio(false), ratio(true)
	t.Logf("NIS/p: %.3f without the representation error, %.3f with it", without, with)
	if without < 2.5 {
		t.Errorf("NIS ratio without the representation error %.3f: the toy case does not show the problem", without)
	}
	if math.Abs(with-1) > 0.05 {
		t.Errorf("NIS ratio with the representation error %.3f, want 1 ± 0.05 (without: %.3f)", with, without)
	}
}

// whitenRows makes the rows of Z have sample mean 0 and sample covariance
// I exactly (Z needs more rows than columns).
func whitenRows(Z *mat.Dense) {
	m, d := Z.Dims()
	var C mat.SymDense
	mean := make([]float64, d)
	for i := 0; i < m; i++ {
		for k, v := range Z.RawRowView(i) {
			mean[k] += v / float64(m)
		}
	}
	for i := 0; i < m; i++ {
		for k := range mean {
			Z.Set(i, k, Z.At(i, k)-mean[k])
		}
	}
	C.SymOuterK(1/float64(m-1), Z.T())
	var ch mat.Cholesky
	if !ch.Factorize(&C) {
		panic("not SPD")
	}
	var L mat.TriDense
	ch.LTo(&L)
	var W mat.Dense
	if err := W.Solve(L.T(), eye(d)); err != nil { // L⁻ᵀ
		panic(err)
	}
	var out mat.Dense
	out.Mul(Z, &W)
	Z.Copy(&out)
}
