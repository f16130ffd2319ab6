package workflows

import (
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// cycleReplayHistory is the history of a live run's cycle on the embedded
// server, started by a schedule: it waited for its observations (a timer,
// a poll) and ran forecast-only at the deadline. cmd/latentda's
// TestScheduleEndToEnd regenerates it:
//
//	LATENTDA_WRITE_HISTORY=1 go test ./cmd/latentda -run TestScheduleEndToEnd
//
// Do that only for a deliberate, versioned change of the Cycle workflow
// (see replayHistory).
const cycleReplayHistory = "testdata/cycle-history.json"

// TestCycleReplayHistoryIsRepresentative guards the recorded history: a
// schedule-started Cycle that waited, polled and ran forecast-only.
func TestCycleReplayHistoryIsRepresentative(t *testing.T) {
	h := readHistory(t, cycleReplayHistory)
	var acts []string
	counts := map[enumspb.EventType]int{}
	for _, ev := range h.Events {
		counts[ev.GetEventType()]++
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			acts = append(acts, a.GetActivityType().GetName())
		}
	}
	if got := strings.Join(acts, ","); !strings.HasPrefix(got, "PrepareCycle,FindObservations") || !strings.HasSuffix(got, ",AdvanceCycles") {
		t.Errorf("activities %s, want PrepareCycle, FindObservations..., AdvanceCycles", got)
	}
	if counts[enumspb.EVENT_TYPE_TIMER_FIRED] < 1 || counts[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED] != 1 {
		t.Errorf("history has no timer or does not complete: %v", counts)
	}
	start := h.Events[0].GetWorkflowExecutionStartedEventAttributes()
	if start.GetWorkflowType().GetName() != "Cycle" {
		t.Errorf("workflow type %q", start.GetWorkflowType().GetName())
	}
	if _, ok := start.GetSearchAttributes().GetIndexedFields()[AttrScheduledStart.GetName()]; !ok {
		t.Error("not started by a schedule: no TemporalScheduledStartTime")
	}
	var res CycleResult
	last := h.Events[len(h.Events)-1].GetWorkflowExecutionCompletedEventAttributes()
	if err := converter.GetDefaultDataConverter().FromPayloads(last.GetResult(), &res); err != nil || res.Outcome != OutcomeForecastOnly || res.Cycle != 2 {
		t.Errorf("result %+v (%v), want forecast-only", res, err)
	}
}

func TestCycleReplay(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(Cycle)
	if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), cycleReplayHistory); err != nil {
		t.Fatalf("replaying %s: %v", cycleReplayHistory, err)
	}
}

// TestCycleReplayDetectsChanges: a Cycle that stops waiting for
// observations, or never looks for them, must fail the replay.
func TestCycleReplayDetectsChanges(t *testing.T) {
	cases := map[string]func(workflow.Context, CycleInput) (CycleResult, error){
		"no wait": func(ctx workflow.Context, in CycleInput) (CycleResult, error) {
			in.Wait = 0
			return Cycle(ctx, in)
		},
		"a longer first sleep": func(ctx workflow.Context, in CycleInput) (CycleResult, error) {
			in.Poll = time.Hour
			in.Wait = 2 * time.Hour
			return Cycle(ctx, in)
		},
		"no activities": func(workflow.Context, CycleInput) (CycleResult, error) {
			return CycleResult{Outcome: OutcomeForecastOnly}, nil
		},
	}
	for name, wf := range cases {
		t.Run(name, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: "Cycle"})
			err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), cycleReplayHistory)
			if err == nil {
				t.Fatal("replay of a changed workflow succeeded")
			}
			if !strings.Contains(err.Error(), "TMPRL1100") {
				t.Errorf("replay failed, but not with a non-determinism error: %v", err)
			}
			t.Logf("replay error (first 200 bytes): %.200s", err)
		})
	}
}
