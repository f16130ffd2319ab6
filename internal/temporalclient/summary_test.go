package temporalclient

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgress: one line per new cycle, or one line rewritten in place
// (on a terminal) and ended by Done; a cycle already shown is not shown
// again.
func TestProgress(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		var buf bytes.Buffer
		p := &Progress{w: &buf, total: 10, start: time.Now(), inPlace: inPlace, last: -1}
		p.Update(0, 1) // no cycle yet
		p.Update(2, 0.5)
		p.Update(2, 0.5)
		p.Update(5, 0.25)
		p.Done()
		out := buf.String()
		if n := strings.Count(out, "cycle "); n != 2 || !strings.Contains(out, "cycle 2/10  rmse_a 0.5000") || !strings.Contains(out, "cycle 5/10  rmse_a 0.2500") {
			t.Errorf("in place %v: got %q", inPlace, out)
		}
		if inPlace != (strings.Count(out, "\r\033[K") == 2) || strings.Count(out, "\n") != map[bool]int{false: 2, true: 1}[inPlace] {
			t.Errorf("in place %v: got %q", inPlace, out)
		}
	}
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}

// TestWriteTextSays: the text summary says when a run was stopped, when
// it ran without a workflow, and that there are no means before the
// burn-in ends.
func TestWriteTextSays(t *testing.T) {
	for _, tc := range []struct {
		s    RunSummary
		want string
	}{
		{RunSummary{RunID: "a", WorkflowID: "latentda-a", Cycles: 7, Scored: 5, Stopped: true}, "cycles       7 (5 scored after burn-in), stopped by a signal\n"},
		{RunSummary{RunID: "a", WorkflowID: "latentda-a", Cycles: 7, Scored: 5}, "cycles       7 (5 scored after burn-in)\n"},
		{RunSummary{RunID: "a"}, "workflow     none (run in process)\n"},
		{RunSummary{RunID: "a", Cycles: 3}, "rmse_a       — (no cycle after the burn-in)\n"},
		{RunSummary{RunID: "a", Cycles: 7, Scored: 5, RMSEa: 0.25}, "rmse_a       0.2500\n"},
		{RunSummary{RunID: "a", Cycles: 7, Scored: 5, NISRatio: 26.6}, "warning      the innovations are 26.6 times what the ensemble spread expects"},
	} {
		var b strings.Builder
		if err := tc.s.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("summary lacks %q:\n%s", tc.want, b.String())
		}
	}
	// A consistent filter, or no scored cycle, is not warned about.
	for _, s := range []RunSummary{{Cycles: 7, Scored: 5, NISRatio: 1.6}, {Cycles: 7, NISRatio: 26.6}} {
		var b strings.Builder
		if err := s.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "warning") {
			t.Errorf("a warning for %+v:\n%s", s, b.String())
		}
	}
}
