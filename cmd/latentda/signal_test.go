package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latentda/latentda/store"
)

// TestStopsOnSIGTERM starts `latentda run --in-process` as a child
// process and sends it SIGTERM: inside a forecast of 5·10⁷ steps (a minute
// of work), and between short cycles once some are committed. Each time
// the process must exit within a few seconds with one line saying it was
// interrupted, no stack trace, and the committed cycles' diagnostics and
// last analysis intact.
func TestStopsOnSIGTERM(t *testing.T) {
	for _, tc := range []struct {
		name      string
		steps     int
		committed int // cycles to wait for before the signal
	}{
		{"inside a long forecast", 50_000_000, 0},
		{"after committed cycles", 100_000, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "long.yaml")
			cfg := fmt.Sprintf(`name: long
cycles: 1000
model: {name: lorenz96}
observations: {operator: every-k, every: 2, steps_between: %d}
filter: {method: etkf, members: 10}
orchestration: {batch_cycles: 1}
`, tc.steps)
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(dir, "state")
			p := startLatentda(t, dir, "run", "--in-process", "-c", cfgPath, "--state-dir", state, "--run-id", "long", "--max-time", "0")
			run := store.RunDir{Root: filepath.Join(state, "runs", "long")}
			waitFor(t, 60*time.Second, func() bool {
				if tc.committed == 0 {
					_, err := os.Stat(run.Config()) // initialised: cycle 1 runs
					return err == nil
				}
				rows, _, err := store.ReadDiagnostics(run.Diagnostics())
				return err == nil && len(rows) >= tc.committed
			})
			time.Sleep(500 * time.Millisecond)
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- p.cmd.Wait() }()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Fatal("latentda run did not exit within 10 s of SIGTERM")
			}
			if code := p.cmd.ProcessState.ExitCode(); code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			log, err := os.ReadFile(p.log)
			if err != nil {
				t.Fatal(err)
			}
			out := string(log)
			if strings.Count(out, "latentda: run long: interrupted; the cycles committed before stay in") != 1 || strings.Contains(out, "goroutine ") {
				t.Errorf("want one interrupted line and no stack trace, got:\n%s", out)
			}
			if tc.committed == 0 {
				return
			}
			rows, _, err := store.ReadDiagnostics(run.Diagnostics())
			if err != nil || len(rows) < tc.committed {
				t.Fatalf("diagnostics after the interruption: %d rows, %v", len(rows), err)
			}
			last := rows[len(rows)-1].Cycle
			rs := store.OpenRunState(run)
			defer rs.Close()
			if _, _, err := rs.Ensemble(store.FieldAnalysis, last); err != nil {
				t.Errorf("analysis of the last committed cycle %d: %v", last, err)
			}
		})
	}
}

// TestInProcessRunLocked: while one process runs a run in process, a
// second `run --in-process` of the same run ID is refused (both would
// rewrite the diagnostics from their own rows); once the first has ended,
// the same command continues the run.
func TestInProcessRunLocked(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "long.yaml")
	cfg := `name: long
cycles: 1000
model: {name: lorenz96}
observations: {operator: every-k, every: 2, steps_between: 100000}
filter: {method: etkf, members: 10}
orchestration: {batch_cycles: 1}
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	args := []string{"run", "--in-process", "-c", cfgPath, "--state-dir", state, "--run-id", "long", "--max-time", "0"}
	p := startLatentda(t, dir, args...)
	run := store.RunDir{Root: filepath.Join(state, "runs", "long")}
	waitFor(t, 60*time.Second, func() bool {
		_, err := os.Stat(run.Config())
		return err == nil
	})
	_, _, err := execute(t, args...)
	if err == nil || !strings.Contains(err.Error(), "run long: another process is running it in process") {
		t.Fatalf("second run of the same ID: %v, want a refusal", err)
	}
	p.kill(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, err := runCLI(ctx, args...); err != nil && strings.Contains(err.Error(), "another process") {
		t.Errorf("after the first process ended: %v", err)
	}
}

// waitFor polls ok until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
