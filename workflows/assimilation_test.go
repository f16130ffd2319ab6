package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/live"
	"github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
)

// acts, liveActs and trainActs are the nil receivers whose method values
// name the activities.
var (
	acts      *activities.Activities
	liveActs  *live.Activities
	trainActs *training.Activities
)

func testInput(cycles, batch int) Input {
	return Input{
		RunID: "r1", RunPath: "runs/r1", BatchCycles: batch, Local: true,
		Config: config.Config{Name: "t", Cycles: cycles, Model: config.ModelConfig{Name: "lorenz63"}},
	}
}

// fakeCycles returns a RunCycles mock that reports rmse_a = cycle number
// for every cycle and records the batches it was asked for.
func fakeCycles(batches *[][2]int) func(context.Context, activities.CyclesInput) (activities.CyclesOutput, error) {
	return func(_ context.Context, in activities.CyclesInput) (activities.CyclesOutput, error) {
		*batches = append(*batches, [2]int{in.From, in.To})
		var out activities.CyclesOutput
		for k := in.From; k <= in.To; k++ {
			st := experiment.CycleStats{Cycle: k, RMSEa: float64(k)}
			out.Sums.Add(st, true)
			out.Last = st
		}
		return out, nil
	}
}

// queryStatus answers the status query of env's workflow.
func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Assimilation)
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(acts.Initialize, mock.Anything, mock.Anything).
		Return(activities.InitOutput{RunDir: "/state/runs/r1", Diagnostics: "/state/runs/r1/diagnostics.arrow"}, nil)
	return env
}

func TestCyclesInBatches(t *testing.T) {
	for _, local := range []bool{true, false} {
		env := newEnv(t)
		var batches [][2]int
		env.OnActivity(acts.RunCycles, mock.Anything, mock.Anything).Return(fakeCycles(&batches))
		in := testInput(23, 10)
		in.Local = local
		env.ExecuteWorkflow(Assimilation, in)
		if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
			t.Fatalf("local=%v: workflow did not complete: %v", local, env.GetWorkflowError())
		}
		var res Result
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		want := [][2]int{{1, 10}, {11, 20}, {21, 23}}
		if len(batches) != len(want) {
			t.Fatalf("batches %v, want %v", batches, want)
		}
		for i := range want {
			if batches[i] != want[i] {
				t.Fatalf("batches %v, want %v", batches, want)
			}
		}
		if res.Summary.Cycles != 23 || res.Summary.RMSEa != 12 || res.RunDir != "/state/runs/r1" || res.Stopped {
			t.Errorf("unexpected result %+v", res)
		}
	}
}

func TestContinueAsNewCarriesState(t *testing.T) {
	env := newEnv(t)
	var batches [][2]int
	env.OnActivity(acts.RunCycles, mock.Anything, mock.Anything).Return(fakeCycles(&batches))
	in := testInput(maxBatchesPerRun+5, 1)
	env.ExecuteWorkflow(Assimilation, in)
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("got %v, want Continue-As-New", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Next != maxBatchesPerRun+1 || next.Sums.Cycles != maxBatchesPerRun || next.RunDir != "/state/runs/r1" {
		t.Fatalf("carried state %+v", next)
	}
	// The continued run finishes the remaining cycles without initialising.
	env2 := newEnv(t)
	batches = nil
	env2.OnActivity(acts.RunCycles, mock.Anything, mock.Anything).Return(fakeCycles(&batches))
	env2.ExecuteWorkflow(Assimilation, next)
	var res Result
	if err := env2.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(batches) != 5 || res.Summary.Cycles != maxBatchesPerRun+5 {
		t.Errorf("continued run: %d batches, summary %+v", len(batches), res.Summary)
	}
}

func TestPauseResumeAndStatus(t *testing.T) {
	env := newEnv(t)
	var batches [][2]int
	env.OnActivity(acts.RunCycles, mock.Anything, mock.Anything).Return(fakeCycles(&batches))
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPause, nil) }, 0)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryStatus)
		if err != nil {
			t.Error(err)
			return
		}
		var st Status
		if err := v.Get(&st); err != nil {
			t.Error(err)
		}
		if st.Phase != PhasePaused {
			t.Errorf("phase %q while paused", st.Phase)
		}
		env.SignalWorkflow(SignalResume, nil)
	}, time.Hour)
	env.ExecuteWorkflow(Assimilation, testInput(20, 5))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	st := queryStatus(t, env)
	if st.Phase != PhaseCompleted || st.Cycle != 20 || st.Last.Cycle != 20 {
		t.Errorf("final status %+v", st)
	}
}

// TestFlaggedBatchPause: a batch that pauses at cycle 5 (its cycles
// 1..5) pauses the run unless the pause was answered before (a run
// started again after a resume); a paused run that is stopped reports
// stopped, without the pause's advice to signal resume.
func TestFlaggedBatchPause(t *testing.T) {
	for _, answered := range []bool{false, true} {
		env := newEnv(t)
		var batches [][2]int
		env.OnActivity(acts.RunCycles, mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in activities.CyclesInput) (activities.CyclesOutput, error) {
				if in.From == 1 {
					in.To = 5
				}
				out, err := fakeCycles(&batches)(ctx, in)
				if in.From == 1 {
					out.PauseAt, out.Answered = 5, answered
				}
				return out, err
			})
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalStop, nil) }, time.Hour)
		env.ExecuteWorkflow(Assimilation, testInput(20, 10))
		var res Result
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		st := queryStatus(t, env)
		switch {
		case answered && (res.Stopped || res.Summary.Cycles != 20):
			t.Errorf("answered pause: stopped %v after %d cycles, want all 20 without pausing", res.Stopped, res.Summary.Cycles)
		case !answered && (!res.Stopped || res.Summary.Cycles != 5 || st.Phase != PhaseStopped || st.PauseReason != ""):
			t.Errorf("pause, then stop: stopped %v after %d cycles, status %q with pause reason %q; want stopped at 5 and no reason", res.Stopped, res.Summary.Cycles, st.Phase, st.PauseReason)
		}
	}
}

func TestStopAfterCurrentBatch(t *testing.T) {
	env := newEnv(t)
	var batches [][2]int
	env.OnActivity(acts.RunCycles, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.CyclesInput) (activities.CyclesOutput, error) {
			if in.From == 1 {
				env.SignalWorkflow(SignalStop, nil)
			}
			return fakeCycles(&batches)(ctx, in)
		})
	env.ExecuteWorkflow(Assimilation, testInput(100, 10))
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || len(batches) != 1 || res.Summary.Cycles != 10 {
		t.Errorf("stopped=%v after %d batches, summary %+v", res.Stopped, len(batches), res.Summary)
	}
}

func TestDivergenceFailsTheRun(t *testing.T) {
	env := newEnv(t)
	calls := 0
	env.OnActivity(acts.RunCycles, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CyclesInput) (activities.CyclesOutput, error) {
			calls++
			return activities.CyclesOutput{}, temporal.NewNonRetryableApplicationError("experiment: cycle 7: enkf: analysis member 0 variable 3 is NaN (diverged)", activities.ErrDiverged, nil)
		})
	env.ExecuteWorkflow(Assimilation, testInput(20, 10))
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrDiverged {
		t.Fatalf("got %v, want a Diverged application error", err)
	}
	if calls != 1 {
		t.Errorf("non-retryable failure was attempted %d times", calls)
	}
}
