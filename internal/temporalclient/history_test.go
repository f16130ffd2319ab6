package temporalclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadHistoryMalformed: each malformed history file gives an error
// naming the file and what is wrong with it.
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
			_, err := ReadHistory(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("got %v, want an error naming %s and saying %q", err, p, tc.want)
			}
		})
	}
	if _, err := ReadHistory(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzReadHistory: any bytes give a history that starts with a workflow
// execution or an error, never a panic.
func FuzzReadHistory(f *testing.F) {
	recorded, err := os.ReadFile("../../workflows/testdata/train-history.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(recorded)
	f.Add([]byte(`{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "h.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, err := ReadHistory(p)
		if err == nil && h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName() == "" {
			t.Fatalf("no error, and the first event is %v", h.Events[0])
		}
	})
}
