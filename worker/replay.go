package worker

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/latentda/latentda/workflows"
)

// workflowRegistry is what a worker and a replayer have in common.
type workflowRegistry interface{ RegisterWorkflow(w any) }

// registerWorkflows registers every latentda workflow, for New and for
// NewReplayer alike: a replay checks the code the workers run.
func registerWorkflows(r workflowRegistry) {
	r.RegisterWorkflow(workflows.Assimilation)
	r.RegisterWorkflow(workflows.TrainGenerator)
	r.RegisterWorkflow(workflows.Cycle)
}

// NewReplayer returns a workflow replayer with the workflows New registers.
func NewReplayer() sdkworker.WorkflowReplayer {
	r := sdkworker.NewWorkflowReplayer()
	registerWorkflows(r)
	return r
}

// NonDeterminismError says where a replayed history and the current
// workflow code part ways.
type NonDeterminismError struct {
	WorkflowType string
	WorkflowID   string // "" for a history read from a file without it
	// FirstEvent..LastEvent are the events of the first workflow task
	// whose replay fails: the commands the code issues there differ from
	// what these events record.
	FirstEvent, LastEvent int64
	Events                []string // "id EventType" of that range
	Err                   error    // the SDK's error ([TMPRL1100] ...)
}

func (e *NonDeterminismError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "worker: workflow %s", e.WorkflowType)
	if e.WorkflowID != "" {
		fmt.Fprintf(&b, " (%s)", e.WorkflowID)
	}
	fmt.Fprintf(&b, " is not deterministic against this build: the history's events %d..%d [%s] differ from what the code does now: %v",
		e.FirstEvent, e.LastEvent, strings.Join(e.Events, ", "), e.Err)
	return b.String()
}

func (e *NonDeterminismError) Unwrap() error { return e.Err }

// Replay replays h with r and, when it fails, locates the first workflow
// task whose commands differ from the history by bisection over prefixes
// of the history. The replayer treats a history that ends in a
// WorkflowTaskStarted event as a partial one, and checks the commands of
// every task but the last two of such a prefix; so the prefix ending at the
// (j+2)-th WorkflowTaskStarted checks the tasks up to the j-th, and a
// prefix that replays cleanly has a deterministic past (longer ones fail no
// earlier). The returned error is a *NonDeterminismError; workflowID, if
// known, is only used in its message.
func Replay(r sdkworker.WorkflowReplayer, logger sdklog.Logger, h *historypb.History, workflowID string) error {
	if len(h.GetEvents()) == 0 {
		return errors.New("worker: replay: empty history")
	}
	wfType := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
	if wfType == "" {
		return errors.New("worker: replay: the history does not start with WorkflowExecutionStarted")
	}
	err := r.ReplayWorkflowHistory(logger, h)
	if err == nil {
		return nil
	}
	var cuts []int // indices of the WorkflowTaskStarted events
	for i, ev := range h.Events {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED {
			cuts = append(cuts, i)
		}
	}
	// fails(j): the tasks up to the j-th do not replay.
	fails := func(j int) bool {
		if j+2 >= len(cuts) {
			return true // the whole history, which fails
		}
		return r.ReplayWorkflowHistory(logger, &historypb.History{Events: h.Events[:cuts[j+2]+1]}) != nil
	}
	lo, hi := 0, len(h.Events)-1
	if j := sort.Search(len(cuts), fails); j < len(cuts) {
		// The task started at cuts[j]: its commands are recorded after
		// it, up to the next task's start.
		lo = cuts[j] + 1
		if j+1 < len(cuts) {
			hi = cuts[j+1]
		}
	}
	nd := &NonDeterminismError{
		WorkflowType: wfType, WorkflowID: workflowID,
		FirstEvent: h.Events[lo].GetEventId(), LastEvent: h.Events[hi].GetEventId(), Err: err,
	}
	for _, ev := range h.Events[lo : hi+1] {
		nd.Events = append(nd.Events, fmt.Sprintf("%d %s", ev.GetEventId(), strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")))
	}
	return nd
}
