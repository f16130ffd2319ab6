package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/latentda/latentda/workflows"
)

// RunRow is one run of `latentda runs list`: an assimilation workflow,
// described by its search attributes, or a live run, by its schedule.
type RunRow struct {
	// ID is the workflow ID of a run, or the schedule ID of a live run.
	ID      string  `json:"id"`
	Kind    string  `json:"kind"` // run or live
	Model   string  `json:"model"`
	Status  string  `json:"status"`
	Cycle   int64   `json:"cycle"`
	RMSEa   float64 `json:"rmse_a"` // of the latest cycle
	Started string  `json:"started"`
}

// ListRuns lists the assimilation runs of namespace, then the live runs
// (schedules of cycle workflows), whose status is active or paused and
// whose Started is their last cycle's nominal time. A run that continued
// as new is listed once, by its latest execution.
func ListRuns(ctx context.Context, c client.Client, namespace string) ([]RunRow, error) {
	var execs []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace:     namespace,
			Query:         "WorkflowType = 'Assimilation'",
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		execs = append(execs, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	rows := runRows(execs)
	live, err := ListSchedules(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, s := range live {
		r := RunRow{ID: s.ID, Kind: "live", Model: "-"}
		// The model, cycle and RMSE of the newest cycle workflow that has
		// set them (one just started has not yet).
		for _, w := range s.recent {
			resp, err := c.DescribeWorkflowExecution(ctx, w.WorkflowID, w.FirstExecutionRunID)
			if fields := resp.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields(); err == nil && fields[workflows.AttrCycle.GetName()] != nil {
				r.decode(fields)
				break
			}
		}
		r.Status = "active"
		if s.Paused {
			r.Status = "paused"
		}
		if !s.Last.IsZero() {
			r.Started = s.Last.Format("2006-01-02 15:04:05Z")
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// runRows are the rows of the executions of assimilation runs: one per
// run, its latest execution's (an execution that continued as new, or
// that a later one of the same run ID followed, is left out), started
// when its first execution started.
func runRows(execs []*workflowpb.WorkflowExecutionInfo) []RunRow {
	started := map[string]time.Time{}
	latest := map[string]*workflowpb.WorkflowExecutionInfo{}
	var order []string
	for _, e := range execs {
		id, t := e.GetExecution().GetWorkflowId(), e.GetStartTime().AsTime()
		if s, ok := started[id]; !ok || t.Before(s) {
			started[id] = t
		}
		if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			continue
		}
		l, ok := latest[id]
		if !ok {
			order = append(order, id)
		}
		if !ok || t.After(l.GetStartTime().AsTime()) {
			latest[id] = e
		}
	}
	rows := []RunRow{}
	for _, id := range order {
		r := RunRow{ID: id, Kind: "run", Started: started[id].Format("2006-01-02 15:04:05Z")}
		r.decode(latest[id].GetSearchAttributes().GetIndexedFields())
		rows = append(rows, r)
	}
	return rows
}

// decode sets the row's model, status, cycle and RMSE from a workflow's
// search attributes, those it has.
func (r *RunRow) decode(fields map[string]*commonpb.Payload) {
	decode := func(name string, v any) {
		if p, ok := fields[name]; ok {
			_ = converter.GetDefaultDataConverter().FromPayload(p, v)
		}
	}
	decode(workflows.AttrModel.GetName(), &r.Model)
	decode(workflows.AttrStatus.GetName(), &r.Status)
	decode(workflows.AttrCycle.GetName(), &r.Cycle)
	decode(workflows.AttrRMSEa.GetName(), &r.RMSEa)
}

// ScheduleRow is one live run's schedule in `latentda schedule list`.
type ScheduleRow struct {
	ID     string    `json:"id"`
	Paused bool      `json:"paused"`
	Next   time.Time `json:"next,omitzero"`
	Last   time.Time `json:"last,omitzero"`
	Note   string    `json:"note"`
	// recent are the cycle workflows of the latest ticks, newest first.
	recent []client.ScheduleWorkflowExecution
}

// ListSchedules lists the schedules of cycle workflows: the live runs.
func ListSchedules(ctx context.Context, c client.Client) ([]ScheduleRow, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	rows := []ScheduleRow{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if e.WorkflowType.Name != "Cycle" {
			continue
		}
		// A schedule paused on a failure has the failure's chain as its
		// note: each cause once.
		r := ScheduleRow{ID: e.ID, Paused: e.Paused, Note: Display(errors.New(e.Note))}
		if len(e.NextActionTimes) > 0 {
			r.Next = e.NextActionTimes[0].UTC()
		}
		if n := len(e.RecentActions); n > 0 {
			r.Last = e.RecentActions[n-1].ScheduleTime.UTC()
		}
		for _, a := range slices.Backward(e.RecentActions) {
			if w := a.StartWorkflowResult; w != nil {
				r.recent = append(r.recent, *w)
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// ScheduleOfRun returns the ID of a live-run schedule other than except
// whose cycles run runID, "" if there is none. Schedules deleted while it
// looks are passed over.
func ScheduleOfRun(ctx context.Context, c client.Client, runID, except string) (string, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return "", fmt.Errorf("list schedules: %w", err)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return "", fmt.Errorf("list schedules: %w", err)
		}
		if e.WorkflowType.Name != "Cycle" || e.ID == except {
			continue
		}
		desc, err := c.ScheduleClient().GetHandle(ctx, e.ID).Describe(ctx)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("describe schedule %s: %w", e.ID, err)
		}
		if in, err := ScheduleInput(desc); err == nil && in.RunID == runID {
			return e.ID, nil
		}
	}
	return "", nil
}
