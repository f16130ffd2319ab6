package experiment

import (
	"errors"
	"fmt"
	"io/fs"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/store"
)

// minVarianceScale is the floor of the estimated factors.
const minVarianceScale = 1e-3

// varianceEstimator carries the estimated factors φ between cycles.
type varianceEstimator struct {
	cfg config.VarianceEstimateConfig
	// rep is the latent step's representation error when φ scales it
	// (cfg.Of representation), nil when φ scales R.
	rep   *representation
	scale []float64 // φ: one, or one per observation
	used  []float64 // the variances of the current analysis
	fm    []float64 // ȳᶠ
	am    []float64 // ȳᵃ
	row   []float64
}

func newVarianceEstimator(cfg config.VarianceEstimateConfig, p int) *varianceEstimator {
	k := 1
	if cfg.PerChannel {
		k = p
	}
	e := &varianceEstimator{cfg: cfg, scale: make([]float64, k),
		used: make([]float64, p), fm: make([]float64, p), am: make([]float64, p), row: make([]float64, p)}
	for i := range e.scale {
		e.scale[i] = 1
	}
	return e
}

// variances returns the variances to use, φ ∘ nominal (owned by e).
func (e *varianceEstimator) variances(nominal []float64) []float64 {
	for k, v := range nominal {
		e.used[k] = e.factor(k) * v // +Inf stays +Inf
	}
	return e.used
}

func (e *varianceEstimator) factor(k int) float64 { return scaleOf(e.scale, k) }

// scaleOf returns observation k's factor of scale: its only one, or its
// k-th (per_channel); 1 for no factors.
func scaleOf(scale []float64, k int) float64 {
	switch len(scale) {
	case 0:
		return 1
	case 1:
		return scale[0]
	}
	return scale[k]
}

// meanH writes the mean over the members of E of H into dst.
func meanH(dst, row []float64, E *mat.Dense, apply func(dst, x []float64)) {
	clear(dst)
	N, _ := E.Dims()
	for i := range N {
		apply(row, E.RawRowView(i))
		for k, v := range row {
			dst[k] += v
		}
	}
	for k := range dst {
		dst[k] /= float64(N)
	}
}

// update applies cycle k's Desroziers diagnostic, given the observations
// y, their given variances nominal, the variances used (+Inf: rejected),
// and ȳᶠ, ȳᵃ in e.fm, e.am. The diagnostic is the product of the two
// departures over what φ multiplies (nominal, or the representation
// error after nominal is taken off).
func (e *varianceEstimator) update(k int, y, nominal, used []float64) {
	m := k - e.cfg.Warmup
	if m < 1 {
		return
	}
	alpha := math.Max(1/float64(m+1), 1/float64(e.cfg.Memory))
	step := func(i int, d float64) {
		e.scale[i] = math.Max((1-alpha)*e.scale[i]+alpha*d, minVarianceScale)
	}
	var sum float64
	var count int
	for j, yj := range y {
		if math.IsInf(used[j], 1) {
			continue
		}
		d := (yj - e.am[j]) * (yj - e.fm[j]) / nominal[j]
		if e.rep != nil {
			if e.rep.obs[j] == 0 {
				continue // nothing to scale
			}
			d = ((yj-e.am[j])*(yj-e.fm[j]) - nominal[j]) / e.rep.obs[j]
		}
		if len(e.scale) > 1 {
			step(j, d)
		} else {
			sum += d
			count++
		}
	}
	if len(e.scale) == 1 && count > 0 {
		step(0, sum/float64(count))
	}
}

// mean returns the mean estimated variance over the observations used:
// of φ ∘ nominal, or of nominal + φ ∘ diag(HΣ_repHᵀ).
func (e *varianceEstimator) mean(nominal, used []float64) float64 {
	var sum float64
	var count int
	for k, v := range nominal {
		if math.IsInf(used[k], 1) {
			continue
		}
		if e.rep != nil {
			sum += v + e.factor(k)*e.rep.obs[k]
		} else {
			sum += e.factor(k) * v
		}
		count++
	}
	if count == 0 {
		return 0 // JSON payloads cannot carry NaN
	}
	return sum / float64(count)
}

// meanScale returns the mean of the factors φ (φ itself for one factor).
func (e *varianceEstimator) meanScale() float64 {
	var sum float64
	for _, v := range e.scale {
		sum += v
	}
	return sum / float64(len(e.scale))
}

// VarianceScales returns the factors φ on the observation-error variances
// that the next analysis uses (observations.variance_estimate), or nil
// without an estimate. They are owned by s.
func (s *Setup) VarianceScales() []float64 {
	if s.varEst == nil {
		return nil
	}
	return s.varEst.scale
}

// SetVarianceScales sets the factors φ, as VarianceScales returned them
// after the cycle a run resumes from.
func (s *Setup) SetVarianceScales(phi []float64) error {
	if err := s.setVarianceScales(phi); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	return nil
}

