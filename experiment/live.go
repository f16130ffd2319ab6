package experiment

import (
	"github.com/latentda/latentda/config"
	"gonum.org/v1/gonum/mat"
)

// ForecastOnly scores the forecast ensemble E of cycle k against the truth
// when no observations are assimilated: the analysis is the forecast, so
// rmse_a = rmse_f and spread_a = spread_f, with no observations and no
// innovation statistic and no inflation; an estimate of the
// observation-error variances is carried over unchanged.
func (s *Setup) ForecastOnly(E *mat.Dense, truth []float64, k int) CycleStats {
	st := CycleStats{Cycle: k, Time: s.Config.CycleTime(k)}
	st.RMSEf, st.SpreadF = s.scorer.Score(E, truth)
	st.RMSEa, st.SpreadA = st.RMSEf, st.SpreadF
	if s.varEst != nil {
		st.VarianceScale = s.varEst.meanScale()
	}
	return st
}

// Nature is the nature run of a twin experiment with its synthetic
// observations, cycle by cycle: the truth and observations that a run of
// the same config draws (Initial, AdvanceTruth, Observe), produced on their
// own, for example to feed a live schedule's observation directory.
type Nature struct {
	s     *Setup
	truth []float64
	k     int
}

// NewNature builds the config's numerics and starts its nature run at
// cycle 0.
func NewNature(cfg config.Config) (*Nature, error) {
	s, err := Build(cfg)
	if err != nil {
		return nil, err
	}
	truth, _, err := s.Initial()
	if err != nil {
		return nil, err
	}
	return &Nature{s: s, truth: truth}, nil
}

// Setup is the experiment the nature run belongs to.
func (n *Nature) Setup() *Setup { return n.s }

// Cycle is the cycle the nature run is at.
func (n *Nature) Cycle() int { return n.k }

// Next advances the nature run one cycle and writes that cycle's
// observations into y (len Op.OutDim()); it returns the cycle number.
// Only an external model can fail.
func (n *Nature) Next(y []float64) (int, error) {
	if err := n.s.AdvanceTruth(n.truth, n.k+1); err != nil {
		return n.k, err
	}
	n.k++
	n.s.Observe(y, n.truth, n.k)
	return n.k, nil
}
