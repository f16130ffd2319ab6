package observations

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestDiagRConstructorErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name  string
		build func() (*DiagR, error)
		want  string
	}{
		{"scalar p=0", func() (*DiagR, error) { return NewScalarR(0, 1) }, "p = 0"},
		{"scalar p<0", func() (*DiagR, error) { return NewScalarR(-2, 1) }, "p = -2"},
		{"scalar NaN", func() (*DiagR, error) { return NewScalarR(3, nan) }, "variance NaN"},
		{"scalar +Inf", func() (*DiagR, error) { return NewScalarR(3, inf) }, "variance +Inf"},
		{"scalar -Inf", func() (*DiagR, error) { return NewScalarR(3, -inf) }, "variance -Inf"},
		{"scalar zero", func() (*DiagR, error) { return NewScalarR(3, 0) }, "variance 0"},
		{"scalar negative", func() (*DiagR, error) { return NewScalarR(3, -0.5) }, "variance -0.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.build()
			if err == nil {
				t.Fatalf("expected error containing %q, got %v", tc.want, r.Variances())
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "observations: ") {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestDiagRAccessors(t *testing.T) {
	r := newDiagR([]float64{0.25, 1, 4})
	if r.Dim() != 3 {
		t.Errorf("Dim = %d, want 3", r.Dim())
	}
	wantVar := []float64{0.25, 1, 4}
	wantStd := []float64{0.5, 1, 2}
	for i := range wantVar {
		if r.Var(i) != wantVar[i] || r.Std(i) != wantStd[i] {
			t.Errorf("Var(%d), Std(%d) = %v, %v; want %v, %v", i, i, r.Var(i), r.Std(i), wantVar[i], wantStd[i])
		}
	}
	if !slices.Equal(r.Variances(), wantVar) {
		t.Errorf("Variances = %v, want %v", r.Variances(), wantVar)
	}

	s, err := NewScalarR(4, 2.25)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dim() != 4 || !slices.Equal(s.Variances(), []float64{2.25, 2.25, 2.25, 2.25}) || s.Std(3) != 1.5 {
		t.Errorf("scalar R: Dim %d, Variances %v, Std %v", s.Dim(), s.Variances(), s.Std(3))
	}
}

func TestDiagRMahalanobis2(t *testing.T) {
	r := newDiagR([]float64{0.25, 1, 4})
	tests := []struct {
		name string
		d    []float64
		want float64
	}{
		{"zero", []float64{0, 0, 0}, 0},
		{"unit std each", []float64{0.5, -1, 2}, 3},
		{"hand", []float64{1, 2, -4}, 1/0.25 + 4 + 16.0/4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Mahalanobis2(tc.d); math.Abs(got-tc.want) > 1e-14*math.Max(1, tc.want) {
				t.Errorf("Mahalanobis2(%v) = %v, want %v", tc.d, got, tc.want)
			}
		})
	}
	mustPanic(t, "len(d)", func() { r.Mahalanobis2([]float64{1, 2}) })
}

// TestDiagRSampleMoments draws n = 200000 samples and checks, per component,
// the empirical variance s² = (1/n) Σ ε² (mean known to be 0) against σ².
// For Gaussian ε, Var(ε²) = 2σ⁴, so the standard error of s² is
// σ²·√(2/n) (≈ 0.32 % of σ² here); we require |s² − σ²| < 4 SE. The mean is
// checked against its standard error σ/√n in the same way. With a fixed seed
// the test is deterministic; 4 SE would be exceeded by chance with
// probability ≈ 6e-5 per check for an arbitrary seed.
func TestDiagRSampleMoments(t *testing.T) {
	const n = 200000
	variances := []float64{0.25, 1, 4, 1e-4}
	r := newDiagR(slices.Clone(variances))
	rng := rand.New(rand.NewPCG(20240611, 1))
	p := r.Dim()
	sum := make([]float64, p)
	sum2 := make([]float64, p)
	eps := make([]float64, p)
	for k := 0; k < n; k++ {
		r.Sample(eps, rng)
		for i, e := range eps {
			sum[i] += e
			sum2[i] += e * e
		}
	}
	for i, v := range variances {
		t.Run(fmt.Sprintf("var=%g", v), func(t *testing.T) {
			mean := sum[i] / n
			if se := math.Sqrt(v / n); math.Abs(mean) > 4*se {
				t.Errorf("mean = %v, |mean| > 4 SE = %v", mean, 4*se)
			}
			s2 := sum2[i] / n
			se := v * math.Sqrt(2.0/n)
			if math.Abs(s2-v) > 4*se {
				t.Errorf("variance = %v, want %v ± %v (4 SE)", s2, v, 4*se)
			}
		})
	}
}

func TestDiagRSampleContract(t *testing.T) {
	r := newDiagR([]float64{0.25, 1, 9})
	got := make([]float64, 3)
	r.Sample(got, rand.New(rand.NewPCG(3, 4)))
	ref := rand.New(rand.NewPCG(3, 4))
	want := []float64{0.5 * ref.NormFloat64(), 1 * ref.NormFloat64(), 3 * ref.NormFloat64()}
	if !slices.Equal(got, want) {
		t.Errorf("Sample = %v, want σ_i·NormFloat64 in order = %v", got, want)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	if a := testing.AllocsPerRun(100, func() { r.Sample(got, rng) }); a != 0 {
		t.Errorf("Sample allocates %v times per call", a)
	}
	mustPanic(t, "len(dst)", func() { r.Sample(got[:2], rng) })
}
