package dynamics

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// maxAbsDiff returns max_i |a_i − b_i|.
func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func TestLorenz63Deriv(t *testing.T) {
	// Expected values worked out by hand from
	// (σ(y−x), x(ρ−z)−y, xy−βz). Only a handful of flops are involved, so
	// the results agree to a few ulps; 1e-12 absolute is a loose bound.
	const tol = 1e-12
	tests := []struct {
		name             string
		sigma, rho, beta float64
		x, want          []float64
	}{
		{"origin is fixed", 10, 28, 8.0 / 3, []float64{0, 0, 0}, []float64{0, 0, 0}},
		{"classical (1,2,3)", 10, 28, 8.0 / 3, []float64{1, 2, 3}, []float64{10, 23, -6}},
		{"custom params", 1, 2, 0.5, []float64{-2, 0.5, 10}, []float64{2.5, 15.5, -6}},
		// C± = (±√(β(ρ−1)), ±√(β(ρ−1)), ρ−1) are equilibria.
		{"fixed point C+", 10, 28, 8.0 / 3, []float64{math.Sqrt(72), math.Sqrt(72), 27}, []float64{0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewLorenz63(tc.sigma, tc.rho, tc.beta, 0.01)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float64, 3)
			m.Deriv(got, tc.x)
			if d := maxAbsDiff(got, tc.want); d > tol {
				t.Errorf("Deriv(%v) = %v, want %v (max diff %g)", tc.x, got, tc.want, d)
			}
		})
	}
}

func TestLorenz96Deriv(t *testing.T) {
	// Hand-computed from (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F with periodic
	// indices. Small integers and halves are exact in binary, so equality is
	// exact; tolerance 0 is deliberate.
	tests := []struct {
		name    string
		F       float64
		x, want []float64
	}{
		{"nx=4", 8, []float64{1, 2, 3, 4}, []float64{3, 5, 11, 1}},
		{"nx=5", 0.5, []float64{1, -1, 2, 0, 3}, []float64{-3.5, 0.5, -0.5, 8.5, -2.5}},
		{"uniform state x=F is fixed", 8, []float64{8, 8, 8, 8, 8, 8}, []float64{0, 0, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewLorenz96(len(tc.x), tc.F, 0.05)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float64, len(tc.x))
			m.Deriv(got, tc.x)
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("Deriv(%v) = %v, want %v", tc.x, got, tc.want)
				}
			}
		})
	}
}

// TestLorenz96DerivMatchesNaive checks the split wrap-around/interior loop
// against the textbook modulo loop. Both evaluate the same expression in the
// same order, so the results must be bit-identical.
func TestLorenz96DerivMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{4, 5, 6, 7, 40, 101} {
		m, err := NewLorenz96(n, 8, 0.05)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float64, n)
		for i := range x {
			x[i] = 10 * rng.NormFloat64()
		}
		got := make([]float64, n)
		m.Deriv(got, x)
		for i := range n {
			want := (x[(i+1)%n]-x[(i-2+n)%n])*x[(i-1+n)%n] - x[i] + 8
			if got[i] != want {
				t.Fatalf("nx=%d: dst[%d] = %v, want %v", n, i, got[i], want)
			}
		}
	}
}

// TestRK4LinearStability checks one RK4 step on x' = λx against the exact
// RK4 amplification factor R(z) = 1 + z + z²/2 + z³/6 + z⁴/24, z = λh. The
// scheme evaluates the same polynomial in a different association order, so
// agreement is to a few ulps; 1e-14 relative is a tight but safe bound.
func TestRK4LinearStability(t *testing.T) {
	for _, z := range []float64{-2.5, -1, -0.1, 0.3, 1} {
		const h = 0.1
		lambda := z / h
		r := NewRK4(FieldFunc(func(dst, x []float64) {
			for i := range x {
				dst[i] = lambda * x[i]
			}
		}), 2, h)
		x := []float64{1, -3}
		r.Step(x)
		R := 1 + z + z*z/2 + z*z*z/6 + z*z*z*z/24
		for i, x0 := range []float64{1, -3} {
			if want := R * x0; math.Abs(x[i]-want) > 1e-14*math.Abs(want) {
				t.Errorf("z=%v: x[%d] = %v, want %v", z, i, x[i], want)
			}
		}
	}
}

