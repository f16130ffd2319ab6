package latent

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/floats"
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
//	s_k   = (1 − λ) s_{k−1} + λ u_k,              u_k = Φ⁻¹(F(T_k)),
//	e_k,i = (1 − λ) e_{k−1,i} + λ (r_k,i − m_i)/σ_i,
//	g_k,j = (1 − λ) g_{k−1,j} + λ (v_k,j − a_j)/b_j,  v_k,j = (z*_k,j − μ_j)²,
//	h_k,j = (1 − λ) h_{k−1,j} + λ (w_k,j − ν_j)/κ_j,     w_k = z*_k − z_f,k,
//
// from s_0 = e_0 = g_0 = h_0 = 0. T_k is the cycle's two-sided score
// (TwoSided), F its in-distribution distribution function, so that u_k is
// a standard normal score whatever T's law; r_k,i is observation i's standardised
// residual off the manifold, (yᵢ − H(G(z*))ᵢ)/σᵢ, with in-distribution
// mean mᵢ and standard deviation σᵢ (the generator's representation error
// makes them differ from 0 and 1); v_k,j is the energy of code component j
// of the projection z*, about its in-distribution mean μ_j, with
// in-distribution mean a_j and standard deviation b_j; w_k is the code's
// shift from the forecast's code z_f,k (the code the projection starts
// from), with in-distribution mean ν_j and standard deviation κ_j. The
// charts' parts are
//
//	score:     s_k / (z(1 − α/4) sd(s)),
//	residual:  max_i |e_k,i| / (z(1 − α/(8p)) sd(e_i)),
//	spectrum:  Q_k / q,   Q_k = Σ_j (g_k,j / sd(g_j))²,
//	location:  L_k / l,   L_k = max_a |aᵀD⁻²h_k| / √(aᵀD⁻²a),  D = diag(sd(h_j)),
//
// each at α/4 (the p residual charts two-sided at α/4 by Bonferroni; q
// and l the (1 − α/4) quantiles of Q and L), so that they share the
// false-alarm rate α.
// The score sums the code's energy over its components, so an anomaly that
// moves energy from some modes to others (a change of the domain length
// shifts the cells' wavenumber) changes it little; the spectrum chart, a
// diagonal multivariate EWMA (Lowry et al. 1992) of the components'
// energies, adds up such moves whatever their sign. A pattern that the
// observations keep showing and the model does not make (a bump, a wave of
// fixed phase, a sensor's bias) shifts the observations' code from the
// forecast's by about δ every cycle, which the filter, pulled back by the
// model, never absorbs; it changes the code's energy only by about δ_j²
// when δ_j is small against the code's climatological spread. The location
// chart, an EWMA of the shift w, sees δ to first order, against the noise
// of the forecast's error rather than the climatology's spread, and, as
// a well-tuned filter's innovations are, white from cycle to cycle. Its
// part scans a bank of directions a in code space (in units of κ): for
// each, |aᵀD⁻²h|/√(aᵀD⁻²a) is the matched filter of a shift along a, the
// likelihood-ratio statistic of a mean shift of unknown size along a when
// the components of h are independent (a scan statistic, as for a signal
// of known shape at an unknown place). The bank holds the d code axes,
// for which the part is |h_j|/sd(h_j): a pattern of one scale moves the
// few components of that scale (a wave, the two modes of its wavenumber),
// which a sum over all d would dilute in the others' noise. It also holds
// the caller's patterns (LocalisedPatterns: the code's response to bumps
// in the observations at every grid point and a few widths), because a
// localised pattern moves every component a little, each too little for
// its own chart, and only the filter that adds them with the pattern's
// weights sees it. (Adding
// the bumps' residuals to the filters, as if the residual charts were
// independent, saw less of the Lorenz-96 bump: they are not.) Consecutive
// cycles are correlated (the states evolve slowly against λ), so sd(s),
// sd(eᵢ), sd(g_j), sd(h_j), q and l are measured on a calibration
// sequence of in-distribution batches one cycle apart, not taken from the
// formula λ/(2 − λ) for independent inputs; F, mᵢ, σᵢ, μ_j, a_j, b_j, ν_j
// and κ_j come from the same sequence.
//
// The chart's statistic is the largest part, divided by its own (1 − α)
// quantile over the calibration sequence, so that it flags above 1 at the
// rate α. The Gaussian thresholds alone would flag more often: s averages
// normal scores that are normal one by one but not jointly (an
// in-distribution excursion to an unusual part of the climatology lasts
// many cycles), so its tail is heavier than a Gaussian's. The empirical
// quantile has no such bias, only the sampling error of a sequence whose
// alarms come in runs of about a memory, so the sequence should be long:
// hundreds of memories.
//
// Its state (s, e, g, h) is carried from cycle to cycle: State and
// SetState store and restore it.
type ManifoldChart struct {
	lambda   float64
	cdf      []float64 // the calibration scores T, sorted: F
	mean, sd []float64 // mᵢ, σᵢ
	sdS      float64   // sd(s)
	sdE      []float64 // sd(eᵢ)
	zS, zE   float64   // z(1 − α/4), z(1 − α/(8p))
	// The code components' means μ_j, their energies' means a_j and
	// standard deviations b_j, the code shifts' means ν_j and standard
	// deviations κ_j, sd(g_j), sd(h_j), q and l.
	codeMean, energyMean, energySD, shiftMean, shiftSD, sdG, sdH []float64
	q, l                                                         float64
	scale                                                        float64 // the calibration quantile of the unscaled statistic
	// filters are the location part's matched filters of the caller's
	// patterns, D⁻²a/√(aᵀD⁻²a), a in units of κ.
	filters [][]float64
	// state is (s, e₁, …, e_p, g₁, …, g_d, h₁, …, h_d), carried from
	// cycle to cycle; e, g and h alias its parts.
	state, e, g, h []float64
}

