package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentda/latentda/internal/temporalclient"
)

func TestReplayCommand(t *testing.T) {
	const train = "../../workflows/testdata/train-history.json"
	out, _, err := execute(t, "replay", "--history", train)
	if err != nil || !strings.Contains(out, "workflow TrainGenerator") || !strings.Contains(out, "replay deterministically") {
		t.Fatalf("replay of the recorded training: %v\n%s", err, out)
	}

	// A history recorded by a build whose first activity was named
	// differently: non-deterministic against this build.
	data, err := os.ReadFile(train)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "changed.json")
	if err := os.WriteFile(changed, []byte(strings.Replace(string(data), `"BuildArchive"`, `"BuildArchiveV0"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = execute(t, "replay", "--history", changed)
	var ue usageError
	if err == nil || errors.As(err, &ue) {
		t.Fatalf("replay of a changed history: %v, want a (non-usage) error", err)
	}
	for _, want := range []string{"workflow TrainGenerator", "events 4..9", "5 ActivityTaskScheduled", "BuildArchiveV0", "TMPRL1100"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}

func TestReplayUsage(t *testing.T) {
	for _, args := range [][]string{
		{"replay"},
		{"replay", "--history", "a.json", "--workflow-id", "x"},
		{"replay", "--history", "a.json", "--run-id", "r"},
		{"replay", "--history", "a.json", "--save", "b.json"},
	} {
		_, _, err := execute(t, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestReadHistoryMalformed(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "not a Temporal JSON history"},
		{"not JSON", "events: []", "not a Temporal JSON history"},
		{"no events", `{"events": []}`, "no events"},
		{"wrong type", `{"events": 3}`, "not a Temporal JSON history"},
		{"unknown event type", `{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_NOPE"}]}`, "want a WorkflowExecutionStarted event"},
		{"no start", `{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED"}]}`, "want a WorkflowExecutionStarted event"},
		{"start without type", `{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}`, "want a WorkflowExecutionStarted event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(p, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := temporalclient.ReadHistory(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("got %v, want an error naming %s and saying %q", err, p, tc.want)
			}
		})
	}
	if _, err := temporalclient.ReadHistory(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzReadHistory: any bytes give a history with events or an error, and
// a history that parses replays to a result or an error, never a panic.
func FuzzReadHistory(f *testing.F) {
	for _, p := range []string{"../../workflows/testdata/train-history.json"} {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "h.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, err := temporalclient.ReadHistory(p)
		if err == nil && len(h.Events) == 0 {
			t.Fatal("no error and no events")
		}
	})
}
