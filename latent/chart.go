package latent

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/latentda/latentda/observations"
)

// ManifoldChart accumulates the manifold test's evidence over cycles, as
// exponentially weighted moving average (EWMA) control charts do (Roberts
// 1959; Lucas & Saccucci 1990). A persistent anomaly that no single batch
// shows (a regime shift that moves energy between the generator's modes, a
// small bias at one point off the manifold) adds up in the chart, while
// in-distribution batches, each atypical only at random, average out.
//
// With weight λ = 1/memory, after each cycle k
//
//	s_k   = (1 − λ) s_{k−1} + λ u_k,            u_k = Φ⁻¹(F(T_k)),
//	e_k,i = (1 − λ) e_{k−1,i} + λ (r_k,i − m_i)/σ_i,
//
// from s_0 = e_0 = 0. T_k is the cycle's two-sided score (TwoSided), F its
// in-distribution distribution function, so that u_k is a standard normal
// score whatever T's law; r_k,i is observation i's standardised residual
// off the manifold, (yᵢ − H(G(z*))ᵢ)/σᵢ, with in-distribution mean mᵢ and
// standard deviation σᵢ (the generator's representation error makes them
// differ from 0 and 1). The batch is flagged when
//
//	s_k > z(1 − α/2) sd(s)   or   max_i |e_k,i| > z(1 − α/(4p)) sd(e_i),
//
// the first chart at α/2 and the p residual charts two-sided at α/2 by
// Bonferroni, so that the charts share the false-alarm rate α. Consecutive
// cycles are correlated (the states evolve slowly against λ), so sd(s)
// and sd(eᵢ) are measured on a calibration sequence of in-distribution
// batches one cycle apart, not taken from the formula λ/(2 − λ) for
// independent inputs; F, mᵢ and σᵢ come from the same sequence.
//
// The chart's statistic is the larger of the two ratios to their
// thresholds, divided by its own (1 − α) quantile over the calibration
// sequence, so that it flags above 1 at the rate α. The Gaussian
// thresholds alone would flag more often: s averages normal scores that
// are normal one by one but not jointly (an in-distribution excursion to
// an unusual part of the climatology lasts many cycles), so its tail is
// heavier than a Gaussian's. The empirical quantile has no such bias, only
// the sampling error of a sequence whose alarms come in runs of about a
// memory, so the sequence should be long: hundreds of memories.
//
// Its state (s, e) is carried from cycle to cycle: State and SetState
// store and restore it.
type ManifoldChart struct {
	lambda   float64
	cdf      []float64 // the calibration scores T, sorted: F
	mean, sd []float64 // mᵢ, σᵢ
	sdS      float64   // sd(s)
	sdE      []float64 // sd(eᵢ)
	zS, zE   float64   // z(1 − α/2), z(1 − α/(4p))
	scale    float64   // the calibration quantile of the unscaled statistic
	// state is (s, e₁, …, e_p), carried from cycle to cycle; e aliases
	// state[1:].
	state, e []float64
}

// CalibrateManifoldChart returns the chart of the given memory (in cycles,
// ≥ 2: λ = 1/memory) at false-alarm rate alpha from a calibration sequence
// of consecutive in-distribution batches: their two-sided scores T and
// their standardised residuals (one row of p per batch). The sequence must
// be long against the memory (at least 20 memories), so that the charts'
// spreads are measured on many independent stretches.
func CalibrateManifoldChart(memory int, alpha float64, scores []float64, residuals [][]float64) (*ManifoldChart, error) {
	n := len(scores)
	switch {
	case memory < 2:
		return nil, fmt.Errorf("latent: manifold chart: memory %d must be >= 2 cycles", memory)
	case !(alpha > 0 && alpha < 1):
		return nil, fmt.Errorf("latent: manifold chart: false-alarm rate %v must be in (0, 1)", alpha)
	case len(residuals) != n:
		return nil, fmt.Errorf("latent: manifold chart: %d scores, %d rows of residuals", n, len(residuals))
	case n < 20*memory:
		return nil, fmt.Errorf("latent: manifold chart: a calibration sequence of %d batches is too short for a memory of %d (need >= %d)", n, memory, 20*memory)
	}
	p := len(residuals[0])
	for k := range n {
		if len(residuals[k]) != p {
			return nil, fmt.Errorf("latent: manifold chart: batch %d has %d residuals, batch 0 has %d", k, len(residuals[k]), p)
		}
		if math.IsNaN(scores[k]) || slices.ContainsFunc(residuals[k], func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }) {
			return nil, fmt.Errorf("latent: manifold chart: batch %d of the calibration sequence is not finite", k)
		}
	}
	c := &ManifoldChart{lambda: 1 / float64(memory), cdf: slices.Sorted(slices.Values(scores)),
		mean: make([]float64, p), sd: make([]float64, p), sdE: make([]float64, p), state: make([]float64, 1+p)}
	c.e = c.state[1:]
	for i := range p {
		var sum, sum2 float64
		for k := range n {
			sum += residuals[k][i]
		}
		c.mean[i] = sum / float64(n)
		for k := range n {
			d := residuals[k][i] - c.mean[i]
			sum2 += d * d
		}
		if c.sd[i] = math.Sqrt(sum2 / float64(n-1)); !(c.sd[i] > 0) {
			return nil, fmt.Errorf("latent: manifold chart: the residual of observation %d does not vary over the calibration sequence", i)
		}
	}
	// Run the charts over the sequence; their spreads about 0 (their
	// in-distribution mean) are measured after a warm-up of 3 memories,
	// when the start s_0 = e_0 = 0 is forgotten to e⁻³.
	warm := 3 * memory
	var sumS float64
	sumE := make([]float64, p)
	for k := range n {
		c.Update(scores[k], residuals[k])
		if k < warm {
			continue
		}
		sumS += c.state[0] * c.state[0]
		for i, v := range c.e {
			sumE[i] += v * v
		}
	}
	m := float64(n - warm)
	c.sdS = math.Sqrt(sumS / m)
	for i := range c.sdE {
		c.sdE[i] = math.Sqrt(sumE[i] / m)
	}
	std := distuv.UnitNormal
	c.zS, c.zE, c.scale = std.Quantile(1-alpha/2), std.Quantile(1-alpha/(4*float64(p))), 1
	c.Reset()
	stats := make([]float64, 0, n-warm)
	for k := range n {
		if st := c.Update(scores[k], residuals[k]); k >= warm {
			stats = append(stats, st)
		}
	}
	scale, err := observations.EmpiricalThreshold(stats, alpha)
	if err != nil {
		return nil, fmt.Errorf("latent: manifold chart: %w", err)
	}
	c.scale = scale
	c.Reset()
	return c, nil
}

