package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatusWhileBusy: while a run's local activities keep its workflow
// task open (heartbeating), `latentda status` is answered by the status
// query, not the search-attribute fallback, and `signal stop` ends the
// run; the status of a run that failed says why. With the client's earlier 5 s wait, which the server halves for a
// query held for an open task, most such queries ran out.
func TestStatusWhileBusy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and a run of about a minute, stopped early")
	}
	dir := t.TempDir()
	cfgPath, state := filepath.Join(dir, "busy.yaml"), filepath.Join(dir, "state")
	// About 30 ms a cycle and 0.3 s a batch: one workflow task holds
	// every batch (200 before Continue-As-New).
	cfg := `name: busy
cycles: 2000
model: {name: lorenz96}
observations: {operator: every-k, every: 4, steps_between: 20000}
filter: {method: etkf, members: 8, inflation: 1.05}
store: {forecast: mean, analysis: mean}
orchestration: {batch_cycles: 10}
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _ := startServer(t, "", 0)
	addr := srv.FrontendAddress()
	done := make(chan string, 1)
	go func() {
		out, stderr, err := execute(t, "run", "-c", cfgPath, "--address", addr, "--state-dir", state, "--run-id", "busy", "--max-time", "0")
		done <- fmt.Sprintf("%s%s%v", out, stderr, err)
	}()
	waitFor(t, time.Minute, func() bool { // initialised
		_, err := os.Stat(filepath.Join(state, "runs", "busy", "config.yaml"))
		return err == nil
	})
	prev, deadline := 0, time.Now().Add(time.Minute)
	for i := 0; i < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the run did not start cycling within a minute")
		}
		out, stderr, err := execute(t, "status", "busy", "--address", addr, "-o", "json")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, stderr)
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status -o json: %v\n%s", err, out)
		}
		cycle, _ := st["cycle"].(float64)
		if st["phase"] == "initializing" || cycle == 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if last, _ := st["last"].(map[string]any); last["obs_variance"] != nil || last["variance_scale"] != nil {
			t.Errorf("status -o json shows an observation-error estimate for a run without one:\n%s", out)
		}
		if _, queried := st["summary"]; !queried || st["phase"] != "cycling" || int(cycle) <= prev || cycle >= 2000 {
			t.Fatalf("status %d while cycling after cycle %d: want the query's answer, a later cycle, got\n%s", i, prev, out)
		}
		prev = int(cycle)
		i++
	}
	if out, stderr, err := execute(t, "signal", "busy", "stop", "--address", addr); err != nil || !strings.HasPrefix(out, "sent stop to run busy") {
		t.Fatalf("signal stop: %v\n%s%s", err, out, stderr)
	}
	select {
	case out := <-done:
		if !strings.Contains(out, "stopped by a signal") {
			t.Errorf("run after signal stop:\n%s", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not stop within 30 s of the stop signal")
	}

	// A failed run's status says why it failed: a KS grid too coarse
	// for its step diverges in the spin-up of its reference state.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\ncycles: 10\nmodel: {name: ks, nx: 32}\nfilter: {method: etkf, members: 4}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, "run", "-c", bad, "--address", addr, "--state-dir", state, "--run-id", "bad"); err == nil {
		t.Fatal("a run whose spin-up diverges did not fail")
	}
	out, stderr, err := execute(t, "status", "bad", "--address", addr)
	if err != nil || !strings.Contains(out, "phase     failed") || !strings.Contains(out, "failed    ") || !strings.Contains(out, "the reference state diverged in its spin-up") {
		t.Errorf("status of the failed run: %v\n%s%s", err, out, stderr)
	}

	// A run made in process has no workflow: its status comes from its
	// directory under --state-dir.
	solo := filepath.Join(dir, "solo.yaml")
	if err := os.WriteFile(solo, []byte(strings.Replace(cfg, "cycles: 2000", "cycles: 20", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, "run", "-c", solo, "--in-process", "--state-dir", state, "--run-id", "solo"); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = execute(t, "status", "solo", "--address", addr, "--state-dir", state)
	if err != nil || !strings.Contains(out, "phase     unknown\ncycle     20\n") || !strings.Contains(out, "source    the run directory") {
		t.Errorf("status of a run made in process: %v\n%s%s", err, out, stderr)
	}
	if _, _, err := execute(t, "status", "nosuch", "--address", addr, "--state-dir", state); err == nil || !strings.Contains(err.Error(), `no run or live run of that ID on the server, and run "nosuch": no run directory`) {
		t.Errorf("status of no run: %v", err)
	}
}
