package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
