package dynamics

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// nullModel is a model whose step does nothing, to isolate the noise.
type nullModel struct{ n int }

func (m nullModel) Name() string        { return "null" }
func (m nullModel) Dim() int            { return m.n }
func (m nullModel) Dt() float64         { return 1 }
func (m nullModel) NewStepper() Stepper { return nullStepper{} }

type nullStepper struct{}

func (nullStepper) Step([]float64) {}

func mustL96(t testing.TB, nx int) *Lorenz96 {
	t.Helper()
	m, err := NewLorenz96(nx, Lorenz96Forcing, Lorenz96Dt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustForecaster(t testing.TB, m Model, members int, opts ...ForecasterOption) *Forecaster {
	t.Helper()
	f, err := NewForecaster(m, members, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// withWorkers sets the number of worker goroutines (before capping at
// the members), so that tests can check the result does not depend on it.
func withWorkers(n int) ForecasterOption {
	return func(f *Forecaster) error {
		f.workers = n
		return nil
	}
}

// l96Ensemble returns members distinct states near the L96 attractor.
func l96Ensemble(members, nx int) *mat.Dense {
	E := mat.NewDense(members, nx, nil)
	for i := range members {
		row := E.RawRowView(i)
		for j := range row {
			row[j] = Lorenz96Forcing + math.Sin(float64(7*i+j+1))
		}
	}
	return E
}

func equalDense(a, b *mat.Dense) bool {
	r, c := a.Dims()
	for i := range r {
		for j := range c {
			if a.At(i, j) != b.At(i, j) {
				return false
			}
		}
	}
	return true
}

func TestForecasterValidation(t *testing.T) {
	m := mustL96(t, 8)
	f := mustForecaster(t, m, 3)
	tests := []struct {
		name    string
		run     func() error
		wantErr string
	}{
		{"nil model", func() error { _, err := NewForecaster(nil, 3); return err }, "nil model"},
		{"members=0", func() error { _, err := NewForecaster(m, 0); return err }, "members must be >= 1, got 0"},
		{"bad noise option", func() error { _, err := NewForecaster(m, 3, WithNoise(-1)); return err }, "noise std"},
		{"noise NaN", func() error { return f.SetNoise(math.NaN()) }, "noise std must be finite and >= 0, got NaN"},
		{"noise Inf", func() error { return f.SetNoise(math.Inf(1)) }, "noise std"},
		{"noise <0", func() error { return f.SetNoise(-0.1) }, "noise std"},
		{"nil ensemble", func() error { return f.Forecast(nil, 1, 0) }, "nil ensemble"},
		{"wrong columns", func() error { return f.Forecast(mat.NewDense(3, 7, nil), 1, 0) }, "7 columns"},
		{"wrong rows", func() error { return f.Forecast(mat.NewDense(4, 8, nil), 1, 0) }, "4 rows, want 3 members"},
		{"negative steps", func() error { return f.Forecast(mat.NewDense(3, 8, nil), -1, 0) }, "steps must be >= 0, got -1"},
		{"ok", func() error { return f.Forecast(mat.NewDense(3, 8, nil), 2, 0) }, ""},
		{"ok zero noise", func() error { return f.SetNoise(0) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mustNotPanic(t, tc.run)
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

func TestForecasterZeroStepsIsNoop(t *testing.T) {
	f := mustForecaster(t, mustL96(t, 40), 5, WithNoise(1))
	E := l96Ensemble(5, 40)
	E0 := mat.DenseCopyOf(E)
	if err := f.Forecast(E, 0, 42); err != nil {
		t.Fatal(err)
	}
	if !equalDense(E, E0) {
		t.Fatal("Forecast with 0 steps changed the ensemble")
	}
}

// TestForecasterMatchesStepper checks Forecast equals stepping each member
// by hand with a fresh stepper (no noise), bit for bit.
func TestForecasterMatchesStepper(t *testing.T) {
	m := mustL96(t, 40)
	E := l96Ensemble(4, 40)
	want := mat.DenseCopyOf(E)
	s := m.NewStepper()
	for i := range 4 {
		for range 30 {
			s.Step(want.RawRowView(i))
		}
	}
	if err := mustForecaster(t, m, 4).Forecast(E, 30, 0); err != nil {
		t.Fatal(err)
	}
	if !equalDense(E, want) {
		t.Fatal("Forecast differs from direct stepping")
	}
}

// TestForecasterParallelDeterminism runs the same forecast with 1, 2, 3 and
// 7 workers, with the serial threshold disabled so the parallel path really
// runs, and requires bit-identical results, with and without noise. 7
// members give uneven blocks. KS is included because its steppers own FFT
// work space (a shared one would race and show up here and under -race).
func TestForecasterParallelDeterminism(t *testing.T) {
	ks := mustKS(t, 32, 22, 0.25)
	models := []struct {
		m    Model
		init func(members int) *mat.Dense
	}{
		{mustL96(t, 40), func(n int) *mat.Dense { return l96Ensemble(n, 40) }},
		{ks, func(n int) *mat.Dense {
			E := mat.NewDense(n, 32, nil)
			g := ks.Grid()
			for i := range n {
				for j, x := range g {
					E.Set(i, j, math.Cos(2*math.Pi*x/22+float64(i)))
				}
			}
			return E
		}},
	}
	const members, steps = 7, 25
	for _, mc := range models {
		for _, noise := range []float64{0, 0.05} {
			t.Run(mc.m.Name()+map[bool]string{false: "/no-noise", true: "/noise"}[noise > 0], func(t *testing.T) {
				var ref *mat.Dense
				for _, w := range []int{1, 2, 3, 7} {
					f := mustForecaster(t, mc.m, members, withWorkers(w), WithNoise(noise))
					f.threshold = 0 // force the parallel path
					E := mc.init(members)
					if err := f.Forecast(E, steps, 12345); err != nil {
						t.Fatal(err)
					}
					if ref == nil {
						ref = E
						continue
					}
					if !equalDense(E, ref) {
						t.Fatalf("workers=%d differs from workers=1", w)
					}
				}
				// Same seed again: same answer; different seed: different.
				f := mustForecaster(t, mc.m, members, WithNoise(noise))
				E := mc.init(members)
				if err := f.Forecast(E, steps, 12345); err != nil {
					t.Fatal(err)
				}
				if !equalDense(E, ref) {
					t.Fatal("repeat with the same seed differs")
				}
				E = mc.init(members)
				if err := f.Forecast(E, steps, 12346); err != nil {
					t.Fatal(err)
				}
				if got := equalDense(E, ref); got != (noise == 0) {
					t.Fatalf("seed change: equal=%v, want %v", got, noise == 0)
				}
			})
		}
	}
}

// TestForecasterNoiseStatistics uses a do-nothing model so E after one step is
// exactly q ξ. With 40 × 500 = 20000 draws the sample mean has standard error
// q/√20000 ≈ 0.007 q and the sample std ≈ q/√40000 ≈ 0.005 q; bounds of
// 0.03 q (≥ 4 standard errors) make a false failure negligible while catching
// a wrong scale or bias. Correlation between consecutive members' streams
// (std err ≈ 1/√500 per pair, averaged over 39 pairs ≈ 0.007) must be below
// 0.03, which catches streams that are shifted copies of each other.
func TestForecasterNoiseStatistics(t *testing.T) {
	const members, dim, q = 40, 500, 0.7
	f := mustForecaster(t, nullModel{dim}, members, WithNoise(q))
	E := mat.NewDense(members, dim, nil)
	if err := f.Forecast(E, 1, 2024); err != nil {
		t.Fatal(err)
	}
	var s, s2 float64
	for i := range members {
		for _, v := range E.RawRowView(i) {
			s += v
			s2 += v * v
		}
	}
	n := float64(members * dim)
	mean := s / n
	std := math.Sqrt(s2/n - mean*mean)
	if math.Abs(mean) > 0.03*q || math.Abs(std-q) > 0.03*q {
		t.Errorf("noise mean %.4f std %.4f, want 0 and %.4f", mean, std, q)
	}
	var corr float64
	for i := 1; i < members; i++ {
		a, b := E.RawRowView(i-1), E.RawRowView(i)
		var ab float64
		for j := range a {
			ab += a[j] * b[j]
		}
		corr += ab / (dim * q * q)
	}
	corr /= members - 1
	if math.Abs(corr) > 0.03 {
		t.Errorf("mean correlation between neighbouring members %.4f", corr)
	}
}

// TestForecasterZeroAllocs checks the small (serial) case makes no
// allocations, with and without noise.
func TestForecasterZeroAllocs(t *testing.T) {
	l63, _ := NewLorenz63(Lorenz63Sigma, Lorenz63Rho, Lorenz63Beta, Lorenz63Dt)
	tests := []struct {
		name    string
		m       Model
		members int
		steps   int
		noise   float64
	}{
		{"l96 40x24 1 step", mustL96(t, 40), 24, 1, 0},
		{"l96 40x24 1 step noise", mustL96(t, 40), 24, 1, 0.1},
		{"l63 100 members 5 steps noise", l63, 100, 5, 0.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustForecaster(t, tc.m, tc.members, WithNoise(tc.noise))
			if w := float64(tc.m.Dim() * tc.members * tc.steps); w >= f.threshold {
				t.Fatalf("case is not small: work %v >= threshold %v", w, f.threshold)
			}
			E := mat.NewDense(tc.members, tc.m.Dim(), nil)
			for i := range tc.members {
				row := E.RawRowView(i)
				for j := range row {
					row[j] = 1 + 0.1*float64(i+j)
				}
			}
			var err error
			allocs := testing.AllocsPerRun(100, func() { err = f.Forecast(E, tc.steps, 7) })
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Errorf("Forecast allocates %v times per call, want 0", allocs)
			}
		})
	}
}

// TestLorenz96Climatology runs L96 (nx = 40, F = 8, dt = 0.05) for 100 time
// units of spin-up and then 2000 time units, and checks the time-and-space
// mean and standard deviation against the well-known climatology (mean ≈
// 2.35, std ≈ 3.6; e.g. Lorenz & Emanuel 1998). 40 sites × 40000 samples
// with a decorrelation time of order 1 time unit pin both statistics to a few
// hundredths, so ±0.3 is a loose sanity band that still catches a wrong sign,
// index or forcing. It also checks the state stays bounded (|x| < 30).
func TestLorenz96Climatology(t *testing.T) {
	if testing.Short() {
		t.Skip("long run")
	}
	m := mustL96(t, 40)
	f := mustForecaster(t, m, 1)
	E := l96Ensemble(1, 40)
	if err := f.Forecast(E, 2000, 0); err != nil {
		t.Fatal(err)
	}
	x := E.RawRowView(0)
	var s, s2, mx float64
	const samples = 40000
	for range samples {
		if err := f.Forecast(E, 1, 0); err != nil {
			t.Fatal(err)
		}
		for _, v := range x {
			s += v
			s2 += v * v
			mx = max(mx, math.Abs(v))
		}
	}
	n := float64(samples * len(x))
	mean := s / n
	std := math.Sqrt(s2/n - mean*mean)
	t.Logf("mean %.3f std %.3f max|x| %.2f", mean, std, mx)
	if math.Abs(mean-2.3) > 0.3 || math.Abs(std-3.6) > 0.3 {
		t.Errorf("climatology mean %.3f std %.3f, want 2.3±0.3 and 3.6±0.3", mean, std)
	}
	if mx > 30 || math.IsNaN(mx) {
		t.Errorf("max |x| = %v: not bounded", mx)
	}
}

// TestForecastMembersSlices checks that forecasting an ensemble in slices
// of members (as fan-out activities do), in any order, reproduces one
// Forecast call bit for bit, noise included, and leaves other rows alone.
func TestForecastMembersSlices(t *testing.T) {
	const members, nx, steps = 10, 40, 20
	m := mustL96(t, nx)
	f := mustForecaster(t, m, members, withWorkers(3), WithNoise(0.05))
	f.threshold = 0 // the parallel path inside each slice
	want := l96Ensemble(members, nx)
	if err := f.Forecast(want, steps, 99); err != nil {
		t.Fatal(err)
	}
	for _, slices := range [][][2]int{
		{{0, 10}},
		{{0, 3}, {3, 6}, {6, 9}, {9, 10}},
		{{8, 10}, {0, 1}, {1, 8}},
	} {
		E := l96Ensemble(members, nx)
		for _, sl := range slices {
			before := mat.DenseCopyOf(E)
			if err := f.ForecastMembers(E, sl[0], sl[1], steps, 99); err != nil {
				t.Fatal(err)
			}
			for i := range members {
				if (i < sl[0] || i >= sl[1]) && !mat.Equal(before.RowView(i), E.RowView(i)) {
					t.Fatalf("slices %v: member %d outside %v changed", slices, i, sl)
				}
			}
		}
		if !equalDense(E, want) {
			t.Errorf("slices %v differ from one Forecast call", slices)
		}
	}
	for _, sl := range [][2]int{{-1, 2}, {3, 2}, {0, 11}} {
		if err := f.ForecastMembers(l96Ensemble(members, nx), sl[0], sl[1], steps, 99); err == nil || !strings.Contains(err.Error(), "outside 0..9") {
			t.Errorf("members %v: %v", sl, err)
		}
	}
}
