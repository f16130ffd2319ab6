package workflows

import (
	"context"
	"log/slog"

	"github.com/latentda/latentda/activities"
)

// RunInProcess runs in through the loop of the Assimilation workflow
// without Temporal, calling the activities of a directly, one after the
// other: the baseline that measures what Temporal adds. It honours the
// whole orchestration (batches, fan-out, blocks), so it writes the files
// a workflow run writes; the activity kind and heartbeats mean nothing
// without Temporal. A run pausing on a flagged batch has no one to
// resume it, so it goes on (with a warning). progress, if not nil, is
// called after every batch; ctx cancels the run between batches and
// inside a batch between cycles.
func RunInProcess(ctx context.Context, a *activities.Activities, in Input, progress func(cycle int, rmseA float64)) (Result, error) {
	if in.BatchCycles <= 0 {
		in.BatchCycles = 50
	}
	d := direct{ctx: ctx, a: a}
	if in.Next == 0 {
		if err := initialize(d, &in); err != nil {
			return Result{}, err
		}
	}
	_, err := cycleLoop(d, &in, func(int) (bool, error) { return false, ctx.Err() }, func(out activities.CyclesOutput, err error) error {
		if err != nil {
			return err
		}
		if out.PauseAt > 0 {
			slog.Warn("observation batch flagged; an in-process run has no one to signal, so it goes on", "cycle", out.PauseAt, "tests", out.Last.BatchFlag)
		}
		if progress != nil {
			progress(out.Last.Cycle, out.Last.RMSEa)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return result(in, false), nil
}

// direct is the driver that calls the activities in process, in order.
type direct struct {
	ctx context.Context
	a   *activities.Activities
}

func (d direct) initialize(in activities.InitInput) (activities.InitOutput, error) {
	return d.a.Initialize(d.ctx, in)
}

func (d direct) runCycles(in activities.CyclesInput) (activities.CyclesOutput, error) {
	return d.a.RunCycles(d.ctx, in)
}

func (d direct) forecastMembers(ins []activities.MembersInput) error {
	for _, in := range ins {
		if _, err := d.a.ForecastMembers(d.ctx, in); err != nil {
			return err
		}
	}
	return nil
}

func (d direct) analyzeCycle(in activities.SplitCycleInput) (activities.CyclesOutput, error) {
	return d.a.AnalyzeCycle(d.ctx, in)
}

func (d direct) prepareBlocks(in activities.SplitCycleInput) error {
	return d.a.PrepareBlocks(d.ctx, in)
}

func (d direct) analyzeBlocks(ins []activities.BlockInput) error {
	for _, in := range ins {
		if err := d.a.AnalyzeBlock(d.ctx, in); err != nil {
			return err
		}
	}
	return nil
}

func (d direct) finishBlocks(in activities.SplitCycleInput) (activities.CyclesOutput, error) {
	return d.a.FinishBlocks(d.ctx, in)
}
