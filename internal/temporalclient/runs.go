package temporalclient

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/workflows"
)

// SearchAttributesAtStart are the search attributes a run's workflow
// starts with.
func SearchAttributesAtStart(c config.Config) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		workflows.AttrModel.ValueSet(c.Model.Name),
		workflows.AttrStatus.ValueSet(workflows.PhaseInitializing),
		workflows.AttrCycle.ValueSet(0),
	)
}

// queryTimeout bounds a status query. While a run's local activities
// run, its workflow task stays open, heartbeating every 80% of
// workflows.WorkflowTaskTimeout (1.6 s); the server hands a query to the
// worker with the task that follows a heartbeat, and the worker answers it
// with the next one, so it is answered within two heartbeats, 3.2 s. The
// server gives a query that waits on an open task half the client's
// deadline: at 5 s most of them ran out at 2.5 s. 10 s leaves 5.
const queryTimeout = 10 * time.Second

// WorkflowID maps a run ID (or a workflow ID) to the workflow ID.
func WorkflowID(run string) string {
	if strings.HasPrefix(run, "latentda-") {
		return run
	}
	return "latentda-" + run
}

// QueryStatus asks the workflow's status query, waiting at most
// queryTimeout.
func QueryStatus(ctx context.Context, c client.Client, wfID string) (workflows.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var st workflows.Status
	v, err := c.QueryWorkflow(ctx, wfID, "", workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// DescribeStatus reads what the server itself knows of a run, its search
// attributes (updated after every batch): always available, even while the
// workflow is busy.
func DescribeStatus(ctx context.Context, c client.Client, wfID string) (workflows.Status, error) {
	resp, err := c.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		return workflows.Status{}, err
	}
	var st workflows.Status
	st.RunID = strings.TrimPrefix(wfID, "latentda-")
	fields := resp.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	decode := func(name string, v any) {
		if p, ok := fields[name]; ok {
			_ = converter.GetDefaultDataConverter().FromPayload(p, v)
		}
	}
	var cycle, flagged int64
	decode(workflows.AttrFlagged.GetName(), &flagged)
	st.Summary.Flagged = int(flagged)
	decode(workflows.AttrStatus.GetName(), &st.Phase)
	decode(workflows.AttrCycle.GetName(), &cycle)
	decode(workflows.AttrRMSEa.GetName(), &st.Last.RMSEa)
	st.Cycle = int(cycle)
	return st, nil
}

// StaticSummary is the one-line summary of a run's workflow in the
// Temporal UI.
func StaticSummary(c config.Config) string {
	return fmt.Sprintf("%s: %s %s N=%d, %d cycles", c.Name, c.Model.Name, strings.ToUpper(c.Filter.Method), c.Filter.Members, c.Cycles)
}

// StaticDetails is the config of a run as the workflow's details in the
// Temporal UI.
func StaticDetails(c config.Config) string {
	y, err := c.Marshal()
	if err != nil {
		return ""
	}
	return "```yaml\n" + string(y) + "```\n"
}
