package temporalclient

import (
	"context"
	"fmt"
	"os"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/latentda/latentda/store"
)

// Workflow histories for `latentda replay`: read from a JSON file (as
// `temporal workflow show --output json` writes it), fetched from a
// server, or saved.

// ReadHistory reads a JSON history file.
func ReadHistory(path string) (*historypb.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("temporalclient: %w", err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return nil, fmt.Errorf("temporalclient: %s: not a Temporal JSON history: %w", path, err)
	}
	if len(h.GetEvents()) == 0 {
		return nil, fmt.Errorf("temporalclient: %s: the history has no events", path)
	}
	if h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName() == "" {
		return nil, fmt.Errorf("temporalclient: %s: event %d is %v, want a WorkflowExecutionStarted event with the workflow type",
			path, h.Events[0].GetEventId(), h.Events[0].GetEventType())
	}
	return h, nil
}

// FetchHistory reads a workflow execution's full history from Temporal.
func FetchHistory(ctx context.Context, c client.Client, wfID, runID string) (*historypb.History, error) {
	it := c.GetWorkflowHistory(ctx, wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("temporalclient: history of %s: %w", wfID, err)
		}
		h.Events = append(h.Events, ev)
	}
	if len(h.Events) == 0 {
		return nil, fmt.Errorf("temporalclient: workflow %s has no history", wfID)
	}
	return h, nil
}

// SaveHistory writes h as indented protojson, which client.HistoryFromJSON
// reads back.
func SaveHistory(path string, h *historypb.History) error {
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		return fmt.Errorf("temporalclient: encode history: %w", err)
	}
	if err := store.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("temporalclient: %w", err)
	}
	return nil
}

// StartedInput decodes into v the input that the latest run of workflow
// wfID was started with (after a continue-as-new, the new run's input).
func StartedInput(ctx context.Context, c client.Client, wfID string, v any) error {
	it := c.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return fmt.Errorf("temporalclient: workflow %s has no history", wfID)
	}
	ev, err := it.Next()
	if err != nil {
		return fmt.Errorf("temporalclient: history of %s: %w", wfID, err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return fmt.Errorf("temporalclient: workflow %s: event %d is %v, want WorkflowExecutionStarted", wfID, ev.GetEventId(), ev.GetEventType())
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), v); err != nil {
		return fmt.Errorf("temporalclient: input of workflow %s: %w", wfID, err)
	}
	return nil
}
