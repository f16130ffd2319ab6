package workflows

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/latentda/latentda/activities"
)

// replayHistory is the history of a real run on the embedded server (L63,
// 40 cycles in local-activity batches of 10, paused before the first batch
// and resumed). worker's TestWriteReplayHistory regenerates it:
//
//	LATENTDA_WRITE_HISTORY=1 go test ./worker -run TestWriteReplayHistory
//
// Do that only for a deliberate change of the workflow that running
// workflows never see (or one guarded by workflow.GetVersion, keeping the
// old file as a second case): a failing replay means that workflows started
// by the previous build would fail with a non-determinism error after an
// upgrade.
const replayHistory = "testdata/assimilation-history.json"

// replayActs is the nil receiver whose method values name the activities.
var replayActs *activities.Activities

// readHistory reads a recorded history file.
func readHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return h
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestReplayHistoryIsRepresentative guards the recorded history against
// being regenerated into something trivial: it must hold the signals and
// the local activity batches the replay is meant to exercise.
func TestReplayHistoryIsRepresentative(t *testing.T) {
	h := readHistory(t, replayHistory)
	var signals []string
	counts := map[enumspb.EventType]int{}
	for _, ev := range h.Events {
		counts[ev.GetEventType()]++
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
			signals = append(signals, a.GetSignalName())
		}
	}
	if got := strings.Join(signals, ","); got != SignalPause+","+SignalResume {
		t.Errorf("signals %q, want pause then resume", got)
	}
	// Initialize and 4 batches of 10 cycles.
	if n := counts[enumspb.EVENT_TYPE_MARKER_RECORDED]; n != 5 {
		t.Errorf("%d local activity markers, want 5", n)
	}
	if n := counts[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED]; n != 1 {
		t.Errorf("history does not end in completion (%v)", counts)
	}
	if a := h.Events[0].GetWorkflowExecutionStartedEventAttributes(); a.GetWorkflowType().GetName() != "Assimilation" ||
		a.GetWorkflowTaskTimeout().AsDuration() != WorkflowTaskTimeout {
		t.Errorf("started as %q with workflow task timeout %v", a.GetWorkflowType().GetName(), a.GetWorkflowTaskTimeout().AsDuration())
	}
}

// TestReplay replays the recorded history against the current workflow
// code: any change to the commands the workflow issues for the same
// history is a non-determinism error here rather than in production.
func TestReplay(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(Assimilation)
	if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), replayHistory); err != nil {
		t.Fatalf("replaying %s: %v", replayHistory, err)
	}
}

// TestReplayDetectsChanges proves the replay test can fail: workflows that
// differ from the recorded one, registered under its name, must be rejected
// with a non-determinism error.
func TestReplayDetectsChanges(t *testing.T) {
	initialUpsert := func(ctx workflow.Context, in Input) {
		_ = workflow.UpsertTypedSearchAttributes(ctx,
			AttrCycle.ValueSet(0), AttrRMSEa.ValueSet(0),
			AttrModel.ValueSet(in.Config.Model.Name), AttrStatus.ValueSet(PhaseInitializing))
	}
	localCtx := func(ctx workflow.Context) workflow.Context {
		return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
	}
	cases := []struct {
		name string
		wf   func(workflow.Context, Input) (Result, error)
	}{
		{
			// The recorded run's first local activity is Initialize.
			"runs a different local activity first",
			func(ctx workflow.Context, in Input) (Result, error) {
				initialUpsert(ctx, in)
				var out activities.CyclesOutput
				err := workflow.ExecuteLocalActivity(localCtx(ctx), replayActs.RunCycles,
					activities.CyclesInput{RunID: in.RunID, RunPath: in.RunPath, Config: in.Config, From: 1, To: in.BatchCycles}).Get(ctx, &out)
				return Result{}, err
			},
		},
		{
			"schedules a regular activity instead of a local one",
			func(ctx workflow.Context, in Input) (Result, error) {
				initialUpsert(ctx, in)
				ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
				var out activities.InitOutput
				err := workflow.ExecuteActivity(ctx, replayActs.Initialize,
					activities.InitInput{RunID: in.RunID, RunPath: in.RunPath, Config: in.Config}).Get(ctx, &out)
				return Result{}, err
			},
		},
		{
			"skips the search attribute update",
			func(ctx workflow.Context, in Input) (Result, error) {
				var out activities.InitOutput
				err := workflow.ExecuteLocalActivity(localCtx(ctx), replayActs.Initialize,
					activities.InitInput{RunID: in.RunID, RunPath: in.RunPath, Config: in.Config}).Get(ctx, &out)
				return Result{}, err
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(c.wf, workflow.RegisterOptions{Name: "Assimilation"})
			err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), replayHistory)
			if err == nil {
				t.Fatal("replay of a changed workflow succeeded; the replay test cannot detect non-determinism")
			}
			// [TMPRL1100] is the SDK's code for every non-determinism error.
			if !strings.Contains(err.Error(), "TMPRL1100") {
				t.Errorf("replay failed, but not with a non-determinism error: %v", err)
			}
			t.Logf("replay error (first 300 bytes): %.300s", err)
		})
	}
}
