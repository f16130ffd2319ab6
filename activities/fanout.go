package activities

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// A fanned-out cycle k (orchestration.fanout) runs as one ForecastMembers
// activity per batch of members, on any workers, then one AnalyzeCycle:
//
//	analysis(k-1) --ForecastMembers[lo,hi) x B--> forecast-parts/members-lo-hi.arrow
//	truth(k-1), parts --AnalyzeCycle--> truth(k), observations(k), forecast(k), analysis(k), diagnostics
//
// The files are those of a run without fan-out, bit for bit.

// extraPartMembers is the metadata key of a forecast part's member range
// ("7..13").
const extraPartMembers = "members"

// partRange is the metadata value of a part's index range lo..hi−1 ("7..13").
func partRange(lo, hi int) string { return fmt.Sprintf("%d..%d", lo, hi-1) }

// MembersInput asks for the forecast of members Lo..Hi-1 of cycle Cycle.
type MembersInput struct {
	RunID   string
	RunPath string
	Config  experiment.Config
	Cycle   int
	Lo, Hi  int
}

// MembersOutput says where the batch's forecast is.
type MembersOutput struct {
	Path string
}

// MembersProgress is the heartbeat of ForecastMembers.
type MembersProgress struct {
	Cycle int `json:"cycle"`
	Done  int `json:"done"` // members of the batch forecast so far
	Total int `json:"total"`
}

// SplitCycleInput names one cycle that runs as several activities: the
// analysis of a fanned-out cycle, or a step of a block-wise one.
type SplitCycleInput struct {
	RunID   string
	RunPath string
	Config  experiment.Config
	Cycle   int
}

// keepAlive heartbeats the latest progress every third of the activity's
// heartbeat timeout until stop is called, so a long step (a slow member, a
// large analysis) is not mistaken for a dead worker while a dead worker is
// still detected within the timeout. Outside an activity it does nothing.
func keepAlive(ctx context.Context, progress *atomic.Value) (stop func()) {
	if !activity.IsActivity(ctx) || activity.GetInfo(ctx).HeartbeatTimeout <= 0 {
		return func() {}
	}
	period := activity.GetInfo(ctx).HeartbeatTimeout / 3
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			activity.RecordHeartbeat(ctx, progress.Load())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done) }
}

// ForecastMembers forecasts members Lo..Hi-1 of cycle Cycle from the
// analysis of cycle Cycle-1 and writes them to the cycle's forecast part
// file. A part that an earlier attempt finished is reused.
func (a *Activities) ForecastMembers(ctx context.Context, in MembersInput) (MembersOutput, error) {
	dir, err := a.runDir(in.RunPath)
	if err != nil {
		return MembersOutput{}, err
	}
	s, err := a.build(in.Config)
	if err != nil {
		return MembersOutput{}, err
	}
	if in.Cycle < 1 || in.Lo < 0 || in.Hi > s.Config.Filter.Members || in.Lo >= in.Hi {
		return MembersOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: bad forecast batch: cycle %d, members %d..%d of %d", in.Cycle, in.Lo, in.Hi-1, s.Config.Filter.Members), ErrInvalidConfig, nil)
	}
	path := dir.ForecastPart(in.Cycle, in.Lo, in.Hi)
	out := MembersOutput{Path: path}
	if _, err := readPart(path, extraPartMembers, in.RunID, in.Cycle, in.Lo, in.Hi, in.Hi-in.Lo, s.Model.Dim()); err == nil {
		return out, nil
	}
	E, _, err := readState(dir, s, in.Cycle-1)
	if err != nil {
		return out, err
	}
	var progress atomic.Value
	progress.Store(MembersProgress{Cycle: in.Cycle, Total: in.Hi - in.Lo})
	defer keepAlive(ctx, &progress)()
	// Chunks of one member per forecast goroutine: progress without
	// losing the parallelism inside a batch.
	chunk := s.Forecaster.Workers()
	for lo := in.Lo; lo < in.Hi; lo += chunk {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		hi := min(lo+chunk, in.Hi)
		if err := s.ForecastMembers(E, lo, hi, in.Cycle); err != nil {
			return out, diverged(err)
		}
		progress.Store(MembersProgress{Cycle: in.Cycle, Done: hi - in.Lo, Total: in.Hi - in.Lo})
	}
	if err := os.MkdirAll(dir.ForecastParts(in.Cycle), 0o777); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	part := E.Slice(in.Lo, in.Hi, 0, s.Model.Dim()).(*mat.Dense)
	m := meta(in.RunID, s.Config, in.Cycle)
	m.Extra = map[string]string{extraPartMembers: partRange(in.Lo, in.Hi)}
	if err := store.WriteEnsemble(path, mat.DenseCopyOf(part), m); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	return out, nil
}

