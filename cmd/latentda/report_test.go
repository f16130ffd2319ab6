package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportOfARun runs a short Lorenz-96 experiment in process and
// reports on it, by run ID and by run directory.
func TestReportOfARun(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "l96-etkf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "l96.yaml")
	short := strings.NewReplacer("cycles: 1000", "cycles: 30", "burn_in: 20 ", "burn_in: 0.5").Replace(string(src))
	if err := os.WriteFile(cfg, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "r1", "--in-process", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "runs", "r1")
	for _, tc := range []struct {
		args []string
		page string
	}{
		{[]string{"report", "r1", "--state-dir", dir, "--format", "html"}, filepath.Join(runDir, "report", "index.html")},
		{[]string{"report", runDir, "-o", filepath.Join(dir, "out")}, filepath.Join(dir, "out", "index.md")},
	} {
		out, _, err := execute(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != tc.page {
			t.Errorf("%v printed %q, want the page %s", tc.args, out, tc.page)
		}
		for _, name := range []string{filepath.Base(tc.page), "rmse.png", "flagged.png", "hovmoller.png"} {
			if _, err := os.Stat(filepath.Join(filepath.Dir(tc.page), name)); err != nil {
				t.Errorf("%v: %v", tc.args, err)
			}
		}
	}
	_, _, err = execute(t, "report", "no-such-run", "--state-dir", dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "runs", "no-such-run")) {
		t.Errorf("unknown run: error %v, want one naming the run directory looked for", err)
	}
}
