package experiment

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/store"
)

// The cycle step: observe → forecast → quality control → analyse → score.
// A whole cycle runs
//
//	c, err := s.ObserveCycle(truth, k) // or observations from a file (a live run)
//	err = s.Forecast(E, k)             // or its members in parts (fan-out)
//	err = s.Assimilate(c, E)           // or s.ForecastOnlyCycle(c, E)
//
// and stores c's truth, observations (with the quality-control decision
// beside them), latent codes and diagnostics row, and E as the analysis.
// A block-wise cycle replaces Assimilate by Screen, AnalyzeBlock per block
// and ScoreBlocks, which give the same statistics and analysis bit for bit.

// Cycle is one cycle k of a run as the step produces it.
type Cycle struct {
	K int
	// Truth is the nature run at cycle K.
	Truth []float64
	// Obs are cycle K's observations; after Assimilate or Screen they
	// carry the quality-control decision (nothing flagged is dropped).
	// Obs.Values is nil for a cycle without observations (forecast-only).
	Obs   store.Observations
	Stats CycleStats
	// QC is the quality-control decision, owned by the Setup (nil
	// without quality control, or before the cycle is analysed).
	QC *QCResult
	// LatentForecast and LatentAnalysis are the latent filter's codes,
	// owned by the Setup (nil for a filter on the states).
	LatentForecast, LatentAnalysis *mat.Dense
}

// Row returns the cycle's diagnostics row. A forecast-only cycle has no
// innovation statistic (NaN).
func (c *Cycle) Row() store.DiagRow {
	r := c.Stats.Row(c.QC)
	if c.Obs.Values == nil {
		r.Innovation = math.NaN()
	}
	return r
}

// ObserveCycle advances the nature run truth from cycle k-1 to k and
// draws cycle k's synthetic observations (a twin experiment).
func (s *Setup) ObserveCycle(truth []float64, k int) (*Cycle, error) {
	c := &Cycle{K: k, Truth: truth}
	c.Obs = store.Observations{Values: make([]float64, s.Op.OutDim()), Variances: s.R.Variances(), Positions: s.Op.Positions()}
	if err := s.AdvanceTruth(truth, k); err != nil {
		return nil, err
	}
	s.Observe(c.Obs.Values, truth, k)
	return c, nil
}

// Assimilate analyses cycle c's observations into its forecast E (the
// analysis replaces it) with the observations' error variances, scores
// forecast and analysis, and records the quality-control decision in c.Obs
// and the latent codes in c. On error E is unchanged and the error names
// the cycle.
func (s *Setup) Assimilate(c *Cycle, E *mat.Dense) error {
	st, err := s.AnalyzeWith(E, c.Obs.Values, c.Obs.Variances, c.Truth, c.K)
	if err != nil {
		return err
	}
	c.Stats = st
	c.setQC(s.QC())
	c.LatentForecast, c.LatentAnalysis = s.LatentCodes()
	return nil
}

// ForecastOnlyCycle scores a cycle without observations: the analysis is
// the forecast E.
func (s *Setup) ForecastOnlyCycle(c *Cycle, E *mat.Dense) {
	c.Stats = s.ForecastOnly(E, c.Truth, c.K)
}

// setQC records the quality-control decision qc (nil: none) in c.
func (c *Cycle) setQC(qc *QCResult) {
	c.QC = qc
	if qc != nil {
		c.Obs.Flagged, c.Obs.Reasons, c.Obs.InnovationZ, c.Obs.ProjectionZ = qc.Flagged, qc.Reasons, qc.InnovationZ, qc.ProjectionZ
		c.Stats.NFlagged, c.Stats.BatchFlag = qc.NFlagged(), qc.BatchFlag
	}
}

// Screen runs the quality control of cycle c's observations against its
// forecast E, as Assimilate does before its analysis, and records the
// decision in c. It is deterministic: every activity of a block-wise
// cycle that needs the decision screens again. It returns the error
// variances the analysis uses. Block-wise cycles filter the states, not
// latent codes.
func (s *Setup) Screen(c *Cycle, E *mat.Dense) (variances []float64, err error) {
	if s.latent != nil {
		return nil, fmt.Errorf("experiment: cycle %d: the latent filter screens its observations in Assimilate", c.K)
	}
	if s.qc == nil {
		s.ObserveEnsemble(E)
		return c.Obs.Variances, nil
	}
	if err := enkf.CheckEnsemble(E, "forecast", enkf.DefaultBlowUp); err != nil {
		return nil, fmt.Errorf("experiment: cycle %d: %w", c.K, err)
	}
	s.ObserveEnsemble(E)
	qc, err := s.qc.check(E, s.he, c.Obs.Values, c.Obs.Variances, s.qcInflation())
	if err != nil {
		return nil, fmt.Errorf("experiment: cycle %d: %w", c.K, err)
	}
	c.setQC(qc)
	return qc.Variances, nil
}

// AnalyzeBlock writes into dst (N × (hi−lo)) the analysis of grid points
// lo..hi−1 of cycle c from its forecast E: the columns Assimilate would
// give them, or the forecast's if quality control rejects the whole
// batch.
func (s *Setup) AnalyzeBlock(dst *mat.Dense, c *Cycle, E *mat.Dense, lo, hi int) error {
	rVar, err := s.Screen(c, E)
	if err != nil {
		return err
	}
	if c.QC != nil && c.QC.Skipped {
		dst.Copy(E.Slice(0, s.Config.Filter.Members, lo, hi))
		return nil
	}
	if err := s.Filter.AnalyzeBlock(dst, E, s.he, c.Obs.Values, rVar, lo, hi); err != nil {
		return fmt.Errorf("experiment: cycle %d: %w", c.K, err)
	}
	return nil
}

// ScoreBlocks scores block-wise cycle c as Assimilate scores a whole
// cycle: E holds the forecast, and analysis, called after the forecast is
// scored, replaces it by the analysis put together from the blocks.
func (s *Setup) ScoreBlocks(c *Cycle, E *mat.Dense, analysis func(E *mat.Dense) error) error {
	c.Stats = CycleStats{Cycle: c.K, Time: s.Config.CycleTime(c.K), NObs: c.Obs.Len()}
	c.Stats.RMSEf, c.Stats.SpreadF = s.scorer.Score(E, c.Truth)
	rVar, err := s.Screen(c, E)
	if err != nil {
		return err
	}
	qc := c.QC
	if qc == nil || !qc.Skipped { // a skipped analysis has no innovation statistic, as in AnalyzeWith
		inno, err := s.Filter.Innovation(E, s.he, c.Obs.Values, rVar)
		if err != nil {
			return fmt.Errorf("experiment: cycle %d: %w", c.K, err)
		}
		c.Stats.NIS, c.Stats.NISExpected = inno.NIS, inno.Expected
		c.Stats.Inflation = float64(s.Config.Filter.Inflation) // adaptive inflation has no blocks (validateAdaptive)
	}
	if err := analysis(E); err != nil {
		return err
	}
	c.Stats.RMSEa, c.Stats.SpreadA = s.scorer.Score(E, c.Truth)
	return nil
}
