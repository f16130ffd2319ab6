package observations

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// ar1Scores returns n cycles of p standard normal scores, each an AR(1)
// sequence in time with lag-one correlation rho (a cycled filter's
// innovations are correlated from cycle to cycle).
func ar1Scores(rng *rand.Rand, n, p int, rho float64) [][]float64 {
	out := make([][]float64, n)
	prev := make([]float64, p)
	for k := range out {
		out[k] = make([]float64, p)
		for i := range prev {
			prev[i] = rho*prev[i] + math.Sqrt(1-rho*rho)*rng.NormFloat64()
			out[k][i] = prev[i]
		}
	}
	return out
}

// TestInnovationChartNominalRate: calibrated on one correlated
// in-distribution sequence of 10000 cycles (the twin's length), the chart
// flags a fraction of another near α. Over 40 000 cycles of memory 5
// (about 4000 nearly independent stretches of two memories) the 99.9%
// binomial interval of α = 1% over 4000 is [0.51%, 1.59%]; the test takes
// [0.5%, 1.6%], which also holds the calibration's own error. The χ² law
// of independent scores would put the threshold too low here (rho = 0.5
// inflates the chart's variance by about (1 + ρ(1 − λ))/(1 − ρ(1 − λ)) =
// 2.3), which the test checks too.
func TestInnovationChartNominalRate(t *testing.T) {
	const memory, p, rho, alpha = 5, 20, 0.5, 0.01
	rng := rand.New(rand.NewPCG(1, 2))
	c, err := CalibrateInnovationChart(memory, alpha, ar1Scores(rng, 10000, p, rho))
	if err != nil {
		t.Fatal(err)
	}
	flagged := 0
	for _, z := range ar1Scores(rng, 40000, p, rho) {
		if c.Update(z) > 1 {
			flagged++
		}
	}
	rate := float64(flagged) / 40000
	t.Logf("rate %.4f, quantile %.3g", rate, c.q)
	if rate < 0.005 || rate > 0.016 {
		t.Errorf("false-alarm rate %.4f, want within [0.005, 0.016]", rate)
	}
	lambda := 1.0 / memory
	indep := lambda / (2 - lambda) * ChiSquareThreshold(p, alpha)
	if c.q < 1.5*indep {
		t.Errorf("quantile %.3g, want well above %.3g, that of independent scores", c.q, indep)
	}
}

// TestInnovationChartSeesPersistentMean: a mean of 1 on a quarter of the
// scores, which one cycle's sum of squares barely sees (it raises its mean
// by 5 against a spread of √40 ≈ 6.3, so the χ²(20) test at 1% flags about
// one cycle in ten), flags the chart (memory 5) on most cycles after three
// memories.
func TestInnovationChartSeesPersistentMean(t *testing.T) {
	const memory, p = 5, 20
	rng := rand.New(rand.NewPCG(3, 4))
	c, err := CalibrateInnovationChart(memory, 0.01, ar1Scores(rng, 20000, p, 0))
	if err != nil {
		t.Fatal(err)
	}
	seq := ar1Scores(rng, 300, p, 0)
	flagged := 0
	for k, z := range seq {
		for i := 0; i < p/4; i++ {
			z[i]++
		}
		if s := c.Update(z); k >= 3*memory && s > 1 {
			flagged++
		}
	}
	if n := len(seq) - 3*memory; flagged < 8*n/10 {
		t.Errorf("%d of %d cycles flagged, want >= 80%%", flagged, n)
	}
	if i, e := c.Largest(); i >= p/4 || e < 0.5 {
		t.Errorf("largest mean score: observation %d's, %.3g; want one of the shifted ones", i, e)
	}
}

// TestInnovationChartState: the state carried between cycles comes back
// bit for bit; a non-finite score leaves its component as it was; a state
// of the wrong length or not finite is refused; Fresh starts at 0 with the
// same calibration.
func TestInnovationChartState(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c, err := CalibrateInnovationChart(4, 0.05, ar1Scores(rng, 500, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	c.Update([]float64{1, 2, 3})
	saved := append([]float64(nil), c.State()...)
	next := c.Update([]float64{0.5, math.NaN(), math.Inf(1)})
	if c.State()[1] != saved[1] || c.State()[2] != saved[2] {
		t.Errorf("non-finite scores moved the state: %v → %v", saved, c.State())
	}
	f := c.Fresh()
	if f.Statistic() != 0 {
		t.Errorf("fresh chart's statistic %v", f.Statistic())
	}
	if err := f.SetState(saved); err != nil {
		t.Fatal(err)
	}
	if got := f.Update([]float64{0.5, math.NaN(), math.Inf(1)}); got != next {
		t.Errorf("restored chart: %v, the original %v", got, next)
	}
	for _, bad := range [][]float64{{1, 2}, {1, 2, math.NaN()}, {1, math.Inf(-1), 0}} {
		if err := f.SetState(bad); err == nil {
			t.Errorf("state %v accepted", bad)
		}
	}
}

// TestCalibrateInnovationChartErrors: bad calibration input is refused
// with an error that says what is wrong.
func TestCalibrateInnovationChartErrors(t *testing.T) {
	ok := ar1Scores(rand.New(rand.NewPCG(7, 8)), 200, 2, 0)
	ragged := append(ar1Scores(rand.New(rand.NewPCG(7, 8)), 199, 2, 0), []float64{1})
	nan := ar1Scores(rand.New(rand.NewPCG(7, 8)), 200, 2, 0)
	nan[50][1] = math.NaN()
	zeros := make([][]float64, 200)
	for k := range zeros {
		zeros[k] = make([]float64, 2)
	}
	for _, tc := range []struct {
		name   string
		memory int
		alpha  float64
		scores [][]float64
		want   string
	}{
		{"memory 1", 1, 0.01, ok, "memory 1, want >= 2"},
		{"no scores", 5, 0.01, nil, "no calibration scores"},
		{"empty rows", 5, 0.01, [][]float64{{}}, "no calibration scores"},
		{"too short for the start", 100, 0.01, ok, "want more than 300"},
		{"too short for alpha", 5, 0.001, ok, "too few for a false-alarm rate of 0.001 (need >= 1000)"},
		{"ragged", 5, 0.01, ragged, "cycle 199 has 1 scores, want 2"},
		{"not finite", 5, 0.01, nan, "cycle 50 has a non-finite score"},
		{"constant", 5, 0.01, zeros, "want > 0"},
		{"alpha out of range", 5, 1.5, ok, "must be in (0, 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CalibrateInnovationChart(tc.memory, tc.alpha, tc.scores)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