// Update adds a cycle's two-sided score T and standardised residuals r (p
// of them) to the charts and returns the chart statistic: the batch is
// flagged when it exceeds 1.
func (c *ManifoldChart) Update(score float64, r []float64) float64 {
	// F(T) by the calibration ranks, kept inside (0, 1) so that one
	// batch adds at most about |Φ⁻¹(1/(2n))| to the chart.
	n := float64(len(c.cdf))
	rank := float64(sort.SearchFloat64s(c.cdf, score))
	if math.IsNaN(score) {
		rank = n // a failed projection is as atypical as the sample's largest
	}
	u := distuv.UnitNormal.Quantile((rank + 0.5) / (n + 1))
	c.state[0] = (1-c.lambda)*c.state[0] + c.lambda*u
	for i, v := range r {
		c.e[i] = (1-c.lambda)*c.e[i] + c.lambda*(v-c.mean[i])/c.sd[i]
	}
	return c.Statistic()
}

// Statistic is the chart statistic of the current state:
// max(s/(z_S sd(s)), maxᵢ |eᵢ|/(z_E sd(eᵢ))) over its calibration
// quantile, flagged above 1.
func (c *ManifoldChart) Statistic() float64 {
	st := c.state[0] / (c.zS * c.sdS)
	for i, v := range c.e {
		st = math.Max(st, math.Abs(v)/(c.zE*c.sdE[i]))
	}
	return st / c.scale
}

// Parts splits Statistic by what it blames: it returns the score chart's
// part, s/(z_S sd(s)), and the observation whose residual chart's part,
// |eᵢ|/(z_E sd(eᵢ)), is the largest, with that part, all over the
// calibration quantile. Statistic is the larger of the two parts.
func (c *ManifoldChart) Parts() (score float64, obs int, part float64) {
	for i, v := range c.e {
		if r := math.Abs(v) / (c.zE * c.sdE[i]); r > part {
			obs, part = i, r
		}
	}
	return c.state[0] / (c.zS * c.sdS) / c.scale, obs, part / c.scale
}

// Reset returns the charts to their start, s = e = 0.
func (c *ManifoldChart) Reset() {
	clear(c.state)
}

// State returns the charts' state (s, e₁, …, e_p), to be carried to the
// next cycle. It is owned by c.
func (c *ManifoldChart) State() []float64 { return c.state }

// SetState restores a state State returned.
func (c *ManifoldChart) SetState(v []float64) error {
	if len(v) != len(c.state) {
		return fmt.Errorf("latent: manifold chart: state has %d values, want %d", len(v), len(c.state))
	}
	if slices.ContainsFunc(v, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }) {
		return fmt.Errorf("latent: manifold chart: state %v is not finite", v)
	}
	copy(c.state, v)
	return nil
}

// Fresh returns a chart with c's calibration and its state at the start.
// The calibration is shared, read-only.
func (c *ManifoldChart) Fresh() *ManifoldChart {
	f := *c
	f.state = make([]float64, len(c.state))
	f.e = f.state[1:]
	return &f
}
