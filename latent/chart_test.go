package latent

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// ar1Sequence draws n in-distribution batches whose scores, p residuals,
// d code components and d code shifts are AR(1) in time with coefficient
// phi (stationary, unit variance): slow states, as consecutive cycles are.
// Scores are χ²(4)-like: the sum of four squared AR(1) normals.
func ar1Sequence(rng *rand.Rand, n, p, d int, phi float64) (scores []float64, res, codes, shifts [][]float64) {
	innov := math.Sqrt(1 - phi*phi)
	g := make([]float64, 4+p+2*d)
	for i := range g {
		g[i] = rng.NormFloat64()
	}
	scores, res, codes, shifts = make([]float64, n), make([][]float64, n), make([][]float64, n), make([][]float64, n)
	for k := range n {
		for i := range g {
			g[i] = phi*g[i] + innov*rng.NormFloat64()
		}
		for _, v := range g[:4] {
			scores[k] += v * v
		}
		res[k] = append([]float64(nil), g[4:4+p]...)
		codes[k] = append([]float64(nil), g[4+p:4+p+d]...)
		shifts[k] = append([]float64(nil), g[4+p+d:]...)
	}
	return scores, res, codes, shifts
}

// calibrated is the chart of the given memory at α calibrated on n
// batches of ar1Sequence(rng, n, p, d, phi).
func calibrated(t *testing.T, rng *rand.Rand, n, p, d int, phi float64, memory int, alpha float64) *ManifoldChart {
	t.Helper()
	s, r, z, w := ar1Sequence(rng, n, p, d, phi)
	c, err := CalibrateManifoldChart(memory, alpha, s, r, z, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func alarmRate(c *ManifoldChart, scores []float64, res, codes, shifts [][]float64, from int) float64 {
	c.Reset()
	n := 0
	for k := range scores {
		if c.Update(scores[k], res[k], codes[k], shifts[k]) > 1 && k >= from {
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
// cycles, 3× too small at φ = 0.9, it would be tens of percent. The
// location part scans 30 random patterns besides the code axes.
func TestManifoldChartFalseAlarms(t *testing.T) {
	const alpha, memory, p, d = 0.01, 10, 8, 6
	rng := rand.New(rand.NewPCG(1, 2))
	patterns := make([][]float64, 30)
	for k := range patterns {
		patterns[k] = make([]float64, d)
		for j := range patterns[k] {
			patterns[k][j] = rng.NormFloat64()
		}
	}
	s, r, z, w := ar1Sequence(rng, 400000, p, d, 0.9)
	c, err := CalibrateManifoldChart(memory, alpha, s, r, z, w, patterns)
	if err != nil {
		t.Fatal(err)
	}
	s, r, z, w = ar1Sequence(rng, 400000, p, d, 0.9)
	far := alarmRate(c, s, r, z, w, 3*memory)
	// A run of alarms lasts about a memory, so each sequence's rate has
	// an sd of about sqrt(α·memory/n) ≈ 0.05%; the band allows 4 of both.
	if math.Abs(far-alpha) > 0.003 {
		t.Errorf("false-alarm rate %.3f%%, want 1%% ± 0.3%%", 100*far)
	}
}

// TestManifoldChartSeesPersistentShift: a residual offset of 1.5σ on one
// of 16 observations, which a one-batch Bonferroni test at 1% flags about
// 3% of the time, scores 1.8× their in-distribution law, or energy moved
// from half the code's components to the other half (1.6× and 0.4× their
// variance, the total unchanged), or the code's shift from the forecast's
// moved by 0.95 of its sd on one component (0.95 + 0.31w, as a pattern of
// one scale that the observations keep showing), is flagged on most
// batches once the chart has filled, and Parts blames what changed; the
// last case cannot pass without the location part (the score and the
// spectrum stay below 1). In-distribution batches are not flagged.
func TestManifoldChartSeesPersistentShift(t *testing.T) {
	const alpha, memory, p, d = 0.01, 30, 16, 8
	rng := rand.New(rand.NewPCG(3, 4))
	c := calibrated(t, rng, 20000, p, d, 0.5, memory, alpha)
	s, r, z, w := ar1Sequence(rng, 3000, p, d, 0.5)
	if far := alarmRate(c, s, r, z, w, 0); far > 3*alpha {
		t.Fatalf("in distribution: %.2f%% flagged", 100*far)
	}
	for _, tc := range []struct {
		name   string
		change func(s []float64, r, z, w [][]float64)
		blamed func(ChartParts) bool
	}{
		{"residual bias", func(_ []float64, r, _, _ [][]float64) {
			for k := range r {
				r[k][5] += 1.5
			}
		}, func(p ChartParts) bool { return p.Observation == 5 && p.Residual > 1 }},
		{"higher energy", func(s []float64, _, _, _ [][]float64) {
			for k := range s {
				s[k] *= 1.8
			}
		}, func(p ChartParts) bool { return p.Score > 1 }},
		{"energy moved between modes", func(_ []float64, _, z, _ [][]float64) {
			for k := range z {
				for j := range z[k] {
					if j < d/2 {
						z[k][j] *= math.Sqrt(1.6)
					} else {
						z[k][j] *= math.Sqrt(0.4)
					}
				}
			}
		}, func(p ChartParts) bool { return p.Spectrum > 1 }},
		{"code shifted from the forecast's", func(_ []float64, _, _, w [][]float64) {
			for k := range w {
				w[k][0] = 0.95 + math.Sqrt(1-0.95*0.95)*w[k][0] // mean 0.95, E[w²] = 1
			}
		}, func(p ChartParts) bool { return p.Location > 1 && p.Spectrum < 1 && p.Score < 1 }},
	} {
		s, r, z, w := ar1Sequence(rng, 3000, p, d, 0.5)
		tc.change(s, r, z, w)
		if det := alarmRate(c, s, r, z, w, 3*memory); det < 0.9 {
			t.Errorf("%s: %.1f%% of the batches after 3 memories flagged, want >= 90%%", tc.name, 100*det)
		}
		parts := c.Parts()
		if max(parts.Score, parts.Residual, parts.Spectrum, parts.Location) != c.Statistic() || !tc.blamed(parts) {
			t.Errorf("%s: parts %+v, statistic %v", tc.name, parts, c.Statistic())
		}
	}
}

// TestManifoldChartState: a chart restored from State continues bit for
// bit as the one that was never stopped; SetState refuses a state of the
// wrong size or with non-finite values.
func TestManifoldChartState(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := calibrated(t, rng, 2000, 3, 2, 0.5, 5, 0.01)
	s, r, z, w := ar1Sequence(rng, 200, 3, 2, 0.5)
	for k := range 100 {
		c.Update(s[k], r[k], z[k], w[k])
	}
	d := c.Fresh()
	if err := d.SetState(c.State()); err != nil {
		t.Fatal(err)
	}
	for k := 100; k < 200; k++ {
		if a, b := c.Update(s[k], r[k], z[k], w[k]), d.Update(s[k], r[k], z[k], w[k]); a != b {
			t.Fatalf("batch %d: %v, restored %v", k, a, b)
		}
	}
	// A failed projection: its NaN score counts as the most atypical, its
	// non-finite residuals, code and code shift leave their charts, and
	// the chart stays finite.
	nan := math.NaN()
	before := slices.Clone(d.State())
	if st := d.Update(nan, []float64{nan, math.Inf(1), nan}, []float64{nan, math.Inf(-1)}, []float64{math.Inf(1), nan}); math.IsNaN(st) || math.IsInf(st, 0) {
		t.Fatalf("statistic after a failed projection: %v", st)
	}
	if after := d.State(); !(after[0] > before[0]) || !slices.Equal(after[1:], before[1:]) {
		t.Errorf("a failed projection moved the state %v to %v; want only s, upward", before, after)
	}
	// 1 + p + 2d = 8 values.
	for _, bad := range [][]float64{{0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, math.NaN(), 0, 0, 0, 0, 0, 0}, {math.Inf(1), 0, 0, 0, 0, 0, 0, 0}} {
		if err := d.SetState(bad); err == nil {
			t.Errorf("SetState(%v) accepted", bad)
		}
	}
}

func TestCalibrateManifoldChartErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	s, r, z, w := ar1Sequence(rng, 400, 2, 2, 0.5)
	flat, flatZ, flatW := make([][]float64, 400), make([][]float64, 400), make([][]float64, 400)
	for k := range flat {
		flat[k] = []float64{1, r[k][1]}
		flatZ[k] = []float64{z[k][0], 3}
		flatW[k] = []float64{0.5, w[k][1]}
	}
	nan := append([]float64(nil), s...)
	nan[7] = math.NaN()
	ragged := append([][]float64(nil), r...)
	ragged[3] = []float64{1}
	raggedZ := append([][]float64(nil), z...)
	raggedZ[5] = []float64{1, 2, 3}
	infZ := append([][]float64(nil), z...)
	infZ[9] = []float64{math.Inf(-1), 0}
	raggedW := append([][]float64(nil), w...)
	raggedW[6] = []float64{1}
	nanW := append([][]float64(nil), w...)
	nanW[2] = []float64{0, math.NaN()}
	for _, tc := range []struct {
		name    string
		memory  int
		alpha   float64
		s       []float64
		r, z, w [][]float64
		pat     [][]float64
		want    string
	}{
		{"memory 1", 1, 0.01, s, r, z, w, nil, "memory 1 must be >= 2"},
		{"alpha", 10, 1, s, r, z, w, nil, "false-alarm rate 1"},
		{"lengths", 10, 0.01, s[:399], r, z, w, nil, "399 scores, 400 rows of residuals, 400 codes, 400 code shifts"},
		{"codes", 10, 0.01, s, r, z[:398], w, nil, "400 scores, 400 rows of residuals, 398 codes"},
		{"shifts", 10, 0.01, s, r, z, w[:397], nil, "400 codes, 397 code shifts"},
		{"short", 30, 0.01, s, r, z, w, nil, "too short for a memory of 30"},
		{"ragged", 10, 0.01, s, ragged, z, w, nil, "batch 3 has 1 residuals"},
		{"ragged code", 10, 0.01, s, r, raggedZ, w, nil, "batch 5 has a code of 3 and a code shift of 2, batch 0 a code of 2"},
		{"ragged shift", 10, 0.01, s, r, z, raggedW, nil, "batch 6 has a code of 2 and a code shift of 1"},
		{"nan", 10, 0.01, nan, r, z, w, nil, "batch 7 of the calibration sequence is not finite"},
		{"infinite code", 10, 0.01, s, r, infZ, w, nil, "batch 9 of the calibration sequence is not finite"},
		{"nan shift", 10, 0.01, s, r, z, nanW, nil, "batch 2 of the calibration sequence is not finite"},
		{"constant residual", 10, 0.01, s, flat, z, w, nil, "observation 0 does not vary"},
		{"constant code", 10, 0.01, s, r, flatZ, w, nil, "code component 1 does not vary"},
		{"constant shift", 10, 0.01, s, r, z, flatW, nil, "code shift 0 does not vary"},
		{"short pattern", 10, 0.01, s, r, z, w, [][]float64{{1, 0}, {1}}, "pattern 1 must be 2 finite values, not all zero"},
		{"zero pattern", 10, 0.01, s, r, z, w, [][]float64{{0, 0}}, "pattern 0 must be 2 finite values"},
		{"nan pattern", 10, 0.01, s, r, z, w, [][]float64{{math.NaN(), 1}}, "pattern 0 must be 2 finite values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CalibrateManifoldChart(tc.memory, tc.alpha, tc.s, tc.r, tc.z, tc.w, tc.pat)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestManifoldChartSeesSpreadPattern: a move of 0.3 sd in every one of 16
// components of the code's shift from the forecast's is too small for
// each component's own chart, so without patterns the chart flags few batches; given the
// shift's direction as a pattern, the location part's matched filter adds
// the components up and flags most batches once the chart has filled. The
// pattern does not raise the in-distribution rate.
func TestManifoldChartSeesSpreadPattern(t *testing.T) {
	const alpha, memory, p, d, shift = 0.01, 30, 4, 16, 0.3
	rng := rand.New(rand.NewPCG(9, 10))
	s, r, z, w := ar1Sequence(rng, 40000, p, d, 0.5)
	pattern := make([]float64, d)
	for j := range pattern {
		pattern[j] = 1
	}
	plain, err := CalibrateManifoldChart(memory, alpha, s, r, z, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	scan, err := CalibrateManifoldChart(memory, alpha, s, r, z, w, [][]float64{pattern})
	if err != nil {
		t.Fatal(err)
	}
	s, r, z, w = ar1Sequence(rng, 6000, p, d, 0.5)
	if far := alarmRate(scan, s, r, z, w, 0); far > 3*alpha {
		t.Errorf("in distribution with the pattern: %.2f%% flagged", 100*far)
	}
	for k := range w {
		for j := range w[k] {
			w[k][j] = shift + math.Sqrt(1-shift*shift)*w[k][j]
		}
	}
	if det := alarmRate(plain, s, r, z, w, 3*memory); det > 0.5 {
		t.Errorf("without the pattern %.1f%% flagged; the test's shift is too large", 100*det)
	}
	if det := alarmRate(scan, s, r, z, w, 3*memory); det < 0.9 {
		t.Errorf("with the pattern %.1f%% flagged, want >= 90%%", 100*det)
	}
	if parts := scan.Parts(); !(parts.Location > 1) || parts.Location != scan.Statistic() {
		t.Errorf("parts %+v, statistic %v: the location part should flag", parts, scan.Statistic())
	}
}
