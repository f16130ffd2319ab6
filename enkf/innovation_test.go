package enkf

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestUpdateInflation checks the Gaussian update against values worked
// out by hand (tolerance: rounding).
func TestUpdateInflation(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name                     string
		prior, priorVar, dd, trS float64
		p                        float64
		post, obs, obsVar        float64
	}{
		// Λᵒ = (60 − 40)/10 = 2, σ²ₒ = (2/40)((10 + 40)/10)² = 1.25,
		// Λᵃ = (1.25·1 + 0.01·2)/1.26.
		{"consistent prior", 1, 0.01, 60, 10, 40, 1.27 / 1.26, 2, 1.25},
		// Λᵒ = (36 − 40)/5 = −0.8, σ²ₒ = (2/40)((1.5·5 + 40)/5)² = 4.5125.
		{"small innovations", 1.5, 0.0064, 36, 5, 40, (4.5125*1.5 - 0.0064*0.8) / (4.5125 + 0.0064), -0.8, 4.5125},
		// The update would go below the floor.
		{"floor", 0.02, 1, 0, 1, 40, MinInflationEstimate, -40, 2.0 / 40 * 40.02 * 40.02},
		{"no observations", 1.3, 0.01, 0, 0, 0, 1.3, nan, nan},
		{"no spread", 1.3, 0.01, 5, 0, 3, 1.3, nan, nan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			post, obs, obsVar := UpdateInflation(tc.prior, tc.priorVar, tc.dd, tc.trS, tc.p)
			for _, c := range []struct {
				what      string
				got, want float64
			}{{"posterior", post, tc.post}, {"estimate", obs, tc.obs}, {"its variance", obsVar, tc.obsVar}} {
				if !(math.Abs(c.got-c.want) <= 1e-14*math.Abs(c.want)) && !(math.IsNaN(c.got) && math.IsNaN(c.want)) {
					t.Errorf("%s %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

// TestInnovationInflationConverges: a linear-Gaussian twin with a model
// error the filter does not know. The truth is a random walk
// xₖ₊₁ = xₖ + ηₖ, ηₖ ~ N(0, qI) in n = 20 variables, each observed with
// R = rI; the ensemble forecast is the identity without noise, so the
// ensemble's forecast covariance Pₑ is its last analysis covariance, and
// the optimal inflation is the one that makes ΛPₑ the actual forecast
// error covariance. The test measures it from the truth, which the
// estimator never sees: Λ_err = Σₖ|x̄ᶠₖ − xₖ|² / Σₖ tr(Pₑ,ₖ) over the scored
// cycles. The estimate's time mean must match it, and for the
// deterministic filters also the value the exact Kalman filter gives: its
// steady state has Pᶠ = Pᵃ + q and Pᵃ = Pᶠr/(Pᶠ + r) per variable, so
// with q = 0.5, r = 1, Pᶠ = 1 and the gain is K = 1/2. The ETKF's analysis
// covariance is the Kalman filter's, Pₑ = Pᵃ = 1/2 and Λ* = 2; the
// DEnKF's is (1 − K/2)²Pᶠ (Sakov and Oke 2008), so Λ* = 16/9. The
// stochastic EnKF with N = 60 members has no such closed form: the
// sampling noise of its perturbed observations makes its actual errors
// larger than its spread, by a margin that shrinks with N (the estimate
// measured about 2.8, 2.3 and 2.1 at N = 30, 60 and 120), and Λ_err is its
// optimum.
//
// Tolerance: after a burn-in of ten memories (σ²ₒ/σ²_b ≈ 1.6/0.01), the
// time mean of Λ is that of the cycle's estimates Λᵒ, whose standard
// deviation σₒ ≈ 1.3 (p = 20, tr(SᵀS) ≈ 10) gives a standard error of
// 0.02 over 4000 cycles; Λ_err's is about Λ√(2/(nT)) ≈ 0.01 (more with the
// correlation of successive errors). Four combined standard errors: 0.09.
// The estimate's own fluctuations (standard deviation about σ_b/√2) bias
// it up at second order: for the ETKF at σ_b = 0.1 the estimate is within
// 0.7% of 2 on seeds 1, 3 and 7, well inside.
func TestInnovationInflationConverges(t *testing.T) {
	const (
		n, q, r      = 20, 0.5, 1.0
		burn, cycles = 1600, 5600
		sigmaB, tol  = 0.1, 0.09
	)
	for _, tc := range []struct {
		name    string
		method  Method
		local   bool
		N       int
		optimum float64 // the exact Kalman filter's (0: none)
	}{{"etkf", ETKF, false, 30, 2}, {"denkf", DEnKF, false, 30, 16.0 / 9}, {"enkf", EnKF, false, 60, 0}, {"letkf local", LETKF, true, 30, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			N := tc.N
			pos := make([]float64, n)
			for j := range pos {
				pos[j] = float64(j)
			}
			cfg := Config{Method: tc.method, Inflation: 1, LocRadius: 2, Innovation: &InnovationInflation{PriorSD: sigmaB, Local: tc.local}}
			f, err := New(cfg, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			truth := make([]float64, n)
			E := mat.NewDense(N, n, nil)
			for i := range N {
				for j := range n {
					E.Set(i, j, math.Sqrt(0.5)*rng.NormFloat64())
				}
			}
			y, rVar := make([]float64, n), make([]float64, n)
			for j := range rVar {
				rVar[j] = r
			}
			var lam, errVar, ensVar float64
			for k := 1; k <= cycles; k++ {
				for j := range truth {
					truth[j] += math.Sqrt(q) * rng.NormFloat64()
					y[j] = truth[j] + math.Sqrt(r)*rng.NormFloat64()
				}
				if k > burn {
					for j := range n {
						var m, v float64
						for i := range N {
							m += E.At(i, j) / float64(N)
						}
						for i := range N {
							v += (E.At(i, j) - m) * (E.At(i, j) - m) / float64(N-1)
						}
						errVar += (m - truth[j]) * (m - truth[j])
						ensVar += v
					}
				}
				if _, err := f.Analyze(E, E, y, rVar, rng); err != nil {
					t.Fatalf("cycle %d: %v", k, err)
				}
				if k > burn {
					lam += mean(f.InflationEstimate())
				}
			}
			lam /= cycles - burn
			lamErr := errVar / ensVar
			if math.Abs(lam-lamErr) > tol {
				t.Errorf("mean Λ %.4f, the actual errors want %.4f ± %v", lam, lamErr, tol)
			}
			if tc.optimum != 0 && math.Abs(lam-tc.optimum) > tol {
				t.Errorf("mean Λ %.4f, the Kalman filter's optimum is %.4f ± %v", lam, tc.optimum, tol)
			}
			t.Logf("mean Λ %.4f, from the errors %.4f", lam, lamErr)
		})
	}
}

// TestInnovationInflationCarried: every scheme reports √Λ as the
// inflation of the analysis (the local one the mean of √Λ_b) and carries Λ
// to the next; an analysis that fails leaves it; SetInflationEstimate
// takes what InflationEstimate gave and rejects what no analysis could
// give.
func TestInnovationInflationCarried(t *testing.T) {
	const N, n = 10, 12
	pos := make([]float64, n)
	for j := range pos {
		pos[j] = float64(j)
	}
	type scheme struct {
		name   string
		method Method
		local  bool
	}
	var schemes []scheme
	for _, m := range Methods {
		schemes = append(schemes, scheme{string(m), m, false})
	}
	for _, sc := range append(schemes, scheme{"letkf local", LETKF, true}) {
		t.Run(sc.name, func(t *testing.T) {
			f, err := New(Config{Method: sc.method, Inflation: 1, LocRadius: 3, Innovation: &InnovationInflation{PriorSD: 0.5, Local: sc.local}}, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if sc.local {
				want = n // batches of one grid point
			}
			if got := f.InflationEstimate(); len(got) != want || slices.ContainsFunc(got, func(v float64) bool { return v != 1 }) {
				t.Fatalf("initial estimate %v, want %d ones", got, want)
			}
			rng := rand.New(rand.NewPCG(4, 4))
			E := mat.NewDense(N, n, nil)
			y, rVar := make([]float64, n), make([]float64, n)
			for j := range n {
				for i := range N {
					E.Set(i, j, rng.Float64()-0.5)
				}
				y[j], rVar[j] = 2*rng.NormFloat64(), 1 // innovations far larger than the spread
			}
			E0 := mat.DenseCopyOf(E)
			inno, err := f.Analyze(E, mat.DenseCopyOf(E), y, rVar, rng)
			if err != nil {
				t.Fatal(err)
			}
			lam := slices.Clone(f.InflationEstimate())
			var sqrtMean float64
			for _, v := range lam {
				sqrtMean += math.Sqrt(v) / float64(len(lam))
			}
			if !(slices.Min(lam) > 1) || math.Abs(inno.Inflation-sqrtMean) > 1e-15 {
				t.Errorf("estimate %v, reported inflation %v, want all > 1 and the mean of their square roots", lam, inno.Inflation)
			}
			// The same analysis with a divergence threshold that its
			// output crosses (the forecast stays below it).
			cfg := f.Config()
			cfg.BlowUp = 1.5
			g, err := New(cfg, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			for j := range n {
				y[j] = 10
			}
			if _, err := g.Analyze(E0, mat.DenseCopyOf(E0), y, rVar, rng); err == nil || !strings.Contains(err.Error(), "diverged") || mean(g.InflationEstimate()) != 1 {
				t.Errorf("diverged analysis: error %v, estimate %v, want a divergence and 1", err, g.InflationEstimate())
			}
			for _, bad := range []float64{0, MinInflationEstimate / 2, math.Inf(1), math.NaN()} {
				set := slices.Repeat([]float64{1.5}, want)
				set[want-1] = bad
				if err := f.SetInflationEstimate(set); err == nil || !slices.Equal(f.InflationEstimate(), lam) {
					t.Errorf("SetInflationEstimate(…, %v): %v, estimate %v", bad, err, f.InflationEstimate())
				}
			}
			if err := f.SetInflationEstimate(make([]float64, want+1)); err == nil {
				t.Errorf("SetInflationEstimate of %d values accepted, want %d", want+1, want)
			}
			set := slices.Repeat([]float64{1.5}, want)
			if err := f.SetInflationEstimate(set); err != nil || !slices.Equal(f.InflationEstimate(), set) {
				t.Errorf("SetInflationEstimate(1.5…): %v, estimate %v", err, f.InflationEstimate())
			}
			f.ResetInflationEstimate()
			if !slices.Equal(f.InflationEstimate(), slices.Repeat([]float64{1}, want)) {
				t.Errorf("after ResetInflationEstimate: %v", f.InflationEstimate())
			}
		})
	}
	f, err := New(Config{Method: EnKF, Inflation: 1}, N, n, pos)
	if err != nil {
		t.Fatal(err)
	}
	if f.InflationEstimate() != nil || f.SetInflationEstimate([]float64{1}) == nil {
		t.Errorf("a filter without the innovation inflation has an estimate")
	}
	if _, err := New(Config{Method: EnKF, Inflation: 1, Innovation: &InnovationInflation{PriorSD: -1}}, N, n, pos); err == nil {
		t.Errorf("negative prior sd accepted")
	}
	if _, err := New(Config{Method: ETKF, Inflation: 1, Innovation: &InnovationInflation{Local: true}}, N, n, pos); err == nil {
		t.Errorf("local innovation inflation accepted for the etkf")
	}
	for _, local := range []bool{false, true} {
		l, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 3, Innovation: &InnovationInflation{Local: local}}, N, n, pos)
		if err != nil {
			t.Fatal(err)
		}
		E := mat.NewDense(N, n, nil)
		E.Apply(func(i, j int, _ float64) float64 { return float64(i*j%7) / 7 }, E)
		dst := mat.NewDense(N, 4, nil)
		if err := l.AnalyzeBlock(dst, E, E, make([]float64, n), make([]float64, n), 0, 4); err == nil || !strings.Contains(err.Error(), "innovation inflation") {
			t.Errorf("block analysis with the innovation inflation (local %v): %v", local, err)
		}
	}
}

// TestInflationLowerBound: innovations smaller than the spread pull Λ
// below 1 unless InnovationInflation.Min is 1, which holds it at 1 in the
// global and the local scheme. A carried value under the bound (a rerun
// that adds it) is taken as the next analysis's prior, whose posterior the
// bound holds. A bound outside [MinInflationEstimate, 1] is refused.
func TestInflationLowerBound(t *testing.T) {
	const N, n = 10, 12
	pos := make([]float64, n)
	for j := range pos {
		pos[j] = float64(j)
	}
	for _, local := range []bool{false, true} {
		for _, lo := range []float64{0, 1} {
			f, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 3, Innovation: &InnovationInflation{PriorSD: 0.5, Local: local, Min: lo}}, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 5))
			E := mat.NewDense(N, n, nil)
			y, rVar := make([]float64, n), make([]float64, n)
			for j := range n {
				for i := range N {
					E.Set(i, j, 2*rng.NormFloat64())
				}
				y[j], rVar[j] = mat.Sum(E.ColView(j))/N, 1 // no innovation at all
			}
			if _, err := f.Analyze(E, mat.DenseCopyOf(E), y, rVar, rng); err != nil {
				t.Fatal(err)
			}
			lam := f.InflationEstimate()
			if lo == 1 && slices.ContainsFunc(lam, func(v float64) bool { return v != 1 }) ||
				lo == 0 && slices.ContainsFunc(lam, func(v float64) bool { return !(v < 1) }) {
				t.Errorf("local %v, lower bound %v: estimate %v", local, lo, lam)
			}
			if err := f.SetInflationEstimate(slices.Repeat([]float64{0.9}, len(lam))); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Analyze(E, mat.DenseCopyOf(E), y, rVar, rng); err != nil {
				t.Fatal(err)
			}
			if lam := f.InflationEstimate(); lo == 1 && slices.ContainsFunc(lam, func(v float64) bool { return v != 1 }) {
				t.Errorf("local %v, from a carried 0.9: estimate %v, want 1", local, lam)
			}
		}
	}
	for _, bad := range []float64{MinInflationEstimate / 2, 1.01, -1, math.NaN(), math.Inf(1)} {
		if _, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 3, Innovation: &InnovationInflation{Local: true, Min: bad}}, N, n, pos); err == nil {
			t.Errorf("lower bound %v accepted", bad)
		}
	}
}

