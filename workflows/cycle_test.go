package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/latentda/latentda/activities/live"
	"github.com/latentda/latentda/config"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func cycleInput() CycleInput {
	return CycleInput{
		LiveRun: live.LiveRun{
			RunID: "live", RunPath: "runs/live", ObsDir: "obs",
			Config: config.Config{Name: "live", Cycles: 10, Model: config.ModelConfig{Name: "lorenz63"}},
		},
		Start: t0, Interval: time.Hour, Wait: 10 * time.Minute, Poll: time.Minute,
	}
}

func TestCycleAt(t *testing.T) {
	in := cycleInput()
	for _, c := range []struct {
		t    time.Time
		want int
	}{
		{t0, 0},
		{t0.Add(time.Hour), 1},
		{t0.Add(time.Hour - time.Second), 0},
		{t0.Add(3*time.Hour + 59*time.Minute), 3},
		{t0.Add(-time.Second), -1},
		{t0.Add(-time.Hour), -1},
		{t0.Add(-time.Hour - time.Second), -2},
	} {
		if got := in.CycleAt(c.t); got != c.want {
			t.Errorf("CycleAt(start%+v) = %d, want %d", c.t.Sub(t0), got, c.want)
		}
	}
}

// cycleEnv is a test environment whose workflow starts as a schedule would
// start it: at nominal time start + k·interval, with the search attribute.
func cycleEnv(t *testing.T, k int) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Cycle)
	env.RegisterActivity(&live.Activities{})
	nominal := t0.Add(time.Duration(k) * time.Hour)
	env.SetStartTime(nominal)
	if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(AttrScheduledStart.ValueSet(nominal))); err != nil {
		t.Fatal(err)
	}
	return env
}

// advanceRecorder mocks AdvanceCycles, recording its inputs and the
// workflow time of each call.
type advanceRecorder struct {
	env   *testsuite.TestWorkflowEnvironment
	calls []live.AdvanceInput
	at    []time.Time
}

func (r *advanceRecorder) fn(_ context.Context, in live.AdvanceInput) (live.AdvanceOutput, error) {
	r.calls = append(r.calls, in)
	r.at = append(r.at, r.env.Now())
	var out live.AdvanceOutput
	for k := in.From; k <= in.To; k++ {
		out.Cycles = append(out.Cycles, live.CycleOutcome{Cycle: k, Assimilated: k != in.To || !in.ForecastOnlyTo, RMSEa: float64(k)})
	}
	return out, nil
}

func runCycle(t *testing.T, env *testsuite.TestWorkflowEnvironment, in CycleInput) CycleResult {
	t.Helper()
	env.ExecuteWorkflow(Cycle, in)
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow did not complete: %v", env.GetWorkflowError())
	}
	var res CycleResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCycleObservationsPresent(t *testing.T) {
	env := cycleEnv(t, 4)
	env.OnActivity(liveActs.PrepareCycle, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in live.PrepareInput) (live.CycleState, error) {
			if in.Cycle != 4 || in.RunID != "live" {
				t.Errorf("PrepareCycle asked for %+v", in)
			}
			return live.CycleState{Latest: 3, ObsFile: "/obs/cycle-000004.csv"}, nil
		})
	env.OnActivity(liveActs.FindObservations, mock.Anything, mock.Anything).Return("", nil).Maybe()
	rec := &advanceRecorder{env: env}
	env.OnActivity(liveActs.AdvanceCycles, mock.Anything, mock.Anything).Return(rec.fn)
	res := runCycle(t, env, cycleInput())
	env.AssertNotCalled(t, "FindObservations", mock.Anything, mock.Anything)
	if len(rec.calls) != 1 || rec.calls[0].From != 4 || rec.calls[0].To != 4 || rec.calls[0].ForecastOnlyTo {
		t.Fatalf("AdvanceCycles calls %+v, want one of 4..4 with observations", rec.calls)
	}
	if !rec.at[0].Equal(t0.Add(4 * time.Hour)) {
		t.Errorf("ran at %v, want at once (nominal time)", rec.at[0])
	}
	if res.Cycle != 4 || res.Outcome != OutcomeAssimilated || len(res.Cycles) != 1 {
		t.Errorf("result %+v", res)
	}
}

