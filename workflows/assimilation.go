// Package workflows holds latentda's deterministic orchestration: the cycled
// assimilation loop ([Assimilation]), one scheduled cycle of a live run
// ([Cycle]) and the training of a generator ([TrainGenerator]). Workflows
// do no I/O and no numerics; they call activities, keep a small state, and
// Continue-As-New when Temporal suggests.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
)

// TaskQueue is the default task queue of latentda workers.
const TaskQueue = "latentda"

// WorkflowTaskTimeout is the workflow task timeout runs should start with.
// Local activities run inside a workflow task, which holds queries and
// signals until it completes; the SDK heartbeats such a task at 80% of this
// timeout, and a query is taken up after one heartbeat and answered at the
// next, so a short timeout keeps `status` and `pause` responsive (within
// ~3.2 s) at the cost of one cheap round trip per heartbeat.
const WorkflowTaskTimeout = 2 * time.Second

// Query and signal names.
const (
	QueryStatus  = "status"
	SignalPause  = "pause"
	SignalResume = "resume"
	SignalStop   = "stop"
)

// Phases reported by the status query and the LatentdaStatus attribute.
const (
	PhaseInitializing = "initializing"
	PhaseCycling      = "cycling"
	PhasePaused       = "paused"
	PhaseStopped      = "stopped"
	PhaseCompleted    = "completed"
	PhaseFailed       = "failed"
)

// maxBatchesPerRun bounds the history of one workflow run even on servers
// that never suggest Continue-As-New.
const maxBatchesPerRun = 200

// Input starts (or continues) an assimilation run.
type Input struct {
	RunID   string
	RunPath string // relative to the workers' state root
	Config  config.Config
	// BatchCycles is the number of cycles per activity (default 50;
	// orchestration.batch_cycles). A config with orchestration.fanout or
	// orchestration.blocks runs one cycle per step instead.
	BatchCycles int
	// Local runs the batches as local activities, without a server round
	// trip per batch, for cheap models (orchestration.activity local).
	// Regular activities heartbeat every cycle and can run on any worker.
	Local bool
	// WarmStart, if set, starts from another run's stored analysis
	// (latentda rerun) instead of an initial ensemble.
	WarmStart *activities.WarmStart `json:",omitempty"`

	// Carried across Continue-As-New.
	Next        int // next cycle to run; 0 = not initialised
	Sums        experiment.Sums
	Last        experiment.CycleStats
	RunDir      string
	Diagnostics string
	Paused      bool
	PauseReason string
}

// Status answers the status query.
type Status struct {
	RunID   string                `json:"run_id"`
	Phase   string                `json:"phase"`
	Cycle   int                   `json:"cycle"`
	Cycles  int                   `json:"cycles"`
	Last    experiment.CycleStats `json:"last"`
	Summary experiment.Summary    `json:"summary"`
	RunDir  string                `json:"run_dir"`
	// PauseReason says why a run paused itself (a flagged batch).
	PauseReason string `json:"pause_reason,omitempty"`
	// Failure says why a failed run failed: the workflow's error, which
	// the client reads from its result (the query does not hold it).
	Failure string `json:"failure,omitempty"`
}

// Result is what a finished run returns.
type Result struct {
	RunID       string             `json:"run_id"`
	RunDir      string             `json:"run_dir"`
	Diagnostics string             `json:"diagnostics"`
	Stopped     bool               `json:"stopped"`
	Summary     experiment.Summary `json:"summary"`
}