// readPart reads a part of cycle k written by a fanned-out activity (a
// rows × cols ensemble file whose extra metadata key holds its range
// lo..hi−1) and checks that it is the one asked for.
func readPart(path, key, runID string, k, lo, hi, rows, cols int) (*mat.Dense, error) {
	P, m, err := store.ReadEnsemble(path)
	if err != nil {
		return nil, err
	}
	want := partRange(lo, hi)
	if r, c := P.Dims(); r != rows || c != cols || m.RunID != runID || m.Cycle != k || m.Extra[key] != want {
		return nil, fmt.Errorf("%w: %s holds %d×%d %s %q of run %q cycle %d, want %d×%d %s %s of run %q cycle %d",
			store.ErrInvalid, path, r, c, key, m.Extra[key], m.RunID, m.Cycle, rows, cols, key, want, runID, k)
	}
	return P, nil
}

// AnalyzeCycle finishes fanned-out cycle k: it advances the truth and
// draws the observations, assembles the forecast from the parts the
// ForecastMembers activities wrote (or reuses an assembled forecast),
// analyses, writes the cycle's files and the diagnostics row, and removes
// the parts. Cycles must be analysed in order; a retry after the cycle
// finished reuses it.
func (a *Activities) AnalyzeCycle(ctx context.Context, in SplitCycleInput) (CyclesOutput, error) {
	k := in.Cycle
	b, done, err := a.openBatch(in.RunID, in.RunPath, in.Config, k, k)
	if err != nil {
		return CyclesOutput{}, err
	}
	fo := b.s.Config.Fanout()
	if fo == nil {
		return CyclesOutput{}, temporal.NewNonRetryableApplicationError(
			"activities: AnalyzeCycle needs a config with orchestration.fanout", ErrInvalidConfig, nil)
	}
	if done {
		return b.out, removeParts(b.dir, k)
	}
	_, truth, err := readState(b.dir, b.s, k-1)
	if err != nil {
		return CyclesOutput{}, err
	}
	var progress atomic.Value
	progress.Store(k)
	defer keepAlive(ctx, &progress)()
	c, err := a.step(b.s, b.dir, in.RunID, nil, truth, k, twin, fo.MembersPerTask, nil)
	if err != nil {
		return CyclesOutput{}, b.fail(k, err)
	}
	b.add(c)
	if err := b.commit(); err != nil {
		return b.out, err
	}
	return b.out, removeParts(b.dir, k)
}

// assemble returns the forecast ensemble of cycle k: the forecast file if
// an earlier attempt wrote it, else the parts of per members each, copied
// into one ensemble. A missing part is a retryable error (its activity may
// not be visible on this worker's file system yet).
func assemble(dir store.RunDir, s *experiment.Setup, runID string, k, per int) (*mat.Dense, error) {
	if E, fm, err := store.ReadEnsemble(dir.Forecast(k)); err == nil {
		if r, c := E.Dims(); r == s.Config.Filter.Members && c == s.Model.Dim() && fm.RunID == runID && fm.Cycle == k {
			return E, nil
		}
	}
	N, n := s.Config.Filter.Members, s.Model.Dim()
	E := mat.NewDense(N, n, nil)
	for lo := 0; lo < N; lo += per {
		hi := min(lo+per, N)
		P, err := readPart(dir.ForecastPart(k, lo, hi), extraPartMembers, runID, k, lo, hi, hi-lo, n)
		if err != nil {
			return nil, stateError(err)
		}
		E.Slice(lo, hi, 0, n).(*mat.Dense).Copy(P)
	}
	return E, nil
}
