package activities

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// Every activity that computes cycles runs the cycle step of package
// experiment (observe → forecast → quality control → analyse → score) and
// stores it here, in two halves:
//
//	prepare: truth(k), forecast(k)   (the forecast run here, or put together from fanned-out parts)
//	finish:  observations(k) with the quality-control decision, latent codes, analysis(k),
//	         the estimates carried to cycle k+1 (observations.variance_estimate)
//
// then commits the cycles by writing the diagnostics table (batch).

// observer advances the truth to cycle k and returns the cycle with its
// observations: the twin experiment's draw, or a live run's file.
type observer func(s *experiment.Setup, truth []float64, k int) (*experiment.Cycle, error)

// twin draws the synthetic observations of a twin experiment.
func twin(s *experiment.Setup, truth []float64, k int) (*experiment.Cycle, error) {
	return s.ObserveCycle(truth, k), nil
}

// step runs and stores cycle k from the analysis E of cycle k-1 and the
// truth, both advanced in place: prepare, then finish. The analysis file's
// metadata gets extra.
func (a *Activities) step(s *experiment.Setup, dir store.RunDir, runID string, E *mat.Dense, truth []float64, k int, obs observer, parts int, extra map[string]string) (*experiment.Cycle, error) {
	c, E, err := a.prepare(s, dir, runID, E, truth, k, obs, parts)
	if err != nil {
		return nil, err
	}
	return c, a.finish(s, dir, runID, c, E, extra)
}

// prepare runs the first half of cycle k's step: it reads the estimates
// stored after cycle k-1 into s, observes, writes the truth, forecasts E
// (or, with parts > 0, puts the forecast together from the fanned-out
// parts of parts members each) and writes the forecast. It returns the
// cycle and the forecast.
func (a *Activities) prepare(s *experiment.Setup, dir store.RunDir, runID string, E *mat.Dense, truth []float64, k int, obs observer, parts int) (*experiment.Cycle, *mat.Dense, error) {
	m := meta(runID, s.Config, k)
	if err := s.ReadEstimates(dir, k-1); err != nil {
		return nil, nil, stateError(err)
	}
	if err := dir.MkdirCycle(k); err != nil {
		return nil, nil, fmt.Errorf("activities: %w", err)
	}
	c, err := obs(s, truth, k)
	if err != nil {
		return nil, nil, err
	}
	if err := store.WriteVector(dir.Truth(k), truth, m); err != nil {
		return nil, nil, fmt.Errorf("activities: %w", err)
	}
	if parts > 0 {
		if E, err = assemble(dir, s, runID, k, parts); err != nil {
			return nil, nil, err
		}
	} else if err := s.Forecast(E, k); err != nil {
		return nil, nil, diverged(err)
	}
	if err := store.WriteEnsemble(dir.Forecast(k), E, m); err != nil {
		return nil, nil, fmt.Errorf("activities: %w", err)
	}
	return c, E, nil
}

// finish runs the second half of cycle c's step: it assimilates c's
// observations into the forecast E (a cycle without observations keeps
// the forecast) and writes the observations with the quality-control
// decision beside them, the latent codes of a latent filter, the
// analysis, whose metadata gets extra, and the estimates carried to the
// next cycle. Files of an earlier run of the cycle that this one does not
// write are removed.
func (a *Activities) finish(s *experiment.Setup, dir store.RunDir, runID string, c *experiment.Cycle, E *mat.Dense, extra map[string]string) error {
	k := c.K
	m := meta(runID, s.Config, k)
	written := []string{dir.Truth(k), dir.Forecast(k), dir.Analysis(k)}
	if c.Obs.Values == nil {
		s.ForecastOnlyCycle(c, E)
		for _, p := range []string{dir.Observations(k), dir.LatentForecast(k), dir.LatentAnalysis(k)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("activities: remove superseded %s: %w", p, err)
			}
		}
	} else {
		if err := s.Assimilate(c, E); err != nil {
			return diverged(err)
		}
		if err := store.WriteObservations(dir.Observations(k), c.Obs, m); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
		written = append(written, dir.Observations(k))
		if c.LatentForecast != nil {
			if err := store.WriteEnsemble(dir.LatentForecast(k), c.LatentForecast, m); err != nil {
				return fmt.Errorf("activities: %w", err)
			}
			if err := store.WriteEnsemble(dir.LatentAnalysis(k), c.LatentAnalysis, m); err != nil {
				return fmt.Errorf("activities: %w", err)
			}
			written = append(written, dir.LatentForecast(k), dir.LatentAnalysis(k))
		}
	}
	if err := s.WriteEstimates(dir, k, m); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	if s.VarianceScales() != nil {
		written = append(written, dir.VarianceScales(k))
	}
	m.Extra = extra
	if err := store.WriteEnsemble(dir.Analysis(k), E, m); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	a.wrote(written...)
	return nil
}