// Assimilation runs the cycles of one experiment.
func Assimilation(ctx workflow.Context, in Input) (Result, error) {
	cfg := in.Config
	if in.BatchCycles <= 0 {
		in.BatchCycles = 50
	}
	phase := PhaseCycling
	if in.Next == 0 {
		phase = PhaseInitializing
	}
	paused, stop := in.Paused, false
	status := func() Status {
		p := phase
		if paused && phase == PhaseCycling {
			p = PhasePaused
		}
		st := Status{RunID: in.RunID, Phase: p, Cycle: max(in.Next-1, 0), Cycles: cfg.Cycles, Last: in.Last, Summary: in.Sums.Summary(), RunDir: in.RunDir}
		if p == PhasePaused {
			st.PauseReason = in.PauseReason
		}
		return st
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return status(), nil }); err != nil {
		return Result{}, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		pause := workflow.GetSignalChannel(ctx, SignalPause)
		resume := workflow.GetSignalChannel(ctx, SignalResume)
		stopCh := workflow.GetSignalChannel(ctx, SignalStop)
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(pause, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); paused = true })
			sel.AddReceive(resume, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); paused, in.PauseReason = false, "" })
			sel.AddReceive(stopCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); stop = true })
			sel.Select(ctx)
		}
	})
	upsert := func() {
		st := status()
		// Search attributes are informational; a failure to set them must
		// not fail the run.
		if err := workflow.UpsertTypedSearchAttributes(ctx,
			AttrCycle.ValueSet(int64(st.Cycle)),
			AttrRMSEa.ValueSet(st.Last.RMSEa),
			AttrModel.ValueSet(cfg.Model.Name),
			AttrStatus.ValueSet(st.Phase),
			AttrFlagged.ValueSet(int64(in.Sums.Flagged)),
		); err != nil {
			workflow.GetLogger(ctx).Warn("cannot set search attributes", "error", err)
		}
	}

	d := newTemporalDriver(ctx, in)
	if in.Next == 0 {
		upsert()
		if err := initialize(d, &in); err != nil {
			phase = PhaseFailed
			upsert()
			return Result{}, err
		}
		phase = PhaseCycling
		upsert()
	}

	stopped, err := cycleLoop(d, &in, func(batches int) (bool, error) {
		if err := workflow.Await(ctx, func() bool { return !paused || stop }); err != nil {
			return false, err
		}
		if stop {
			return true, nil
		}
		if batches > 0 && (batches >= maxBatchesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()) {
			in.Paused = paused
			return false, workflow.NewContinueAsNewError(ctx, Assimilation, in)
		}
		return false, nil
	}, func(out activities.CyclesOutput, err error) error {
		if err != nil {
			phase = PhaseFailed
			upsert()
			return err
		}
		if out.PauseAt > 0 && !out.Answered {
			paused = true
			in.PauseReason = fmt.Sprintf("cycle %d: observation batch flagged (%s); signal resume to go on or stop to end the run", out.PauseAt, out.Last.BatchFlag)
			workflow.GetLogger(ctx).Warn("pausing on a flagged batch", "cycle", out.PauseAt, "tests", out.Last.BatchFlag)
		}
		upsert()
		return nil
	})
	switch {
	case err != nil:
		return Result{}, err
	case stopped:
		phase = PhaseStopped
		upsert()
		return result(in, true), nil
	}
	phase = PhaseCompleted
	upsert()
	return result(in, false), nil
}

// failure fails the workflow with context, keeping the type of an
// activity's application error (so clients can tell divergence from bad
// input) and making it non-retryable: the activity already retried.
func failure(context string, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return temporal.NewNonRetryableApplicationError(context+": "+appErr.Error(), appErr.Type(), err)
	}
	return fmt.Errorf("%s: %w", context, err)
}

func result(in Input, stopped bool) Result {
	return Result{
		RunID: in.RunID, RunDir: in.RunDir, Diagnostics: in.Diagnostics, Stopped: stopped, Summary: in.Sums.Summary(),
	}
}

// spreadOptions are the options of activities meant to spread over the
// workers of the task queue.
func spreadOptions(ctx workflow.Context, heartbeat time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 6 * time.Hour,
		HeartbeatTimeout:    heartbeat,
		RetryPolicy:         retryPolicy(),
		// Eager execution would hand the batches to the worker that ran
		// the workflow task, rather than spreading them over the queue.
		DisableEagerExecution: true,
	})
}

func retryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        5,
		NonRetryableErrorTypes: []string{activities.ErrInvalidConfig, activities.ErrDiverged, activities.ErrBadState},
	}
}

// execute runs an activity as a local or a regular activity. Regular
// activities heartbeat every cycle, so a stuck worker is detected within the
// heartbeat timeout and the batch retried elsewhere, and they go through the
// task queue (no eager execution), so concurrent runs spread over the workers.
func execute(ctx workflow.Context, local bool, fn, arg, out any) error {
	if local {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 30 * time.Minute,
			RetryPolicy:         retryPolicy(),
		})
		return workflow.ExecuteLocalActivity(ctx, fn, arg).Get(ctx, out)
	}
	return workflow.ExecuteActivity(spreadOptions(ctx, 2*time.Minute), fn, arg).Get(ctx, out)
}