// TestRK4ConvergenceLorenz63 measures the global error at T = 1 of RK4 on
// Lorenz-63 (from a point on the attractor) for h = 0.01, 0.005, 0.0025
// against a reference with h = 1e-4. The reference error is ≈ (1e-4/0.0025)⁴
// ≈ 3e-6 times the finest error, so it does not bias the estimate, and the
// errors (≈1e-4..3e-7) are far above round-off. h = 0.02 is still
// pre-asymptotic (observed order ≈ 3.7), hence the start at 0.01. The observed
// order log₂(e_h/e_{h/2}) must lie in [3.7, 4.3] around the theoretical 4.
func TestRK4ConvergenceLorenz63(t *testing.T) {
	const T = 1.0
	x0 := []float64{1, 1, 1}
	spin, _ := NewLorenz63(Lorenz63Sigma, Lorenz63Rho, Lorenz63Beta, 0.01)
	s := spin.NewStepper()
	for range 1000 { // 10 time units onto the attractor
		s.Step(x0)
	}
	run := func(h float64) []float64 {
		m, err := NewLorenz63(Lorenz63Sigma, Lorenz63Rho, Lorenz63Beta, h)
		if err != nil {
			t.Fatal(err)
		}
		x := append([]float64(nil), x0...)
		st := m.NewStepper()
		for range int(math.Round(T / h)) {
			st.Step(x)
		}
		return x
	}
	ref := run(1e-4)
	hs := []float64{0.01, 0.005, 0.0025}
	errs := make([]float64, len(hs))
	for i, h := range hs {
		errs[i] = maxAbsDiff(run(h), ref)
	}
	for i := 1; i < len(hs); i++ {
		p := math.Log2(errs[i-1] / errs[i])
		t.Logf("h=%g err=%.3e  h=%g err=%.3e  order=%.3f", hs[i-1], errs[i-1], hs[i], errs[i], p)
		if p < 3.7 || p > 4.3 {
			t.Errorf("observed order %.3f between h=%g and h=%g, want in [3.7, 4.3]", p, hs[i-1], hs[i])
		}
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	l63, _ := NewLorenz63(10, 28, 8.0/3, 0.01)
	l96, _ := NewLorenz96(40, 8, 0.05)
	ks, _ := NewKS(64, 22, 0.25)
	for _, m := range []Model{l63, l96, ks} {
		t.Run(m.Name(), func(t *testing.T) {
			s := m.NewStepper()
			x := make([]float64, m.Dim())
			for i := range x {
				x[i] = math.Sin(float64(i))
			}
			if a := testing.AllocsPerRun(50, func() { s.Step(x) }); a != 0 {
				t.Errorf("Step allocates %v times, want 0", a)
			}
		})
	}
}

// mustNotPanic runs fn and fails the test on a panic.
func mustNotPanic(t *testing.T, fn func() error) error {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panicked: %v", r)
		}
	}()
	return fn()
}