// TestCycleWaitsThenAssimilates: observations that arrive before the
// deadline are assimilated as soon as a poll sees them.
func TestCycleWaitsThenAssimilates(t *testing.T) {
	env := cycleEnv(t, 2)
	env.OnActivity(liveActs.PrepareCycle, mock.Anything, mock.Anything).Return(live.CycleState{Latest: 1}, nil)
	polls := 0
	env.OnActivity(liveActs.FindObservations, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in live.ObsInput) (string, error) {
			polls++
			if in.Cycle != 2 || in.ObsDir != "obs" {
				t.Errorf("FindObservations asked for %+v", in)
			}
			if polls == 3 {
				return "/obs/cycle-000002.arrow", nil
			}
			return "", nil
		})
	rec := &advanceRecorder{env: env}
	env.OnActivity(liveActs.AdvanceCycles, mock.Anything, mock.Anything).Return(rec.fn)
	res := runCycle(t, env, cycleInput())
	if polls != 3 || len(rec.calls) != 1 || rec.calls[0].ForecastOnlyTo {
		t.Fatalf("%d polls, AdvanceCycles %+v", polls, rec.calls)
	}
	if want := t0.Add(2*time.Hour + 3*time.Minute); !rec.at[0].Equal(want) {
		t.Errorf("assimilated at %v, want after the third poll at %v", rec.at[0], want)
	}
	if res.Outcome != OutcomeAssimilated {
		t.Errorf("outcome %q", res.Outcome)
	}
}

// TestCycleLateObservationsForecastOnly: nothing by the deadline, so the
// cycle runs forecast-only at the deadline, and says so.
func TestCycleLateObservationsForecastOnly(t *testing.T) {
	env := cycleEnv(t, 2)
	env.OnActivity(liveActs.PrepareCycle, mock.Anything, mock.Anything).Return(live.CycleState{Latest: 1}, nil)
	polls := 0
	env.OnActivity(liveActs.FindObservations, mock.Anything, mock.Anything).Return(
		func(context.Context, live.ObsInput) (string, error) { polls++; return "", nil })
	rec := &advanceRecorder{env: env}
	env.OnActivity(liveActs.AdvanceCycles, mock.Anything, mock.Anything).Return(rec.fn)
	in := cycleInput()
	in.Poll = 3 * time.Minute // 10 min wait: polls at 3, 6, 9, 10
	res := runCycle(t, env, in)
	if polls != 4 {
		t.Errorf("%d polls, want 4 (the last one at the deadline)", polls)
	}
	if len(rec.calls) != 1 || !rec.calls[0].ForecastOnlyTo || rec.calls[0].From != 2 || rec.calls[0].To != 2 {
		t.Fatalf("AdvanceCycles %+v, want 2..2 forecast-only", rec.calls)
	}
	if want := t0.Add(2*time.Hour + 10*time.Minute); !rec.at[0].Equal(want) {
		t.Errorf("ran at %v, want at the deadline %v", rec.at[0], want)
	}
	if res.Outcome != OutcomeForecastOnly || res.Cycles[0].Assimilated {
		t.Errorf("result %+v", res)
	}
}

// TestCycleGapFill: a cycle after missed ticks runs the missed cycles too,
// from the latest committed analysis.
func TestCycleGapFill(t *testing.T) {
	env := cycleEnv(t, 7)
	env.OnActivity(liveActs.PrepareCycle, mock.Anything, mock.Anything).Return(live.CycleState{Latest: 4, ObsFile: "/obs/cycle-000007.csv"}, nil)
	rec := &advanceRecorder{env: env}
	env.OnActivity(liveActs.AdvanceCycles, mock.Anything, mock.Anything).Return(rec.fn)
	res := runCycle(t, env, cycleInput())
	if len(rec.calls) != 1 || rec.calls[0].From != 5 || rec.calls[0].To != 7 || rec.calls[0].ForecastOnlyTo {
		t.Fatalf("AdvanceCycles %+v, want 5..7", rec.calls)
	}
	if len(res.Cycles) != 3 || res.Outcome != OutcomeAssimilated {
		t.Errorf("result %+v", res)
	}
}

// TestCycleBackfill: a backfill of a past cycle supersedes it (and the
// cycles after it) only if it ran forecast-only and its observations are
// there now; otherwise it changes nothing. It never waits.
func TestCycleBackfill(t *testing.T) {
	for _, c := range []struct {
		name    string
		state   live.CycleState
		outcome string
		from    int
	}{
		{"forecast-only, observations now there", live.CycleState{Latest: 5, ForecastOnly: true, ObsFile: "/obs/cycle-000003.csv"}, OutcomeSuperseded, 3},
		{"forecast-only, observations still missing", live.CycleState{Latest: 5, ForecastOnly: true}, OutcomeUnchanged, 0},
		{"already assimilated", live.CycleState{Latest: 5, ObsFile: "/obs/cycle-000003.csv"}, OutcomeUnchanged, 0},
		{"last cycle, forecast-only", live.CycleState{Latest: 3, ForecastOnly: true, ObsFile: "/obs/cycle-000003.arrow"}, OutcomeSuperseded, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Backfilled a day later: the deadline is long past.
			env := cycleEnv(t, 3)
			env.SetStartTime(t0.Add(27 * time.Hour))
			env.OnActivity(liveActs.PrepareCycle, mock.Anything, mock.Anything).Return(c.state, nil)
			env.OnActivity(liveActs.FindObservations, mock.Anything, mock.Anything).Return("", nil).Maybe()
			rec := &advanceRecorder{env: env}
			env.OnActivity(liveActs.AdvanceCycles, mock.Anything, mock.Anything).Return(rec.fn).Maybe()
			res := runCycle(t, env, cycleInput())
			env.AssertNotCalled(t, "FindObservations", mock.Anything, mock.Anything)
			if res.Outcome != c.outcome || res.Cycle != 3 {
				t.Fatalf("result %+v, want outcome %q", res, c.outcome)
			}
			if c.from == 0 {
				if len(rec.calls) != 0 {
					t.Errorf("AdvanceCycles called: %+v", rec.calls)
				}
				return
			}
			if len(rec.calls) != 1 || rec.calls[0].From != c.from || rec.calls[0].To != c.state.Latest || rec.calls[0].ForecastOnlyTo {
				t.Errorf("AdvanceCycles %+v, want %d..%d with observations", rec.calls, c.from, c.state.Latest)
			}
		})
	}
}