// diverged marks a failure of the numerics (divergence, bad data) as
// non-retryable.
func diverged(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrDiverged, err)
}

// batch is a batch of cycles of a run being computed: the diagnostics
// rows of the cycles before it and of those done, and the batch's output.
type batch struct {
	a     *Activities
	runID string
	dir   store.RunDir
	s     *experiment.Setup
	rows  []store.DiagRow
	out   CyclesOutput
}

// openBatch checks a batch of cycles from..to of the run at runPath,
// builds its experiment and reads the diagnostics rows of the cycles
// before it. done says that an earlier attempt finished the batch; its
// output is then b.out.
func (a *Activities) openBatch(runID, runPath string, cfg experiment.Config, from, to int) (b *batch, done bool, err error) {
	b = &batch{a: a, runID: runID}
	if b.dir, err = a.runDir(runPath); err != nil {
		return b, false, err
	}
	if from < 1 || to < from {
		return b, false, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: bad cycle range %d..%d", from, to), ErrInvalidConfig, nil)
	}
	if b.s, err = a.build(cfg); err != nil {
		return b, false, err
	}
	if b.rows, err = previousRows(b.dir.Diagnostics(), from); err != nil {
		return b, false, err
	}
	if out, ok := finishedBatch(b.dir, b.s.Config, b.rows, from, to); ok {
		b.out = out
		return b, true, nil
	}
	b.rows = trimRows(b.rows, from)
	return b, false, nil
}

// add records cycle c in the batch and reports whether the run pauses
// after it (ood.pause_on_batch and a flagged batch).
func (b *batch) add(c *experiment.Cycle) (pause bool) {
	b.rows = append(b.rows, c.Row())
	b.out.Sums.Add(c.Stats, b.s.Config.Scored(c.K))
	b.out.Last = c.Stats
	if pauses(b.s.Config, c.Stats) {
		b.out.PauseAt = c.K
		return true
	}
	return false
}

// commit writes the diagnostics table with the batch's rows: the batch's
// cycles are done.
func (b *batch) commit() error {
	if err := store.WriteDiagnostics(b.dir.Diagnostics(), b.rows, meta(b.runID, b.s.Config, b.out.Last.Cycle)); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	b.a.wrote(b.dir.Diagnostics())
	return nil
}

// fail writes the diagnostics table up to the cycle before k, which
// failed with err, and returns err.
func (b *batch) fail(k int, err error) error {
	if werr := store.WriteDiagnostics(b.dir.Diagnostics(), b.rows, meta(b.runID, b.s.Config, k-1)); werr != nil {
		err = errors.Join(err, werr)
	}
	return err
}

// trimRows keeps the rows of cycles before from.
func trimRows(rows []store.DiagRow, from int) []store.DiagRow {
	for i, r := range rows {
		if r.Cycle >= from {
			return rows[:i]
		}
	}
	return rows
}

// finishedBatch recognises a batch that an earlier attempt completed: the
// diagnostics hold rows from..to, or from..K for a batch that paused at K,
// and the analysis of the last cycle exists. The analysis must read back: a
// damaged one is recomputed.
func finishedBatch(dir store.RunDir, cfg experiment.Config, rows []store.DiagRow, from, to int) (CyclesOutput, bool) {
	var out CyclesOutput
	next := from
	for _, r := range rows {
		if r.Cycle < from || r.Cycle > to {
			continue
		}
		if r.Cycle != next {
			return CyclesOutput{}, false
		}
		st := experiment.StatsOfRow(r)
		out.Sums.Add(st, cfg.Scored(r.Cycle))
		out.Last = st
		next++
		if pauses(cfg, st) {
			out.PauseAt = st.Cycle
			break
		}
	}
	if out.PauseAt == 0 && next != to+1 {
		return CyclesOutput{}, false
	}
	if _, _, err := store.ReadEnsemble(dir.Analysis(next - 1)); err != nil {
		return CyclesOutput{}, false
	}
	return out, true
}

// pauses reports whether the run pauses after a cycle: ood.pause_on_batch
// and a flagged batch.
func pauses(cfg experiment.Config, st experiment.CycleStats) bool {
	return cfg.OOD != nil && cfg.OOD.PauseOnBatch && st.BatchFlag != ""
}