func TestConstructorValidation(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		build   func() error
		wantErr string // substring; "" means no error expected
	}{
		{"l63 ok", func() error { _, err := NewLorenz63(10, 28, 8.0/3, 0.01); return err }, ""},
		{"l63 dt<0", func() error { _, err := NewLorenz63(10, 28, 8.0/3, -1); return err }, "dynamics: lorenz63: dt must be > 0, got -1"},
		{"l63 dt=0", func() error { _, err := NewLorenz63(10, 28, 8.0/3, 0); return err }, "dt must be > 0"},
		{"l63 dt NaN", func() error { _, err := NewLorenz63(10, 28, 8.0/3, nan); return err }, "dt must be finite"},
		{"l63 dt Inf", func() error { _, err := NewLorenz63(10, 28, 8.0/3, inf); return err }, "dt must be finite"},
		{"l63 sigma NaN", func() error { _, err := NewLorenz63(nan, 28, 8.0/3, 0.01); return err }, "sigma must be finite"},
		{"l63 rho Inf", func() error { _, err := NewLorenz63(10, -inf, 8.0/3, 0.01); return err }, "rho must be finite"},
		{"l63 beta NaN", func() error { _, err := NewLorenz63(10, 28, nan, 0.01); return err }, "beta must be finite"},

		{"l96 ok nx=4", func() error { _, err := NewLorenz96(4, 8, 0.05); return err }, ""},
		{"l96 nx=3", func() error { _, err := NewLorenz96(3, 8, 0.05); return err }, "dynamics: lorenz96: nx must be >= 4, got 3"},
		{"l96 nx=0", func() error { _, err := NewLorenz96(0, 8, 0.05); return err }, "nx must be >= 4"},
		{"l96 nx<0", func() error { _, err := NewLorenz96(-5, 8, 0.05); return err }, "nx must be >= 4"},
		{"l96 F NaN", func() error { _, err := NewLorenz96(40, nan, 0.05); return err }, "forcing must be finite"},
		{"l96 F Inf", func() error { _, err := NewLorenz96(40, inf, 0.05); return err }, "forcing must be finite"},
		{"l96 dt=0", func() error { _, err := NewLorenz96(40, 8, 0); return err }, "dt must be > 0"},
		{"l96 dt NaN", func() error { _, err := NewLorenz96(40, 8, nan); return err }, "dt must be finite"},

		{"ks ok", func() error { _, err := NewKS(128, KSLength, 0.5); return err }, ""},
		{"ks ok nx=8", func() error { _, err := NewKS(8, 22, 0.25); return err }, ""},
		{"ks odd nx", func() error { _, err := NewKS(127, KSLength, 0.5); return err }, "nx must be even and >= 8, got 127"},
		{"ks nx=6", func() error { _, err := NewKS(6, KSLength, 0.5); return err }, "nx must be even and >= 8"},
		{"ks nx=0", func() error { _, err := NewKS(0, KSLength, 0.5); return err }, "nx must be even and >= 8"},
		{"ks L=0", func() error { _, err := NewKS(64, 0, 0.5); return err }, "length must be > 0"},
		{"ks L<0", func() error { _, err := NewKS(64, -1, 0.5); return err }, "length must be > 0"},
		{"ks L NaN", func() error { _, err := NewKS(64, nan, 0.5); return err }, "length must be finite"},
		{"ks L Inf", func() error { _, err := NewKS(64, inf, 0.5); return err }, "length must be finite"},
		{"ks dt<0", func() error { _, err := NewKS(64, 22, -0.5); return err }, "dynamics: ks: dt must be > 0, got -0.5"},
		{"ks dt Inf", func() error { _, err := NewKS(64, 22, inf); return err }, "dt must be finite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mustNotPanic(t, tc.build)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestLorenz96DerivBlock checks every block decomposition reproduces the full
// derivative bit for bit (same expression per component).
func TestLorenz96DerivBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{4, 5, 9, 40} {
		m, _ := NewLorenz96(n, 8, 0.05)
		x := make([]float64, n)
		for i := range x {
			x[i] = 10 * rng.NormFloat64()
		}
		full := make([]float64, n)
		m.Deriv(full, x)
		for lo := 0; lo < n; lo++ {
			for hi := lo + 1; hi <= n; hi++ {
				got := make([]float64, hi-lo)
				m.DerivBlock(got, x, lo)
				for j := range got {
					if got[j] != full[lo+j] {
						t.Fatalf("nx=%d block [%d,%d): dst[%d] = %v, want %v", n, lo, hi, j, got[j], full[lo+j])
					}
				}
			}
		}
	}
}

// TestRK4BlockedMatchesPlain checks the cache-blocked RK4 path (used for
// BlockFields longer than rk4Block) against the plain path on the same field
// with DerivBlock hidden. The per-component arithmetic is identical, so the
// trajectories must agree bit for bit, including uneven last blocks.
func TestRK4BlockedMatchesPlain(t *testing.T) {
	for _, n := range []int{rk4Block + 1, 300, 2*rk4Block + 7, 1000} {
		m, _ := NewLorenz96(n, 8, 0.05)
		blocked := m.NewStepper().(*RK4)
		if blocked.bf == nil {
			t.Fatalf("nx=%d: blocked path not selected", n)
		}
		plain := NewRK4(FieldFunc(m.Deriv), n, m.Dt())
		a := make([]float64, n)
		for i := range a {
			a[i] = 8 + math.Sin(float64(i*i+1))
		}
		b := append([]float64(nil), a...)
		for range 20 {
			blocked.Step(a)
			plain.Step(b)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("nx=%d: x[%d] blocked %v, plain %v", n, i, a[i], b[i])
			}
		}
	}
}
