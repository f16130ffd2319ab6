package latent

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// ar1Sequence draws n in-distribution batches whose scores and p residuals
// are AR(1) in time with coefficient phi (stationary, unit variance): slow
// states, as consecutive cycles are. Scores are χ²(4)-like: the sum of
// four squared AR(1) normals.
func ar1Sequence(rng *rand.Rand, n, p int, phi float64) ([]float64, [][]float64) {
	innov := math.Sqrt(1 - phi*phi)
	g := make([]float64, 4+p)
	for i := range g {
		g[i] = rng.NormFloat64()
	}
	scores, res := make([]float64, n), make([][]float64, n)
	for k := range n {
		for i := range g {
			g[i] = phi*g[i] + innov*rng.NormFloat64()
		}
		for _, v := range g[:4] {
			scores[k] += v * v
		}
		res[k] = append([]float64(nil), g[4:]...)
	}
	return scores, res
}

// calibrated is the chart of the given memory at α calibrated on n
// batches of ar1Sequence(rng, n, p, phi).
func calibrated(t *testing.T, rng *rand.Rand, n, p int, phi float64, memory int, alpha float64) *ManifoldChart {
	t.Helper()
	s, r := ar1Sequence(rng, n, p, phi)
	c, err := CalibrateManifoldChart(memory, alpha, s, r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func alarmRate(c *ManifoldChart, scores []float64, res [][]float64, from int) float64 {
	c.Reset()
	n := 0
	for k := range scores {
		if c.Update(scores[k], res[k]) > 1 && k >= from {
			n++
		}
	}
	return float64(n) / float64(len(scores)-from)
}

// TestManifoldChartFalseAlarms: calibrated on one strongly autocorrelated
// in-distribution sequence (correlation time as long as the memory), the
// chart's false-alarm rate on another is α to within the sampling error of
// both sequences, although the score chart's tail is heavier than a
// Gaussian's; with spreads from the formula λ/(2 − λ) for independent
// cycles, 3× too small at φ = 0.9, it would be tens of percent.
func TestManifoldChartFalseAlarms(t *testing.T) {
	const alpha, memory, p = 0.01, 10, 8
	rng := rand.New(rand.NewPCG(1, 2))
	c := calibrated(t, rng, 400000, p, 0.9, memory, alpha)
	s, r := ar1Sequence(rng, 400000, p, 0.9)
	far := alarmRate(c, s, r, 3*memory)
	// A run of alarms lasts about a memory, so each sequence's rate has
	// an sd of about sqrt(α·memory/n) ≈ 0.05%; the band allows 4 of both.
	if math.Abs(far-alpha) > 0.003 {
		t.Errorf("false-alarm rate %.3f%%, want 1%% ± 0.3%%", 100*far)
	}
}

// TestManifoldChartSeesPersistentShift: a residual offset of 1.5σ on one
// of 16 observations, which a one-batch Bonferroni test at 1% flags about
// 3% of the time, or scores 1.6× their in-distribution law, is flagged
// on most batches once the chart has filled, and Parts blames it on that
// observation or on the score; in-distribution batches are not flagged.
func TestManifoldChartSeesPersistentShift(t *testing.T) {
	const alpha, memory, p = 0.01, 30, 16
	rng := rand.New(rand.NewPCG(3, 4))
	c := calibrated(t, rng, 20000, p, 0.5, memory, alpha)
	s, r := ar1Sequence(rng, 3000, p, 0.5)
	if far := alarmRate(c, s, r, 0); far > 3*alpha {
		t.Fatalf("in distribution: %.2f%% flagged", 100*far)
	}
	bias := func() ([]float64, [][]float64) {
		s, r := ar1Sequence(rng, 3000, p, 0.5)
		for k := range r {
			r[k][5] += 1.5
		}
		return s, r
	}
	energy := func() ([]float64, [][]float64) {
		s, r := ar1Sequence(rng, 3000, p, 0.5)
		for k := range s {
			s[k] *= 1.6
		}
		return s, r
	}
	for _, tc := range []struct {
		name string
		gen  func() ([]float64, [][]float64)
	}{{"residual bias", bias}, {"higher energy", energy}} {
		s, r := tc.gen()
		if det := alarmRate(c, s, r, 3*memory); det < 0.9 {
			t.Errorf("%s: %.1f%% of the batches after 3 memories flagged, want >= 90%%", tc.name, 100*det)
		}
		// Parts blames what changed: the biased observation, or the
		// score.
		score, obs, part := c.Parts()
		if math.Max(score, part) != c.Statistic() {
			t.Errorf("%s: parts %v and %v, statistic %v", tc.name, score, part, c.Statistic())
		}
		if bias := tc.name == "residual bias"; bias && (obs != 5 || part <= 1) || !bias && score <= 1 {
			t.Errorf("%s: the score's part %.3g, observation %d's %.3g", tc.name, score, obs, part)
		}
	}
}

// TestManifoldChartState: a chart restored from State continues bit for
// bit as the one that was never stopped; SetState refuses a state of the
// wrong size or with non-finite values.
func TestManifoldChartState(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := calibrated(t, rng, 2000, 3, 0.5, 5, 0.01)
	s, r := ar1Sequence(rng, 200, 3, 0.5)
	for k := range 100 {
		c.Update(s[k], r[k])
	}
	d := c.Fresh()
	if err := d.SetState(c.State()); err != nil {
		t.Fatal(err)
	}
	for k := 100; k < 200; k++ {
		if a, b := c.Update(s[k], r[k]), d.Update(s[k], r[k]); a != b {
			t.Fatalf("batch %d: %v, restored %v", k, a, b)
		}
	}
	for _, bad := range [][]float64{{0, 0, 0}, {0, 0, 0, 0, 0}, {0, math.NaN(), 0, 0}, {math.Inf(1), 0, 0, 0}} {
		if err := d.SetState(bad); err == nil {
			t.Errorf("SetState(%v) accepted", bad)
		}
	}
}

func TestCalibrateManifoldChartErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	s, r := ar1Sequence(rng, 400, 2, 0.5)
	flat := make([][]float64, 400)
	for k := range flat {
		flat[k] = []float64{1, r[k][1]}
	}
	nan := append([]float64(nil), s...)
	nan[7] = math.NaN()
	ragged := append([][]float64(nil), r...)
	ragged[3] = []float64{1}
	for _, tc := range []struct {
		name   string
		memory int
		alpha  float64
		s      []float64
		r      [][]float64
		want   string
	}{
		{"memory 1", 1, 0.01, s, r, "memory 1 must be >= 2"},
		{"alpha", 10, 1, s, r, "false-alarm rate 1"},
		{"lengths", 10, 0.01, s[:399], r, "399 scores, 400 rows"},
		{"short", 30, 0.01, s, r, "too short for a memory of 30"},
		{"ragged", 10, 0.01, s, ragged, "batch 3 has 1 residuals"},
		{"nan", 10, 0.01, nan, r, "batch 7 of the calibration sequence is not finite"},
		{"constant residual", 10, 0.01, s, flat, "observation 0 does not vary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CalibrateManifoldChart(tc.memory, tc.alpha, tc.s, tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
