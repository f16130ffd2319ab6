package worker_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/worker"
	"github.com/latentda/latentda/workflows"
)

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

// TestReplayRecordedHistories replays every recorded history (one per
// workflow type; TestWriteReplayHistory writes them) against the workflows
// as New registers them.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "workflows", "testdata", "*-history.json"))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, f := range files {
		h := readHistory(t, f)
		types = append(types, h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName())
		if err := worker.Replay(worker.NewReplayer(), quietLogger(), h, ""); err != nil {
			t.Errorf("replaying %s: %v", f, err)
		}
	}
	slices.Sort(types)
	if want := []string{"Assimilation", "Cycle", "TrainGenerator"}; !slices.Equal(types, want) {
		t.Errorf("recorded histories of %v, want one of each workflow type %v", types, want)
	}
}

// TestTrainHistoryIsRepresentative guards the recorded training against
// being regenerated into something trivial: both activities, then
// completion.
func TestTrainHistoryIsRepresentative(t *testing.T) {
	h := readHistory(t, trainHistoryFile)
	var acts []string
	for _, ev := range h.Events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			acts = append(acts, a.GetActivityType().GetName())
		}
	}
	if want := []string{"BuildArchive", "TrainGenerator"}; !slices.Equal(acts, want) {
		t.Errorf("activities %v, want %v", acts, want)
	}
	if last := h.Events[len(h.Events)-1].GetEventType(); last != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
		t.Errorf("history ends in %v, want completion", last)
	}
}

// TestReplayReportsWhereCodeDiffers registers deliberately changed
// workflows under the recorded names: the replay must fail with a
// NonDeterminismError naming the workflow and the first workflow task
// whose commands differ.
func TestReplayReportsWhereCodeDiffers(t *testing.T) {
	var acts *activities.Activities
	var trainActs *training.Activities
	regular := func(ctx workflow.Context) workflow.Context {
		return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: workflow.GetInfo(ctx).WorkflowRunTimeout + 1})
	}
	cases := []struct {
		name, file, wfType string
		wf                 any
		// The event range of the workflow task that differs.
		first, last int64
		sdkSays     string
	}{
		{
			// The recorded training schedules BuildArchive first (event 5).
			name: "training skips the archive", file: trainHistoryFile, wfType: "TrainGenerator",
			wf: func(ctx workflow.Context, in workflows.TrainInput) (training.TrainOutput, error) {
				var out training.TrainOutput
				err := workflow.ExecuteActivity(regular(ctx), trainActs.TrainGenerator,
					training.TrainInput{Config: in.Config, Paths: training.TrainPathsFor(in.Config.Name)}).Get(ctx, &out)
				return out, err
			},
			first: 4, last: 9, sdkSays: "TMPRL1100",
		},
		{
			// The recorded training's second task schedules TrainGenerator
			// after the archive; the change stops there.
			name: "training stops after the archive", file: trainHistoryFile, wfType: "TrainGenerator",
			wf: func(ctx workflow.Context, in workflows.TrainInput) (training.TrainOutput, error) {
				var ar training.ArchiveOutput
				err := workflow.ExecuteActivity(regular(ctx), trainActs.BuildArchive,
					training.ArchiveInput{Config: in.Config, Paths: training.TrainPathsFor(in.Config.Name)}).Get(ctx, &ar)
				return training.TrainOutput{Path: ar.Path}, err
			},
			first: 10, last: 15, sdkSays: "TMPRL1100",
		},
		{
			name: "assimilation runs cycles before initialising", file: historyFile, wfType: "Assimilation",
			wf: func(ctx workflow.Context, in workflows.Input) (workflows.Result, error) {
				var out activities.CyclesOutput
				err := workflow.ExecuteActivity(regular(ctx), acts.RunCycles,
					activities.CyclesInput{RunID: in.RunID, RunPath: in.RunPath, Config: in.Config, From: 1, To: 10}).Get(ctx, &out)
				return workflows.Result{}, err
			},
			first: 5, last: 11, sdkSays: "TMPRL1100",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := readHistory(t, c.file)
			r := sdkworker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(c.wf, workflow.RegisterOptions{Name: c.wfType})
			err := worker.Replay(r, quietLogger(), h, "wf-1")
			var nd *worker.NonDeterminismError
			if !errors.As(err, &nd) {
				t.Fatalf("replay of a changed workflow: %v, want a NonDeterminismError", err)
			}
			if nd.WorkflowType != c.wfType || nd.FirstEvent != c.first || nd.LastEvent != c.last {
				t.Errorf("located %s events %d..%d, want %s events %d..%d", nd.WorkflowType, nd.FirstEvent, nd.LastEvent, c.wfType, c.first, c.last)
			}
			msg := err.Error()
			for _, want := range []string{c.wfType, "(wf-1)", c.sdkSays, "WorkflowTaskStarted"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not mention %q:\n%s", want, msg)
				}
			}
			t.Logf("%.400s", msg)
		})
	}
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}
