package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentda/latentda/internal/temporalclient"
)

// TestRunsListAfterContinueAsNew: a run long enough to continue as new
// (one cycle per batch, past the 200 batches a workflow run holds) is
// listed once, by its latest execution, completed, with the start of its
// first.
func TestRunsListAfterContinueAsNew(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and runs 205 batches")
	}
	tmp := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join("..", "..", "examples", "l63-etkf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(tmp, "can.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), "cycles: 4000", "cycles: 205", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, c := startServer(t, "", 0)
	addr, state := srv.FrontendAddress(), filepath.Join(tmp, "state")
	if _, stderr, err := execute(t, "run", "-c", cfgPath, "--address", addr, "--state-dir", state, "--batch-cycles", "1", "--run-id", "can"); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	out, stderr, err := execute(t, "runs", "list", "--address", addr, "-o", "json")
	if err != nil {
		t.Fatalf("runs list: %v\n%s", err, stderr)
	}
	// `latentda runs` alone is `latentda runs list`.
	if alone, stderr, err := execute(t, "runs", "--address", addr, "-o", "json"); err != nil || alone != out {
		t.Errorf("runs: %v\n%s\n%s\nwant what runs list printed:\n%s", err, stderr, alone, out)
	}
	var rows []temporalclient.RunRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("runs list -o json: %v\n%s", err, out)
	}
	if len(rows) != 1 || rows[0].ID != "latentda-can" || rows[0].Status != "completed" || rows[0].Cycle != 205 {
		t.Fatalf("runs list: %+v, want latentda-can once, completed at cycle 205", rows)
	}
	// Started is the run's first execution's start.
	ctx := context.Background()
	h, err := temporalclient.FetchHistory(ctx, c, "latentda-can", "")
	if err != nil {
		t.Fatal(err)
	}
	firstRunID := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetFirstExecutionRunId()
	first, err := c.DescribeWorkflowExecution(ctx, "latentda-can", firstRunID)
	if err != nil {
		t.Fatal(err)
	}
	if want := first.GetWorkflowExecutionInfo().GetStartTime().AsTime().Format("2006-01-02 15:04:05Z"); rows[0].Started != want {
		t.Errorf("started %s, want the first execution's %s", rows[0].Started, want)
	}
}
