package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/live"
)

// AttrScheduledStart is the search attribute in which a Temporal schedule
// gives each workflow it starts its nominal time (whole seconds).
var AttrScheduledStart = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// Outcomes of a cycle workflow, also its final LatentdaStatus.
const (
	// OutcomeAssimilated: the cycle assimilated its observations.
	OutcomeAssimilated = "assimilated"
	// OutcomeForecastOnly: the observations were not there by the
	// deadline; the forecast is the analysis.
	OutcomeForecastOnly = "forecast-only"
	// OutcomeSuperseded: a backfill assimilated the late observations of
	// a forecast-only cycle and re-ran the cycles after it.
	OutcomeSuperseded = "superseded"
	// OutcomeUnchanged: the cycle was done already (assimilated, or
	// forecast-only with its observations still missing).
	OutcomeUnchanged = "unchanged"
	// OutcomePastEnd: the nominal time is past the run's last cycle.
	OutcomePastEnd = "past-end"
)

// PhaseWaiting is the LatentdaStatus of a cycle waiting for observations.
const PhaseWaiting = "waiting"

// CycleInput is the argument of every workflow a live run's schedule
// starts. The nominal time t of a start (TemporalScheduledStartTime, or
// Nominal when set) selects the cycle
//
//	k = ⌊(t − Start) / Interval⌋,
//
// so cycle k is due at Start + k·Interval and covers the model time
// Config.CycleTime(k) = k·steps_between·dt; cycle 0 is the initial state.
// A trigger at any time t runs the latest cycle due by t.
type CycleInput struct {
	live.LiveRun
	Start    time.Time     // nominal time of cycle 0
	Interval time.Duration // wall-clock time between cycles
	// Wait is the cut-off: how long after its nominal time a cycle waits
	// for its observations before it runs forecast-only.
	Wait time.Duration
	// Poll is how often the workflow looks for the observations while it
	// waits (default Wait/10, at least 1 s).
	Poll time.Duration
	// Nominal overrides the nominal time, for starts outside a schedule.
	Nominal time.Time
}

// CycleAt returns the cycle due at nominal time t (see CycleInput).
func (in CycleInput) CycleAt(t time.Time) int {
	d := t.Sub(in.Start)
	k := d / in.Interval
	if d < 0 && d%in.Interval != 0 {
		k-- // floor
	}
	return int(k)
}

// CycleResult is what a cycle workflow returns.
type CycleResult struct {
	RunID   string    `json:"run_id"`
	Cycle   int       `json:"cycle"`
	Nominal time.Time `json:"nominal"`
	Outcome string    `json:"outcome"`
	// Cycles are the cycles this workflow ran: the cycle itself, any
	// cycles missed before it (gap fill), or a backfill's re-run of the
	// cycles after it.
	Cycles []live.CycleOutcome `json:"cycles"`
}

