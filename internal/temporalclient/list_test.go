package temporalclient

import (
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/latentda/latentda/workflows"
)

// TestRunRows: a run that continued as new is one row, with its latest
// execution's search attributes and its first execution's start.
func TestRunRows(t *testing.T) {
	exec := func(id string, start time.Time, status enumspb.WorkflowExecutionStatus, cycle int64) *workflowpb.WorkflowExecutionInfo {
		p, err := converter.GetDefaultDataConverter().ToPayload(cycle)
		if err != nil {
			t.Fatal(err)
		}
		return &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id}, StartTime: timestamppb.New(start), Status: status,
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{workflows.AttrCycle.GetName(): p}},
		}
	}
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	rows := runRows([]*workflowpb.WorkflowExecutionInfo{
		exec("latentda-b", t0.Add(time.Hour), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, 7),
		exec("latentda-a", t0.Add(10*time.Minute), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, 15000),
		exec("latentda-a", t0, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, 10000),
		// Run c stopped at 720, then its run ID was run again to the end.
		exec("latentda-c", t0.Add(3*time.Hour), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, 3000),
		exec("latentda-c", t0.Add(2*time.Hour), enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, 720),
	})
	if len(rows) != 3 {
		t.Fatalf("rows %+v, want one per run", rows)
	}
	if a := rows[1]; a.ID != "latentda-a" || a.Cycle != 15000 || a.Started != "2026-12-05 10:00:00Z" {
		t.Errorf("continued run: %+v, want cycle 15000 of its latest execution, started at its first's 10:00:00", a)
	}
	if b := rows[0]; b.ID != "latentda-b" || b.Cycle != 7 || b.Started != "2026-12-05 11:00:00Z" {
		t.Errorf("run b: %+v", b)
	}
	if c := rows[2]; c.ID != "latentda-c" || c.Cycle != 3000 || c.Started != "2026-12-05 12:00:00Z" {
		t.Errorf("run c, run again after a stop: %+v, want cycle 3000 of its latest execution, started at its first's 12:00:00", c)
	}
}