// setVarianceScales is SetVarianceScales with errors that name no package.
func (s *Setup) setVarianceScales(phi []float64) error {
	if s.varEst == nil {
		return fmt.Errorf("the config has no observations.variance_estimate")
	}
	if len(phi) != len(s.varEst.scale) {
		return fmt.Errorf("%d variance scales, the estimate has %d", len(phi), len(s.varEst.scale))
	}
	for i, v := range phi {
		if !(v >= minVarianceScale) || math.IsInf(v, 0) {
			return fmt.Errorf("variance scale %d is %v, want finite and >= %v", i, v, minVarianceScale)
		}
	}
	copy(s.varEst.scale, phi)
	return nil
}

// InflationEstimate returns the adaptive inflation Λ of the forecast
// covariance that the next analysis starts from (filter.adaptive.scheme
// innovation or local-innovation: enkf.InnovationInflation), one value or
// one per local analysis; nil without it. It is owned by s.
func (s *Setup) InflationEstimate() []float64 { return s.Filter.InflationEstimate() }

// Estimate is one estimate carried from a cycle to the next: its field in
// the run's state and its values, owned by the Setup.
type Estimate struct {
	Field  store.Field
	Values []float64
}

// carried is an Estimate with how to return it to its starting guess and
// how to set it from stored values.
type carried struct {
	Estimate
	reset func()
	set   func([]float64) error
}

// carried lists the estimates s carries between cycles, in stored order:
// the variance scales (observations.variance_estimate), the adaptive
// inflation (an innovation scheme), the manifold chart's state
// (ood.manifold_memory), the innovation chart's (ood.innovation_memory),
// the hybrid weight estimate's log-posterior (latent.alpha_estimate) and
// the local EnKF-N's averaged inflation (filter.adaptive.enkf_n_memory).
func (s *Setup) carried() []carried {
	var cs []carried
	if s.varEst != nil {
		cs = append(cs, carried{Estimate{store.FieldVarianceScales, s.varEst.scale},
			func() {
				for i := range s.varEst.scale {
					s.varEst.scale[i] = 1
				}
			}, s.setVarianceScales})
	}
	if lam := s.InflationEstimate(); lam != nil {
		cs = append(cs, carried{Estimate{store.FieldInflation, lam}, s.Filter.ResetInflationEstimate, s.Filter.SetInflationEstimate})
	}
	if s.qc != nil && s.qc.chart != nil {
		c := s.qc.chart
		cs = append(cs, carried{Estimate{store.FieldManifoldChart, c.State()}, c.Reset, c.SetState})
	}
	if s.qc != nil && s.qc.inChart != nil {
		c := s.qc.inChart
		cs = append(cs, carried{Estimate{store.FieldInnovationChart, c.State()}, c.Reset, c.SetState})
	}
	if w := s.Filter.HybridWeightState(); w != nil {
		cs = append(cs, carried{Estimate{store.FieldHybridWeight, w}, s.Filter.ResetHybridWeightState, s.Filter.SetHybridWeightState})
	}
	if v := s.Filter.EnKFNEstimate(); v != nil {
		cs = append(cs, carried{Estimate{store.FieldEnKFN, v}, s.Filter.ResetEnKFNEstimate, s.Filter.SetEnKFNEstimate})
	}
	return cs
}

// Estimates returns the estimates s carries to the next cycle, in stored
// order (none without them).
func (s *Setup) Estimates() []Estimate {
	var es []Estimate
	for _, c := range s.carried() {
		es = append(es, c.Estimate)
	}
	return es
}

// WriteEstimates stores the estimates carried from cycle k to k+1 in the
// cycle's directory; without estimates it does nothing.
func (s *Setup) WriteEstimates(dir store.RunDir, k int, m store.Meta) error {
	m.Kind = store.KindEstimate
	for _, e := range s.Estimates() {
		if err := store.WriteVector(dir.CycleFile(e.Field, k), e.Values, m); err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
	}
	return nil
}

// ReadEstimates loads the estimates stored after cycle k (WriteEstimates);
// cycle 0 has none: the starting guesses.
func (s *Setup) ReadEstimates(dir store.RunDir, k int) error {
	return s.readEstimates(dir, k, false)
}

// CarryEstimates stores in dst, as WriteEstimates after cycle k does, the
// estimates that a run warm-started from cycle k of the run in src starts
// from (latentda rerun): those src stored after cycle k, or the starting
// guesses for an estimate src did not make (a rerun that adds it).
func (s *Setup) CarryEstimates(src, dst store.RunDir, k int, m store.Meta) error {
	if err := s.readEstimates(src, k, true); err != nil {
		return err
	}
	return s.WriteEstimates(dst, k, m)
}

// readEstimates is ReadEstimates; with guessMissing an estimate that dir
// does not hold for cycle k keeps its starting guess.
func (s *Setup) readEstimates(dir store.RunDir, k int, guessMissing bool) error {
	cs := s.carried()
	for _, c := range cs {
		c.reset()
	}
	if len(cs) == 0 || k == 0 {
		return nil
	}
	rs := store.OpenRunState(dir)
	defer rs.Close()
	for _, c := range cs {
		v, _, err := rs.Vector(c.Field, k)
		if guessMissing && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		if err := c.set(v); err != nil {
			return fmt.Errorf("experiment: cycle %d: %w", k, err)
		}
	}
	return nil
}
