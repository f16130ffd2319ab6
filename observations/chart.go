package observations

import (
	"fmt"
	"math"

	"github.com/latentda/latentda/internal/vec"
)

// InnovationChart is a multivariate exponentially weighted moving average
// (MEWMA) control chart (Lowry, Woodall, Champ & Rigdon 1992) of each
// cycle's innovation scores zᵢ = dᵢ/√(σᵢ² + vᵢ) (InnovationQC.Test). With
// weight λ = 1/memory, after cycle k
//
//	e_k = (1 − λ) e_{k−1} + λ z_k,   e_0 = 0,   Q_k = Σᵢ e_k,i²,
//
// and the cycle is flagged when Q_k exceeds q, the (1 − α) quantile of Q
// over an in-distribution sequence of consecutive cycles of the same
// filter. A model error that the filter keeps correcting (a forcing the
// model lacks, felt at the observed points through the dynamics) gives
// the innovations a mean of a fixed pattern that one cycle's NIS, which
// adds the innovations' squares, sees only once it exceeds their spread;
// averaged over a memory the noise shrinks by about √(λ/(2 − λ)) and the
// mean stays. Consecutive innovations of a cycled filter are correlated,
// and its scores correlated between observations, so q is measured on a
// cycled sequence rather than taken from the χ² law of independent scores.
type InnovationChart struct {
	lambda float64
	q      float64   // the calibrated (1 − α) quantile of Q
	e      []float64 // the state
}

// CalibrateInnovationChart returns a chart of the given memory (≥ 2
// cycles) whose threshold is the (1 − alpha) quantile of Q over the score
// vectors of consecutive in-distribution cycles (one row of p each). The
// first 3·memory cycles, in which the chart leaves its start, are left
// out; at least ⌈1/alpha⌉ must remain. The quantile is empirical: a
// scaled χ² law with Q's mean and variance, which would vary less from
// sequence to sequence, is thrown off by a rare stretch in which the
// filter strays, which inflates the variance far more than the 1% tail.
// That tail holds few independent exceedances of a correlated sequence,
// so the sequence should be long: some thousand memories.
func CalibrateInnovationChart(memory int, alpha float64, scores [][]float64) (*InnovationChart, error) {
	if memory < 2 {
		return nil, fmt.Errorf("observations: innovation chart: memory %d, want >= 2 cycles", memory)
	}
	if len(scores) == 0 || len(scores[0]) == 0 {
		return nil, fmt.Errorf("observations: innovation chart: no calibration scores")
	}
	c := &InnovationChart{lambda: 1 / float64(memory), q: 1, e: make([]float64, len(scores[0]))}
	skip := 3 * memory
	if len(scores) <= skip {
		return nil, fmt.Errorf("observations: innovation chart: %d calibration cycles, want more than %d (3 memories)", len(scores), skip)
	}
	qs := make([]float64, 0, len(scores)-skip)
	for k, z := range scores {
		if len(z) != len(c.e) {
			return nil, fmt.Errorf("observations: innovation chart: calibration cycle %d has %d scores, want %d", k, len(z), len(c.e))
		}
		if vec.FirstNonFinite(z) >= 0 {
			return nil, fmt.Errorf("observations: innovation chart: calibration cycle %d has a non-finite score", k)
		}
		if q := c.Update(z); k >= skip {
			qs = append(qs, q)
		}
	}
	q, err := EmpiricalThreshold(qs, alpha)
	if err != nil {
		return nil, fmt.Errorf("observations: innovation chart: %w", err)
	}
	if !(q > 0) {
		return nil, fmt.Errorf("observations: innovation chart: calibrated quantile %v, want > 0 (constant scores?)", q)
	}
	c.q = q
	c.Reset()
	return c, nil
}

// Update adds a cycle's scores to the chart and returns its statistic
// Q/q, flagged above 1. A non-finite score leaves its component as it was.
func (c *InnovationChart) Update(z []float64) float64 {
	for i, v := range z {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			c.e[i] = (1-c.lambda)*c.e[i] + c.lambda*v
		}
	}
	return c.Statistic()
}

// Statistic is Q/q of the current state.
func (c *InnovationChart) Statistic() float64 {
	var q float64
	for _, v := range c.e {
		q += v * v
	}
	return q / c.q
}

// Largest returns the observation whose averaged score |eᵢ| is largest,
// and that score: where the chart's evidence is.
func (c *InnovationChart) Largest() (int, float64) {
	i, m := 0, 0.0
	for j, v := range c.e {
		if math.Abs(v) > math.Abs(m) {
			i, m = j, v
		}
	}
	return i, m
}

// Reset returns the chart to its start, e = 0.
func (c *InnovationChart) Reset() { clear(c.e) }

// State returns the chart's state e (one value per observation), to be
// carried to the next cycle. It is owned by c.
func (c *InnovationChart) State() []float64 { return c.e }

// SetState restores a state State returned.
func (c *InnovationChart) SetState(v []float64) error {
	if len(v) != len(c.e) {
		return fmt.Errorf("observations: innovation chart: state has %d values, want %d", len(v), len(c.e))
	}
	if vec.FirstNonFinite(v) >= 0 {
		return fmt.Errorf("observations: innovation chart: state %v is not finite", v)
	}
	copy(c.e, v)
	return nil
}

// Fresh returns a chart with c's calibration and its state at the start.
func (c *InnovationChart) Fresh() *InnovationChart {
	f := *c
	f.e = make([]float64, len(c.e))
	return &f
}
