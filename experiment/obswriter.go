package experiment

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/store"
)

// ObsWriter writes a config's synthetic observations (its nature run's,
// the same a `latentda run` of the config draws) into an observation
// directory on a clock, as an observing system would deliver them to a
// live run: cycle k's file at Start + k·Every + Delay, plus Late[k] for
// the cycles listed there.
type ObsWriter struct {
	Dir    store.ObsDir
	Format string // "arrow" or "csv"
	Start  time.Time
	Every  time.Duration
	Delay  time.Duration
	// Late delays some cycles' files further, to demonstrate observations
	// that miss their cycle's deadline.
	Late     map[int]time.Duration
	From, To int // cycles to write, 1 <= From <= To
}

// Due is when cycle k's file is written.
func (w ObsWriter) Due(k int) time.Time {
	return w.Start.Add(time.Duration(k)*w.Every + w.Delay + w.Late[k])
}

// Run writes cycles From..To of cfg's nature run, each when it is due (at
// once if that is past), in order of due time, calling written after each
// file. Files are written atomically. It returns when all are written or
// ctx is done.
func (w ObsWriter) Run(ctx context.Context, cfg config.Config, written func(k int, path string)) error {
	if !slices.Contains(store.ObsFormats, w.Format) {
		return fmt.Errorf("experiment: observation format %q (want one of %v)", w.Format, store.ObsFormats)
	}
	if w.From < 1 || w.To < w.From {
		return fmt.Errorf("experiment: observation cycles %d..%d (want 1 <= from <= to)", w.From, w.To)
	}
	n, err := NewNature(cfg)
	if err != nil {
		return err
	}
	s := n.Setup()
	ys := make(map[int][]float64, w.To-w.From+1)
	for n.Cycle() < w.To {
		y := make([]float64, s.Op.OutDim())
		k, err := n.Next(y)
		if err != nil {
			return err
		}
		if k >= w.From {
			ys[k] = y
		}
	}
	order := make([]int, 0, len(ys))
	for k := w.From; k <= w.To; k++ {
		order = append(order, k)
	}
	slices.SortStableFunc(order, func(a, b int) int { return w.Due(a).Compare(w.Due(b)) })
	for _, k := range order {
		if d := time.Until(w.Due(k)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		obs := store.Observations{Values: ys[k], Variances: s.R.Variances(), Positions: s.Op.Positions()}
		path := w.Dir.Path(k, w.Format)
		if w.Format == "csv" {
			err = store.WriteObsCSV(path, obs)
		} else {
			err = store.WriteObservations(path, obs, store.Meta{Model: cfg.Model.Name, Cycle: k, Time: s.Config.CycleTime(k)})
		}
		if err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		if written != nil {
			written(k, path)
		}
	}
	return nil
}