// Cycle runs one cycle of a live run, per schedule tick:
//
//  1. its nominal time selects cycle k (CycleInput);
//  2. PrepareCycle initialises the run if needed and reads its committed
//     state: the latest cycle L (the diagnostics table) and whether k's
//     observations are in the observation directory;
//  3. k > L (the normal case): wait until the observations arrive or the
//     deadline nominal+Wait passes (workflow timers, polling
//     FindObservations), then run cycles L+1..k from the analysis of L
//     (cycles a paused or skipped schedule missed assimilate whatever
//     observations they have), k forecast-only if its observations missed
//     the deadline; a tick that started late then runs the cycles after k
//     whose deadline has passed too;
//  4. k <= L (a backfill or trigger of a past cycle): if k ran
//     forecast-only and its observations are there now, re-run k..L from
//     the analysis of k-1, superseding those cycles' files; otherwise
//     nothing changes.
//
// The chain lives in the run's files, not in the workflow, so it survives
// restarts and each tick is a short workflow. The schedule's overlap
// policy keeps two cycles of a run from running at once.
func Cycle(ctx workflow.Context, in CycleInput) (CycleResult, error) {
	if in.Interval <= 0 {
		return CycleResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cycle of %s: interval must be > 0, got %v", in.RunID, in.Interval), activities.ErrInvalidConfig, nil)
	}
	nominal := in.Nominal
	if nominal.IsZero() {
		t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(AttrScheduledStart)
		if !ok {
			return CycleResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("cycle of %s: no nominal time (start it from a schedule, or set Nominal)", in.RunID), activities.ErrInvalidConfig, nil)
		}
		nominal = t
	}
	k := in.CycleAt(nominal)
	res := CycleResult{RunID: in.RunID, Cycle: k, Nominal: nominal}
	if k < 1 {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cycle of %s: nominal time %s is before cycle 1 (%s)", in.RunID, nominal.UTC().Format(time.RFC3339), in.Start.Add(in.Interval).UTC().Format(time.RFC3339)),
			activities.ErrInvalidConfig, nil)
	}
	cfg := in.Config
	if k > cfg.Cycles {
		res.Outcome = OutcomePastEnd
		return res, nil
	}
	upsert := func(status string, rmse float64) {
		// Informational: a failure to set them must not fail the cycle.
		if err := workflow.UpsertTypedSearchAttributes(ctx,
			AttrCycle.ValueSet(int64(k)), AttrModel.ValueSet(cfg.Model.Name),
			AttrStatus.ValueSet(status), AttrRMSEa.ValueSet(rmse),
		); err != nil {
			workflow.GetLogger(ctx).Warn("cannot set search attributes", "error", err)
		}
	}
	fail := func(what string, err error) (CycleResult, error) {
		upsert(PhaseFailed, 0)
		return res, failure(fmt.Sprintf("run %s: cycle %d: %s", in.RunID, k, what), err)
	}

	var a *live.Activities
	var st live.CycleState
	if err := execute(ctx, false, a.PrepareCycle, live.PrepareInput{LiveRun: in.LiveRun, Cycle: k}, &st); err != nil {
		return fail("prepare", err)
	}
	adv := live.AdvanceInput{LiveRun: in.LiveRun, From: st.Latest + 1, To: k}
	switch {
	case k <= st.Latest && (!st.ForecastOnly || st.ObsFile == ""):
		res.Outcome = OutcomeUnchanged
		upsert(res.Outcome, 0)
		return res, nil
	case k <= st.Latest:
		adv.From, adv.To = k, st.Latest
		res.Outcome = OutcomeSuperseded
	default:
		found := st.ObsFile != ""
		if !found {
			upsert(PhaseWaiting, 0)
		}
		poll := in.Poll
		if poll <= 0 {
			poll = max(in.Wait/10, time.Second)
		}
		deadline := nominal.Add(in.Wait)
		for !found {
			now := workflow.Now(ctx)
			if !now.Before(deadline) {
				break
			}
			if err := workflow.Sleep(ctx, min(poll, deadline.Sub(now))); err != nil {
				return res, err
			}
			var file string
			if err := execute(ctx, false, a.FindObservations, live.ObsInput{ObsDir: in.ObsDir, Cycle: k}, &file); err != nil {
				return fail("look for observations", err)
			}
			found = file != ""
		}
		adv.ForecastOnlyTo = !found
		res.Outcome = OutcomeAssimilated
		if !found {
			res.Outcome = OutcomeForecastOnly
		}
	}
	var out live.AdvanceOutput
	if err := execute(ctx, false, a.AdvanceCycles, adv, &out); err != nil {
		return fail(fmt.Sprintf("cycles %d..%d", adv.From, adv.To), err)
	}
	res.Cycles = out.Cycles
	// A tick that started late (buffered behind a long catch-up, whose
	// own ticks were dropped meanwhile) also runs the cycles whose
	// deadline has passed since, assimilating what they have, as the gap
	// fill does: the ticks of the schedule's last cycles may never come.
	if due := min(in.CycleAt(workflow.Now(ctx).Add(-in.Wait)), cfg.Cycles); res.Outcome != OutcomeSuperseded && due > k &&
		workflow.GetVersion(ctx, "catch-up-to-deadline", workflow.DefaultVersion, 1) == 1 {
		more := live.AdvanceInput{LiveRun: in.LiveRun, From: k + 1, To: due}
		var out live.AdvanceOutput
		if err := execute(ctx, false, a.AdvanceCycles, more, &out); err != nil {
			return fail(fmt.Sprintf("cycles %d..%d", more.From, more.To), err)
		}
		res.Cycles = append(res.Cycles, out.Cycles...)
	}
	var rmse float64
	for _, c := range out.Cycles {
		if c.Cycle == k {
			rmse = c.RMSEa
		}
	}
	upsert(res.Outcome, rmse)
	return res, nil
}