// ChartParts splits the chart statistic by what it blames, each part over
// the calibration quantile as Statistic is: the score's chart, the
// observation whose residual chart's part is the largest with that part,
// the code spectrum's chart and the location chart. Statistic is
// the largest part.
type ChartParts struct {
	Score       float64
	Observation int
	Residual    float64
	Spectrum    float64
	Location    float64
}

// CalibrateManifoldChart returns the chart of the given memory (in cycles,
// ≥ 2: λ = 1/memory) at false-alarm rate alpha from a calibration sequence
// of consecutive in-distribution batches: their two-sided scores T, their
// standardised residuals (one row of p per batch), their projections'
// codes z* and the codes' shifts from the forecast's, z* − z_f (one row
// of d each per batch). The sequence must be long against the
// memory (at least 20 memories), so that the charts' spreads are measured
// on many independent stretches. patterns (each of length d, finite and not
// all zero; none is allowed) are the code shifts the location part scans
// for besides the code axes, such as LocalisedPatterns returns.
func CalibrateManifoldChart(memory int, alpha float64, scores []float64, residuals, codes, shifts, patterns [][]float64) (*ManifoldChart, error) {
	n := len(scores)
	switch {
	case memory < 2:
		return nil, fmt.Errorf("latent: manifold chart: memory %d must be >= 2 cycles", memory)
	case !(alpha > 0 && alpha < 1):
		return nil, fmt.Errorf("latent: manifold chart: false-alarm rate %v must be in (0, 1)", alpha)
	case len(residuals) != n || len(codes) != n || len(shifts) != n:
		return nil, fmt.Errorf("latent: manifold chart: %d scores, %d rows of residuals, %d codes, %d code shifts", n, len(residuals), len(codes), len(shifts))
	case n < 20*memory:
		return nil, fmt.Errorf("latent: manifold chart: a calibration sequence of %d batches is too short for a memory of %d (need >= %d)", n, memory, 20*memory)
	}
	p, d := len(residuals[0]), len(codes[0])
	for k := range n {
		switch {
		case len(residuals[k]) != p:
			return nil, fmt.Errorf("latent: manifold chart: batch %d has %d residuals, batch 0 has %d", k, len(residuals[k]), p)
		case len(codes[k]) != d || len(shifts[k]) != d:
			return nil, fmt.Errorf("latent: manifold chart: batch %d has a code of %d and a code shift of %d, batch 0 a code of %d", k, len(codes[k]), len(shifts[k]), d)
		case math.IsNaN(scores[k]) || slices.ContainsFunc(residuals[k], notFinite) || slices.ContainsFunc(codes[k], notFinite) || slices.ContainsFunc(shifts[k], notFinite):
			return nil, fmt.Errorf("latent: manifold chart: batch %d of the calibration sequence is not finite", k)
		}
	}
	for k, a := range patterns {
		if len(a) != d || slices.ContainsFunc(a, notFinite) || !slices.ContainsFunc(a, func(v float64) bool { return v != 0 }) {
			return nil, fmt.Errorf("latent: manifold chart: pattern %d must be %d finite values, not all zero", k, d)
		}
	}
	c := &ManifoldChart{lambda: 1 / float64(memory), cdf: slices.Sorted(slices.Values(scores)),
		sdE: make([]float64, p), sdG: make([]float64, d), sdH: make([]float64, d), state: make([]float64, 1+p+2*d)}
	c.alias()
	var ok bool
	if c.mean, c.sd, ok = columnMoments(residuals, nil); !ok {
		return nil, fmt.Errorf("latent: manifold chart: the residual of observation %d does not vary over the calibration sequence", slices.Index(c.sd, 0))
	}
	c.codeMean, _, _ = columnMoments(codes, nil)
	if c.shiftMean, c.shiftSD, ok = columnMoments(shifts, nil); !ok {
		return nil, fmt.Errorf("latent: manifold chart: code shift %d does not vary over the calibration sequence", slices.Index(c.shiftSD, 0))
	}
	if c.energyMean, c.energySD, ok = columnMoments(codes, c.codeMean); !ok {
		return nil, fmt.Errorf("latent: manifold chart: code component %d does not vary over the calibration sequence", slices.Index(c.energySD, 0))
	}
	// Run the charts over the sequence; their spreads about 0 (their
	// in-distribution mean) are measured after a warm-up of 3 memories,
	// when the start s_0 = e_0 = g_0 = 0 is forgotten to e⁻³.
	warm := 3 * memory
	sum2 := make([]float64, len(c.state))
	for k := range n {
		c.advance(scores[k], residuals[k], codes[k], shifts[k])
		if k < warm {
			continue
		}
		for i, v := range c.state {
			sum2[i] += v * v
		}
	}
	m := float64(n - warm)
	c.sdS = math.Sqrt(sum2[0] / m)
	for i := range c.sdE {
		c.sdE[i] = math.Sqrt(sum2[1+i] / m)
	}
	for j := range c.sdG {
		c.sdG[j] = math.Sqrt(sum2[1+p+j] / m)
		c.sdH[j] = math.Sqrt(sum2[1+p+d+j] / m)
	}
	c.filters = make([][]float64, len(patterns))
	for k, a := range patterns {
		f, norm := make([]float64, d), 0.0
		for j, v := range a {
			v /= c.shiftSD[j] // in units of κ, as h
			f[j] = v / (c.sdH[j] * c.sdH[j])
			norm += v * f[j]
		}
		floats.Scale(1/math.Sqrt(norm), f)
		c.filters[k] = f
	}
	std := distuv.UnitNormal
	c.zS, c.zE = std.Quantile(1-alpha/4), std.Quantile(1-alpha/(8*float64(p)))
	// q and l, then the quantile of the combined statistic, each over a
	// fresh pass.
	spectra, locations, stats := make([]float64, 0, n-warm), make([]float64, 0, n-warm), make([]float64, 0, n-warm)
	c.Reset()
	for k := range n {
		if c.advance(scores[k], residuals[k], codes[k], shifts[k]); k >= warm {
			spectra, locations = append(spectra, c.spectrum()), append(locations, c.location())
		}
	}
	q, err := observations.EmpiricalThreshold(spectra, alpha/4)
	if err != nil {
		return nil, fmt.Errorf("latent: manifold chart: %w", err)
	}
	l, err := observations.EmpiricalThreshold(locations, alpha/4)
	if err != nil {
		return nil, fmt.Errorf("latent: manifold chart: %w", err)
	}
	c.q, c.l, c.scale = q, l, 1
	c.Reset()
	for k := range n {
		if st := c.Update(scores[k], residuals[k], codes[k], shifts[k]); k >= warm {
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

func finite(v float64) bool    { return !math.IsNaN(v) && !math.IsInf(v, 0) }
func notFinite(v float64) bool { return !finite(v) }

// columnMoments returns the mean and standard deviation of each column of
// rows, or, with centre set, those of the squared deviations from centre
// (the energies); ok is false if a column does not vary (its sd is 0).
func columnMoments(rows [][]float64, centre []float64) (mean, sd []float64, ok bool) {
	n, cols := len(rows), len(rows[0])
	mean, sd = make([]float64, cols), make([]float64, cols)
	val := func(k, j int) float64 {
		if centre == nil {
			return rows[k][j]
		}
		v := rows[k][j] - centre[j]
		return v * v
	}
	ok = true
	for j := range cols {
		var sum, sum2 float64
		for k := range n {
			sum += val(k, j)
		}
		mean[j] = sum / float64(n)
		for k := range n {
			v := val(k, j) - mean[j]
			sum2 += v * v
		}
		if sd[j] = math.Sqrt(sum2 / float64(n-1)); !(sd[j] > 0) {
			sd[j], ok = 0, false
		}
	}
	return mean, sd, ok
}

// Update adds a cycle's two-sided score T, standardised residuals r (p
// of them), projection code z and its shift from the forecast's code,
// z − z_f (d each), to the charts and returns the chart statistic: the
// batch is flagged when it exceeds 1. A failed projection (T NaN) counts
// as the most atypical score; its non-finite residuals, code or shift
// components leave their charts as they were, so that the chart stays
// finite.
func (c *ManifoldChart) Update(score float64, r, z, shift []float64) float64 {
	c.advance(score, r, z, shift)
	return c.Statistic()
}

// advance moves the charts' state by one cycle (Update without the
// statistic).
func (c *ManifoldChart) advance(score float64, r, z, shift []float64) {
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
		if finite(v) {
			c.e[i] = (1-c.lambda)*c.e[i] + c.lambda*(v-c.mean[i])/c.sd[i]
		}
	}
	for j, v := range z {
		if v -= c.codeMean[j]; finite(v) {
			c.g[j] = (1-c.lambda)*c.g[j] + c.lambda*(v*v-c.energyMean[j])/c.energySD[j]
		}
	}
	for j, v := range shift {
		if v -= c.shiftMean[j]; finite(v) {
			c.h[j] = (1-c.lambda)*c.h[j] + c.lambda*v/c.shiftSD[j]
		}
	}
}

// location is L = max_a |aᵀD⁻²h| / √(aᵀD⁻²a) over the code axes, |h_j| /
// sd(h_j), and the patterns' filters.
func (c *ManifoldChart) location() float64 {
	var l float64
	for j, v := range c.h {
		l = max(l, math.Abs(v)/c.sdH[j])
	}
	for _, f := range c.filters {
		l = max(l, math.Abs(floats.Dot(f, c.h)))
	}
	return l
}

// spectrum is Q = Σ_j (g_j / sd(g_j))².
func (c *ManifoldChart) spectrum() float64 {
	var q float64
	for j, v := range c.g {
		v /= c.sdG[j]
		q += v * v
	}
	return q
}

// Statistic is the chart statistic of the current state, the largest of
// its parts (Parts), flagged above 1.
func (c *ManifoldChart) Statistic() float64 {
	p := c.Parts()
	return max(p.Score, p.Residual, p.Spectrum, p.Location)
}

// Parts splits Statistic by what it blames.
func (c *ManifoldChart) Parts() ChartParts {
	p := ChartParts{Score: c.state[0] / (c.zS * c.sdS) / c.scale, Spectrum: c.spectrum() / c.q / c.scale,
		Location: c.location() / c.l / c.scale}
	for i, v := range c.e {
		if r := math.Abs(v) / (c.zE * c.sdE[i]) / c.scale; r > p.Residual {
			p.Observation, p.Residual = i, r
		}
	}
	return p
}

// Reset returns the charts to their start, s = e = g = h = 0.
func (c *ManifoldChart) Reset() {
	clear(c.state)
}

// State returns the charts' state (s, e₁, …, e_p, g₁, …, g_d, h₁, …,
// h_d), to be carried to the next cycle. It is owned by c.
func (c *ManifoldChart) State() []float64 { return c.state }

// SetState restores a state State returned.
func (c *ManifoldChart) SetState(v []float64) error {
	if len(v) != len(c.state) {
		return fmt.Errorf("latent: manifold chart: state has %d values, want %d", len(v), len(c.state))
	}
	if slices.ContainsFunc(v, notFinite) {
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
	f.alias()
	return &f
}

// alias points e, g and h at their parts of the state.
func (c *ManifoldChart) alias() {
	p, d := len(c.sdE), len(c.sdG)
	c.e, c.g, c.h = c.state[1:1+p], c.state[1+p:1+p+d], c.state[1+p+d:]
}
