package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	historypb "go.temporal.io/api/history/v1"
	sdklog "go.temporal.io/sdk/log"

	"github.com/latentda/latentda/internal/temporalclient"
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
	case o.WorkflowID != "":
		if err := checkWorkflowID(o.WorkflowID); err != nil {
			return err
		}
	}
	if o.RunID != "" {
		return checkRunID("--run-id", o.RunID)
	}
	return nil
}

// checkWorkflowID accepts what Temporal accepts as a workflow ID, printable
// UTF-8 of at most 1000 bytes: a live cycle's ID carries its nominal time,
// colons included (latentda-cycle-RUN-2026-12-06T20:20:58Z), so a run ID's
// stricter rule does not apply. The ID only goes to the server.
func checkWorkflowID(id string) error {
	const maxLen = 1000
	ok := len(id) <= maxLen && utf8.ValidString(id)
	for _, r := range id {
		ok = ok && unicode.IsPrint(r)
	}
	if !ok {
		return usageError{fmt.Errorf("--workflow-id %q: want printable UTF-8 of at most %d bytes", shorten(id), maxLen)}
	}
	return nil
}

func (o *replayOptions) Run(ctx context.Context, stdout io.Writer) error {
	var h *historypb.History
	id := o.WorkflowID
	if o.HistoryFile != "" {
		var err error
		if h, err = temporalclient.ReadHistory(o.HistoryFile); err != nil {
			return fmt.Errorf("--history: %w", err)
		}
		// Servers that record it give the ID in the first event; else the
		// file names the history.
		if id = h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowId(); id == "" {
			id = filepath.Base(o.HistoryFile)
		}
	} else {
		conn, err := o.connect(ctx, false)
		if err != nil {
			return err
		}
		defer conn.Close()
		id = temporalclient.WorkflowID(id)
		if h, err = temporalclient.FetchHistory(ctx, conn.Client, id, o.RunID); err != nil {
			return err
		}
		if o.Save != "" {
			if err := temporalclient.SaveHistory(o.Save, h); err != nil {
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
