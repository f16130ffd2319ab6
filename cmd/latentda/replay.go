package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/worker"
)

// replayOptions holds the flags of `latentda replay`.
type replayOptions struct {
	connOptions
	WorkflowID  string
	RunID       string
	HistoryFile string
	Save        string
}

func newReplayCmd() *cobra.Command {
	o := &replayOptions{}
	cmd := &cobra.Command{
		Use:   "replay --workflow-id ID [--run-id R] | --history FILE.json",
		Short: "Replay a workflow history against this build's workflow code",
		Long: `Replays the event history of a workflow (fetched from Temporal, or read from a
JSON file as 'temporal workflow show --output json' or --save writes it)
against the workflow code of this binary, with the workflows registered as
'latentda worker' registers them. A history that no longer replays means that
workflows started by the build that wrote it would fail after an upgrade; the
error names the workflow, the events where code and history part ways, and
what differed, and the exit status is 1.

--save FILE writes the fetched history as JSON (how the histories under
workflows/testdata are recorded).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().StringVar(&o.WorkflowID, "workflow-id", "", "workflow ID (or run ID) whose history to fetch from Temporal")
	cmd.Flags().StringVar(&o.RunID, "run-id", "", "Temporal run ID of the workflow execution (default: the latest)")
	cmd.Flags().StringVar(&o.HistoryFile, "history", "", "JSON history file to replay instead of fetching one")
	cmd.Flags().StringVar(&o.Save, "save", "", "also write the fetched history to this JSON file")
	return cmd
}

func (o *replayOptions) Validate() error {
	switch {
	case (o.WorkflowID == "") == (o.HistoryFile == ""):
		return usageError{errors.New("give exactly one of --workflow-id and --history")}
	case o.RunID != "" && o.WorkflowID == "":
		return usageError{errors.New("--run-id needs --workflow-id")}
	case o.Save != "" && o.WorkflowID == "":
		return usageError{errors.New("--save needs --workflow-id")}
	}
	return nil
}

func (o *replayOptions) Run(ctx context.Context, stdout io.Writer) error {
	var h *historypb.History
	id := o.WorkflowID
	if o.HistoryFile != "" {
		var err error
		if h, err = readHistory(o.HistoryFile); err != nil {
			return err
		}
	} else {
		conn, err := o.connect(ctx, false)
		if err != nil {
			return err
		}
		defer conn.Close()
		id = temporalclient.WorkflowID(id)
		if h, err = fetchHistory(ctx, conn.Client, id, o.RunID); err != nil {
			return err
		}
		if o.Save != "" {
			if err := saveHistory(o.Save, h); err != nil {
				return err
			}
		}
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	if err := worker.Replay(worker.NewReplayer(), logger, h, id); err != nil {
		return err
	}
	typ := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
	_, err := fmt.Fprintf(stdout, "workflow %s %s: %d events replay deterministically against this build\n", typ, id, len(h.Events))
	return err
}

// readHistory reads a JSON history file.
func readHistory(path string) (*historypb.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return nil, fmt.Errorf("replay: %s: not a Temporal JSON history: %w", path, err)
	}
	if len(h.GetEvents()) == 0 {
		return nil, fmt.Errorf("replay: %s: the history has no events", path)
	}
	if h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName() == "" {
		return nil, fmt.Errorf("replay: %s: event %d is %v, want a WorkflowExecutionStarted event with the workflow type",
			path, h.Events[0].GetEventId(), h.Events[0].GetEventType())
	}
	return h, nil
}

// fetchHistory reads a workflow execution's full history from Temporal.
func fetchHistory(ctx context.Context, c client.Client, wfID, runID string) (*historypb.History, error) {
	it := c.GetWorkflowHistory(ctx, wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("replay: history of %s: %w", wfID, err)
		}
		h.Events = append(h.Events, ev)
	}
	if len(h.Events) == 0 {
		return nil, fmt.Errorf("replay: workflow %s has no history", wfID)
	}
	return h, nil
}

// saveHistory writes h as indented protojson, which client.HistoryFromJSON
// reads back.
func saveHistory(path string, h *historypb.History) error {
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		return fmt.Errorf("replay: encode history: %w", err)
	}
	if err := store.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return nil
}
