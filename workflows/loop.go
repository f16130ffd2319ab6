package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/config"
)

// The loop of an assimilation run, written once: initialise, then run the
// cycles batch by batch, each batch as the orchestration says (whole
// cycles, a fanned-out forecast, a block-wise analysis). A driver runs the
// activities: as Temporal activities from the Assimilation workflow, or as
// direct calls in process (RunInProcess).

// driver runs the activities of a run. The inputs of one call of
// forecastMembers or analyzeBlocks may run at the same time.
type driver interface {
	initialize(activities.InitInput) (activities.InitOutput, error)
	runCycles(activities.CyclesInput) (activities.CyclesOutput, error)
	forecastMembers([]activities.MembersInput) error
	analyzeCycle(activities.SplitCycleInput) (activities.CyclesOutput, error)
	prepareBlocks(activities.SplitCycleInput) error
	analyzeBlocks([]activities.BlockInput) error
	finishBlocks(activities.SplitCycleInput) (activities.CyclesOutput, error)
}

// initialize initialises the run of in through d and sets where its state
// is and its first cycle.
func initialize(d driver, in *Input) error {
	out, err := d.initialize(activities.InitInput{RunID: in.RunID, RunPath: in.RunPath, Config: in.Config, WarmStart: in.WarmStart})
	if err != nil {
		return failure(fmt.Sprintf("run %s: initialise", in.RunID), err)
	}
	in.RunDir, in.Diagnostics, in.Next = out.RunDir, out.Diagnostics, max(out.Next, 1)
	return nil
}

// cycleLoop runs the cycles of in from in.Next through d, batch by batch,
// and carries the sums, the last cycle and the next one in in. before is
// called before each batch (batches run so far) and may stop the loop or
// end it with an error; after is called after each batch with its output,
// or its error, which it returns (nil goes on).
func cycleLoop(d driver, in *Input, before func(batches int) (stop bool, err error), after func(activities.CyclesOutput, error) error) (stopped bool, err error) {
	for batches := 0; in.Next <= in.Config.Cycles; batches++ {
		if stop, err := before(batches); stop || err != nil {
			return stop, err
		}
		out, to, err := runBatch(d, *in)
		if err != nil {
			return false, after(out, failure(fmt.Sprintf("run %s: cycles %d..%d", in.RunID, in.Next, to), err))
		}
		in.Sums.Merge(out.Sums)
		in.Last = out.Last
		in.Next = out.Last.Cycle + 1
		if err := after(out, nil); err != nil {
			return false, err
		}
	}
	return false, nil
}

// runBatch runs the next batch of in through d and returns its output and
// its last cycle: in.BatchCycles whole cycles, or one cycle whose forecast
// fans out (orchestration.fanout: one ForecastMembers per batch of
// members, then AnalyzeCycle) or whose analysis is block-wise
// (orchestration.blocks: the forecast, fanned out if configured, then
// PrepareBlocks, one AnalyzeBlock per block of the domain and
// FinishBlocks).
func runBatch(d driver, in Input) (activities.CyclesOutput, int, error) {
	cfg, k := in.Config, in.Next
	blocks, fo := cfg.AnalysisBlocks(), cfg.Fanout()
	if blocks == nil && fo == nil {
		to := min(k+in.BatchCycles-1, cfg.Cycles)
		out, err := d.runCycles(activities.CyclesInput{RunID: in.RunID, RunPath: in.RunPath, Config: cfg, From: k, To: to})
		return out, to, err
	}
	if fo != nil {
		var parts []activities.MembersInput
		for lo := 0; lo < cfg.Filter.Members; lo += fo.MembersPerTask {
			hi := min(lo+fo.MembersPerTask, cfg.Filter.Members)
			parts = append(parts, activities.MembersInput{RunID: in.RunID, RunPath: in.RunPath, Config: cfg, Cycle: k, Lo: lo, Hi: hi})
		}
		if err := d.forecastMembers(parts); err != nil {
			return activities.CyclesOutput{}, k, err
		}
	}
	cycle := activities.SplitCycleInput{RunID: in.RunID, RunPath: in.RunPath, Config: cfg, Cycle: k}
	if blocks == nil {
		out, err := d.analyzeCycle(cycle)
		return out, k, err
	}
	if err := d.prepareBlocks(cycle); err != nil {
		return activities.CyclesOutput{}, k, err
	}
	var parts []activities.BlockInput
	for _, b := range blocks {
		parts = append(parts, activities.BlockInput{RunID: in.RunID, RunPath: in.RunPath, Config: cfg, Cycle: k, Lo: b[0], Hi: b[1]})
	}
	if err := d.analyzeBlocks(parts); err != nil {
		return activities.CyclesOutput{}, k, err
	}
	out, err := d.finishBlocks(cycle)
	return out, k, err
}

// temporalDriver runs the activities from a workflow: Initialize and
// RunCycles as local or regular activities (Input.Local), the activities
// of a split cycle as regular activities spread over the workers of the
// task queue, those of one step all in flight at once. Every activity of
// a split cycle heartbeats within the fan-out's heartbeat timeout, so the
// work of a dead worker moves to another one after that long.
type temporalDriver struct {
	ctx    workflow.Context
	local  bool
	spread workflow.Context // with the options of split-cycle activities
}

func newTemporalDriver(ctx workflow.Context, in Input) *temporalDriver {
	heartbeat := config.DefaultFanoutHeartbeat
	if fo := in.Config.Fanout(); fo != nil {
		heartbeat = fo.HeartbeatTimeout
	}
	return &temporalDriver{ctx: ctx, local: in.Local, spread: spreadOptions(ctx, heartbeat)}
}

// activityFns is the nil receiver whose methods name the activities.
var activityFns *activities.Activities

func (d *temporalDriver) initialize(in activities.InitInput) (out activities.InitOutput, err error) {
	return out, execute(d.ctx, d.local, activityFns.Initialize, in, &out)
}

func (d *temporalDriver) runCycles(in activities.CyclesInput) (out activities.CyclesOutput, err error) {
	return out, execute(d.ctx, d.local, activityFns.RunCycles, in, &out)
}

func (d *temporalDriver) forecastMembers(ins []activities.MembersInput) error {
	return all(d.spread, activityFns.ForecastMembers, ins)
}

func (d *temporalDriver) analyzeCycle(in activities.SplitCycleInput) (out activities.CyclesOutput, err error) {
	return out, workflow.ExecuteActivity(d.spread, activityFns.AnalyzeCycle, in).Get(d.spread, &out)
}

func (d *temporalDriver) prepareBlocks(in activities.SplitCycleInput) error {
	return workflow.ExecuteActivity(d.spread, activityFns.PrepareBlocks, in).Get(d.spread, nil)
}

func (d *temporalDriver) analyzeBlocks(ins []activities.BlockInput) error {
	return all(d.spread, activityFns.AnalyzeBlock, ins)
}

func (d *temporalDriver) finishBlocks(in activities.SplitCycleInput) (out activities.CyclesOutput, err error) {
	return out, workflow.ExecuteActivity(d.spread, activityFns.FinishBlocks, in).Get(d.spread, &out)
}

// all starts activity fn once per input, all at once, and waits for every
// one (none is left running), then reports the first failure.
func all[I any](ctx workflow.Context, fn any, ins []I) error {
	futures := make([]workflow.Future, len(ins))
	for i, in := range ins {
		futures[i] = workflow.ExecuteActivity(ctx, fn, in)
	}
	var first error
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil && first == nil {
			first = err
		}
	}
	return first
}
