package experiment

import (
	"context"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
)

// Run executes the whole experiment in process (no Temporal, no files) and
// returns the time-mean diagnostics. progress, if not nil, is called after
// every cycle. Run stops with ctx's error when ctx is cancelled.
func Run(ctx context.Context, cfg config.Config, progress func(CycleStats)) (Summary, error) {
	s, err := Build(cfg)
	if err != nil {
		return Summary{}, err
	}
	return s.Run(ctx, progress)
}

// TwinCycle runs cycle k of a twin experiment in process: it advances the
// nature run truth, observes it into y, forecasts E and analyses it.
func (s *Setup) TwinCycle(truth []float64, E *mat.Dense, y []float64, k int) (CycleStats, error) {
	if err := s.AdvanceTruth(truth, k); err != nil {
		return CycleStats{}, err
	}
	s.Observe(y, truth, k)
	if err := s.Forecast(E, k); err != nil {
		return CycleStats{}, err
	}
	return s.Analyze(E, y, truth, k)
}

// Run runs the cycles of a built experiment in process, as the package
// function Run does for a config.
func (s *Setup) Run(ctx context.Context, progress func(CycleStats)) (Summary, error) {
	truth, E, err := s.Initial()
	if err != nil {
		return Summary{}, err
	}
	y := make([]float64, s.Op.OutDim())
	var sums Sums
	var hyper HyperMeans
	for k := 1; k <= s.Config.Cycles; k++ {
		if k%64 == 0 {
			if err := ctx.Err(); err != nil {
				return sums.Summary(), err
			}
		}
		st, err := s.TwinCycle(truth, E, y, k)
		if err != nil {
			return sums.Summary(), err
		}
		sums.Add(st, s.Config.Scored(k))
		if s.Config.Scored(k) {
			hyper.Add(st)
		}
		if progress != nil {
			progress(st)
		}
	}
	out := sums.Summary()
	hyper.Set(&out)
	return out, nil
}