// TestLocalInnovationInflation: the local estimates see where the
// ensemble is too narrow. The forecast spread is right on the left part
// of a line and half the error on the right part; the estimates on the
// right settle near the error variance over the spread, (1 + 0.25/N)/0.25
// ≈ 4 (the mean of N members is off by 1/N of their variance), those on
// the left near 1 + 1/N ≈ 1, and a grid point far from every observation
// keeps its prior exactly. With every weight 1 a batch's update is the
// global one (UpdateInflation with p observations). Tolerances (0.3 and
// 0.8, a fifth of the value): the time mean over 2000 cycles of estimates
// whose memory is 30 cycles on the left and about 500 on the right
// (σ_b = 0.3, three tapered observations per batch), so the right one
// still carries its spin-up and fluctuations of about σ_b/√2; a wider
// prior speeds it up but biases it upwards (σ²ₒ grows with Λᵇ, so the
// estimate rises faster than it falls).
func TestLocalInnovationInflation(t *testing.T) {
	const N, n, cycles, scored = 20, 40, 3000, 2000
	var pos []float64
	for j := range n - 10 { // the last 10 points are unobserved
		pos = append(pos, float64(j))
	}
	f, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 1, Innovation: &InnovationInflation{PriorSD: 0.3, Local: true},
		Coords: &Coordinates{Of: seq(n)}}, N, n, pos)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	E := mat.NewDense(N, n, nil)
	HE := mat.NewDense(N, len(pos), nil)
	y, rVar := make([]float64, len(pos)), make([]float64, len(pos))
	sum := make([]float64, n)
	for k := range cycles {
		// Forecast error sd 1 everywhere; spread 1 on the left, 0.5 on the right.
		for j := range n {
			sd := 1.0
			if j >= 15 {
				sd = 0.5
			}
			for i := range N {
				E.Set(i, j, sd*rng.NormFloat64())
			}
		}
		for k, p := range pos {
			j := int(p)
			for i := range N {
				HE.Set(i, k, E.At(i, j))
			}
			y[k], rVar[k] = rng.NormFloat64()+math.Sqrt(1)*rng.NormFloat64(), 1
		}
		if _, err := f.Analyze(E, HE, y, rVar, rng); err != nil {
			t.Fatal(err)
		}
		if k >= cycles-scored {
			for j, v := range f.InflationEstimate() {
				sum[j] += v / scored
			}
		}
	}
	t.Logf("mean Λ_b: %.2f", sum)
	for j, v := range sum {
		switch {
		case j < 12 && math.Abs(v-1) > 0.3:
			t.Errorf("grid point %d (spread right): mean Λ %.3f, want about 1", j, v)
		case j >= 18 && j < 27 && math.Abs(v-4) > 0.8:
			t.Errorf("grid point %d (spread half the error): mean Λ %.3f, want about 4", j, v)
		}
	}
	for j, v := range f.InflationEstimate()[35:] {
		if v != 1 {
			t.Errorf("grid point %d (no observation within reach): Λ %v, want its prior 1", 35+j, v)
		}
	}
	// Every weight 1: the global update.
	s, d := []float64{0.3, -0.2, 0.5, 0.1}, []float64{1.5, -0.7}
	got := InnovationInflation{PriorSD: 0.2}.localInflation(1.1, s, d, []float64{1, 1})
	want, _, _ := UpdateInflation(1.1, 0.04, 1.5*1.5+0.7*0.7, 0.09+0.04+0.25+0.01, 2)
	if got != want {
		t.Errorf("local update with unit weights %v, the global one %v", got, want)
	}
}

func mean(v []float64) float64 {
	var m float64
	for _, x := range v {
		m += x / float64(len(v))
	}
	return m
}

func seq(n int) []float64 {
	s := make([]float64, n)
	for j := range s {
		s[j] = float64(j)
	}
	return s
}
