package activities

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/activities/internal/core"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/store"
)

// A fanned-out cycle k (orchestration.fanout) runs as one ForecastMembers
// activity per batch of members, on any workers, then one AnalyzeCycle:
//
//	analysis(k-1) --ForecastMembers[lo,hi) x B--> forecast-parts/members-lo-hi.arrow
//	truth(k-1), parts --AnalyzeCycle--> truth(k), observations(k), forecast(k), analysis(k), diagnostics
//
// The files are those of a run without fan-out, bit for bit.

// MembersInput asks for the forecast of members Lo..Hi-1 of cycle Cycle.
type MembersInput struct {
	RunID   string
	RunPath string
	Config  config.Config
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
	Config  config.Config
	Cycle   int
}

// ForecastMembers forecasts members Lo..Hi-1 of cycle Cycle from the
// analysis of cycle Cycle-1 and writes them to the cycle's forecast part
// file. A part that an earlier attempt finished is reused.
func (a *Activities) ForecastMembers(ctx context.Context, in MembersInput) (MembersOutput, error) {
	dir, err := a.env(ctx).RunDir(in.RunPath)
	if err != nil {
		return MembersOutput{}, err
	}
	s, err := a.env(ctx).Build(dir, in.Config)
	if err != nil {
		return MembersOutput{}, err
	}
	if in.Cycle < 1 || in.Lo < 0 || in.Hi > s.Config.Filter.Members || in.Lo >= in.Hi {
		return MembersOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: bad forecast batch: cycle %d, members %d..%d of %d", in.Cycle, in.Lo, in.Hi-1, s.Config.Filter.Members), ErrInvalidConfig, nil)
	}
	path := dir.ForecastPart(in.Cycle, in.Lo, in.Hi)
	out := MembersOutput{Path: path}
	if _, err := core.ReadPart(path, core.ExtraPartMembers, in.RunID, in.Cycle, in.Lo, in.Hi, in.Hi-in.Lo, s.Model.Dim()); err == nil {
		return out, nil
	}
	E, _, err := core.ReadState(dir, s, in.Cycle-1)
	if err != nil {
		return out, err
	}
	var progress atomic.Value
	progress.Store(MembersProgress{Cycle: in.Cycle, Total: in.Hi - in.Lo})
	defer core.KeepAlive(ctx, &progress)()
	// Chunks of one member per forecast goroutine: progress without
	// losing the parallelism inside a batch.
	chunk := s.Forecaster.Workers()
	for lo := in.Lo; lo < in.Hi; lo += chunk {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		hi := min(lo+chunk, in.Hi)
		if err := s.ForecastMembers(E, lo, hi, in.Cycle); err != nil {
			return out, core.Diverged(err)
		}
		progress.Store(MembersProgress{Cycle: in.Cycle, Done: hi - in.Lo, Total: in.Hi - in.Lo})
	}
	if err := os.MkdirAll(dir.ForecastParts(in.Cycle), 0o777); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	part := E.Slice(in.Lo, in.Hi, 0, s.Model.Dim()).(*mat.Dense)
	m := core.Meta(in.RunID, s.Config, in.Cycle)
	m.Extra = map[string]string{core.ExtraPartMembers: core.PartRange(in.Lo, in.Hi)}
	if err := store.WriteEnsemble(path, mat.DenseCopyOf(part), m); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	return out, nil
}

// AnalyzeCycle finishes fanned-out cycle k: it advances the truth and
// draws the observations, assembles the forecast from the parts the
// ForecastMembers activities wrote (or reuses an assembled forecast),
// analyses, writes the cycle's files and the diagnostics row, and removes
// the parts. Cycles must be analysed in order; a retry after the cycle
// finished reuses it.
func (a *Activities) AnalyzeCycle(ctx context.Context, in SplitCycleInput) (CyclesOutput, error) {
	k := in.Cycle
	b, done, err := a.env(ctx).OpenBatch(in.RunID, in.RunPath, in.Config, k, k)
	if err != nil {
		return CyclesOutput{}, err
	}
	fo := b.Setup.Config.Fanout()
	if fo == nil {
		return CyclesOutput{}, temporal.NewNonRetryableApplicationError(
			"activities: AnalyzeCycle needs a config with orchestration.fanout", ErrInvalidConfig, nil)
	}
	if done {
		return CyclesOutput(b.Summary), removeParts(b.Dir, k)
	}
	_, truth, err := core.ReadState(b.Dir, b.Setup, k-1)
	if err != nil {
		return CyclesOutput{}, err
	}
	var progress atomic.Value
	progress.Store(k)
	defer core.KeepAlive(ctx, &progress)()
	c, err := a.env(ctx).Step(b.Setup, b.Dir, nil, in.RunID, nil, truth, k, core.Twin, fo.MembersPerTask, nil)
	if err != nil {
		return CyclesOutput{}, b.Fail(k, err)
	}
	if _, err := b.Add(c); err != nil {
		return CyclesOutput{}, err
	}
	if err := b.Commit(); err != nil {
		return CyclesOutput(b.Summary), err
	}
	return CyclesOutput(b.Summary), removeParts(b.Dir, k)
}