// TestCycleStartsLateWithoutWaiting: a tick that starts after its deadline
// (a backfill of a cycle never run) does not wait.
func TestCycleStartsLateWithoutWaiting(t *testing.T) {
	env := cycleEnv(t, 2)
	env.SetStartTime(t0.Add(5 * time.Hour))
	env.OnActivity(liveActs.PrepareCycle, mock.Anything, mock.Anything).Return(live.CycleState{Latest: 1}, nil)
	env.OnActivity(liveActs.FindObservations, mock.Anything, mock.Anything).Return("", nil).Maybe()
	rec := &advanceRecorder{env: env}
	env.OnActivity(liveActs.AdvanceCycles, mock.Anything, mock.Anything).Return(rec.fn)
	res := runCycle(t, env, cycleInput())
	env.AssertNotCalled(t, "FindObservations", mock.Anything, mock.Anything)
	if res.Outcome != OutcomeForecastOnly || !rec.at[0].Equal(t0.Add(5*time.Hour)) {
		t.Errorf("result %+v at %v", res, rec.at)
	}
}

func TestCycleNominalTime(t *testing.T) {
	t.Run("past the last cycle", func(t *testing.T) {
		env := cycleEnv(t, 11)
		res := runCycle(t, env, cycleInput())
		if res.Outcome != OutcomePastEnd || res.Cycle != 11 {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("Nominal overrides", func(t *testing.T) {
		env := cycleEnv(t, 2)
		env.OnActivity(liveActs.PrepareCycle, mock.Anything, mock.Anything).Return(live.CycleState{Latest: 5}, nil)
		in := cycleInput()
		in.Nominal = t0.Add(5*time.Hour + 30*time.Minute)
		if res := runCycle(t, env, in); res.Cycle != 5 {
			t.Errorf("cycle %d, want 5", res.Cycle)
		}
	})
	for _, c := range []struct {
		name    string
		edit    func(*CycleInput)
		noAttrs bool
		want    string
	}{
		{"before cycle 1", func(in *CycleInput) { in.Start = t0.Add(2 * time.Hour) }, false, "before cycle 1"},
		{"zero interval", func(in *CycleInput) { in.Interval = 0 }, false, "interval must be > 0"},
		{"no schedule", func(*CycleInput) {}, true, "no nominal time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(Cycle)
			env.RegisterActivity(&live.Activities{})
			if !c.noAttrs {
				_ = env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(AttrScheduledStart.ValueSet(t0.Add(time.Hour))))
			}
			in := cycleInput()
			c.edit(&in)
			env.ExecuteWorkflow(Cycle, in)
			err := env.GetWorkflowError()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestCycleStartedLate: the tick of cycle 4, started five and a half
// hours late (buffered behind a catch-up while the ticks of cycles 5..9
// were dropped), runs cycle 4 and then the cycles whose deadline has
// passed, 5..9, as a gap fill; cycle 10, not due, is left to its tick.
func TestCycleStartedLate(t *testing.T) {
	env := cycleEnv(t, 4)
	env.SetStartTime(t0.Add(9*time.Hour + 30*time.Minute))
	env.OnActivity(liveActs.PrepareCycle, mock.Anything, mock.Anything).Return(live.CycleState{Latest: 3, ObsFile: "/obs/cycle-000004.csv"}, nil)
	rec := &advanceRecorder{env: env}
	env.OnActivity(liveActs.AdvanceCycles, mock.Anything, mock.Anything).Return(rec.fn)
	res := runCycle(t, env, cycleInput())
	if len(rec.calls) != 2 || rec.calls[0].From != 4 || rec.calls[0].To != 4 || rec.calls[1].From != 5 || rec.calls[1].To != 9 || rec.calls[1].ForecastOnlyTo {
		t.Fatalf("AdvanceCycles calls %+v, want 4..4 then 5..9 assimilating what is there", rec.calls)
	}
	if res.Cycle != 4 || res.Outcome != OutcomeAssimilated || len(res.Cycles) != 6 || res.Cycles[5].Cycle != 9 {
		t.Errorf("result %+v", res)
	}
}
