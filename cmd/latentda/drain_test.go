package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
)

// drainConfig is a Lorenz-96 run of about 30 ms a cycle (the long forecasts
// of TestStatusWhileBusy's config); %d is the number of cycles.
const drainConfig = `name: drain
cycles: %d
model: {name: lorenz96}
observations: {operator: every-k, every: 4, steps_between: 20000}
filter: {method: etkf, members: 8, inflation: 1.05}
store: {forecast: mean, analysis: mean}
`

// TestRunDrainsOtherRunsActivities: the worker of a `latentda run` process
// (A) picks up the regular activity of another run (B) from the shared
// task queue; when A's own run ends, A lets that activity finish before it
// exits, instead of abandoning it for B to wait out its 2-minute heartbeat
// timeout.
func TestRunDrainsOtherRunsActivities(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and two latentda processes")
	}
	tmp := t.TempDir()
	stateDir := filepath.Join(tmp, "state")
	// B: one regular activity of 150 cycles (about 4.5 s); A: 40 cycles
	// of local activities, which end while B's batch runs.
	cfgB, _ := writeConfig(t, tmp, "b.yaml", fmt.Sprintf(drainConfig, 150))
	cfgA, _ := writeConfig(t, tmp, "a.yaml", fmt.Sprintf(drainConfig, 40))
	srv, c := startServer(t, "", 0)
	addr := srv.FrontendAddress()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	doneB := startRun(ctx, addr, stateDir, cfgB, "b", "--activity", "regular", "--batch-cycles", "150", "--max-time", "0")
	waitFor(t, time.Minute, func() bool { // B waits for a worker
		_, err := c.DescribeWorkflowExecution(ctx, "latentda-b", "")
		return err == nil
	})
	a := startLatentda(t, tmp, "run", "-c", cfgA, "--address", addr, "--state-dir", stateDir, "--run-id", "a", "-o", "json", "--max-time", "0")
	exited := make(chan error, 1)
	go func() { exited <- a.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("latentda run (A): %v\n%s", err, a.output())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("latentda run (A) did not exit within 2 minutes:\n%s", a.output())
	}

	// A exited. Was B's batch finished by A's worker, at its first attempt,
	// after A's own run had ended?
	descA, err := c.DescribeWorkflowExecution(ctx, "latentda-a", "")
	if err != nil {
		t.Fatal(err)
	}
	endA := descA.GetWorkflowExecutionInfo().GetCloseTime().AsTime()
	h := workflowHistory(ctx, t, c, "latentda-b")
	var batch int64
	var completed bool
	for _, ev := range h.Events {
		if at := ev.GetActivityTaskScheduledEventAttributes(); at != nil && at.GetActivityType().GetName() == "RunCycles" {
			batch = ev.GetEventId()
		}
		if at := ev.GetActivityTaskStartedEventAttributes(); at != nil && batch != 0 && at.GetScheduledEventId() == batch {
			if pid := byPID([]string{at.GetIdentity()}); pid[a.pid()] != 1 || at.GetAttempt() != 1 {
				t.Errorf("B's batch: attempt %d by %s, want attempt 1 by process A (pid %d)", at.GetAttempt(), at.GetIdentity(), a.pid())
			}
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED && ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId() == batch {
			completed = true
			after := ev.GetEventTime().AsTime().Sub(endA)
			if after <= 0 {
				t.Fatalf("B's batch finished %v before A's run ended: the test tests nothing; make B's batch longer", -after)
			}
			t.Logf("B's batch finished on A's worker %v after A's run ended", after)
		}
	}
	if !completed {
		t.Fatalf("B's batch was not finished when A exited: A abandoned it\nA's output:\n%s", a.output())
	}
	if out := a.output(); !strings.Contains(out, "waiting for the activities in flight on this worker") {
		t.Errorf("A did not log that it waits for other runs' activities:\n%s", out)
	}

	// The rest of B (its workflow tasks) needs a worker.
	startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", stateDir)
	if err := <-doneB; err != nil {
		t.Fatalf("run B: %v", err)
	}
}

// TestRunInterruptedStopsPromptly: `latentda run` interrupted (SIGINT)
// while its worker runs a long regular activity exits within seconds:
// only a run that has ended waits for its worker's activities.
func TestRunInterruptedStopsPromptly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and a latentda process")
	}
	tmp := t.TempDir()
	stateDir := filepath.Join(tmp, "state")
	cfg, _ := writeConfig(t, tmp, "long.yaml", fmt.Sprintf(drainConfig, 2000)) // a minute a batch
	srv, c := startServer(t, "", 0)
	addr := srv.FrontendAddress()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	p := startLatentda(t, tmp, "run", "-c", cfg, "--address", addr, "--state-dir", stateDir, "--run-id", "long",
		"--activity", "regular", "--batch-cycles", "2000", "--max-time", "0")
	waitFor(t, time.Minute, func() bool { // the batch runs on p's worker
		d, err := c.DescribeWorkflowExecution(ctx, "latentda-long", "")
		if err != nil {
			return false
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == "RunCycles" && a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return true
			}
		}
		return false
	})
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("latentda run did not exit within 20 s of SIGINT:\n%s", p.output())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("latentda run took %v to exit after SIGINT, want a few seconds at most", took)
	}
	if out := p.output(); !strings.Contains(out, "run long: interrupted") || strings.Contains(out, "waiting for the activities in flight on this worker") {
		t.Errorf("want the interrupted message and no wait for activities:\n%s", out)
	}
	// The cancelled batch was reported, not abandoned: its retry waits
	// for a worker, not for the heartbeat timeout.
	d, err := c.DescribeWorkflowExecution(ctx, "latentda-long", "")
	if err != nil {
		t.Fatal(err)
	}
	pending := d.GetPendingActivities()
	if len(pending) != 1 || pending[0].GetActivityType().GetName() != "RunCycles" || pending[0].GetAttempt() != 2 || pending[0].GetLastFailure() == nil {
		t.Errorf("pending activities after the interrupt: %v; want the batch's second attempt after the reported cancellation", pending)
	}
}
