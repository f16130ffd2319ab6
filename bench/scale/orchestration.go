package scale

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/latentda/latentda/devserver"
)

// Orchestration is the measured cost of Temporal activities on the
// embedded dev server (SQLite in memory), from the client's side: a
// workflow that runs n activities minus one that runs none, over n.
type Orchestration struct {
	Activities int `json:"activities"`
	// SequentialMillis is the cost per regular activity that does
	// nothing, run one after the other from one workflow; LocalMillis the
	// same for local activities (20n of them).
	SequentialMillis float64 `json:"sequential_ms"`
	LocalMillis      float64 `json:"local_ms"`
	// FanOutMillis is the cost per activity when the workflow starts all n
	// at once and waits for them (the block fan-out), served by one worker
	// process.
	FanOutMillis float64 `json:"fan_out_ms"`
}

// noop is the activity measured: it does nothing.
func noop(context.Context) error { return nil }

// activityLoop is the measuring workflow: n no-op activities, one after
// the other (or local ones, or all at once).
func activityLoop(ctx workflow.Context, n int, mode string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
	if mode == "fan-out" {
		fs := make([]workflow.Future, n)
		for i := range fs {
			fs[i] = workflow.ExecuteActivity(ctx, noop)
		}
		for _, f := range fs {
			if err := f.Get(ctx, nil); err != nil {
				return err
			}
		}
		return nil
	}
	for range n {
		var f workflow.Future
		if mode == "local" {
			f = workflow.ExecuteLocalActivity(ctx, noop)
		} else {
			f = workflow.ExecuteActivity(ctx, noop)
		}
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// MeasureOrchestration starts the embedded dev server and a worker, and
// times workflows of 0 and n activities in each mode, best of reps.
func MeasureOrchestration(ctx context.Context, n, reps int) (Orchestration, error) {
	if n < 1 || reps < 1 {
		return Orchestration{}, fmt.Errorf("scale: orchestration: need n >= 1 and reps >= 1, got %d and %d", n, reps)
	}
	quiet := slog.New(slog.DiscardHandler)
	srv, err := devserver.Start(ctx, devserver.Options{UIPort: -1, Logger: quiet})
	if err != nil {
		return Orchestration{}, fmt.Errorf("scale: orchestration: %w", err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: sdklog.NewStructuredLogger(quiet)})
	if err != nil {
		return Orchestration{}, fmt.Errorf("scale: orchestration: %w", err)
	}
	defer c.Close()
	const queue = "latentda-bench-orchestration"
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflow(activityLoop)
	w.RegisterActivity(noop)
	if err := w.Start(); err != nil {
		return Orchestration{}, fmt.Errorf("scale: orchestration: %w", err)
	}
	defer w.Stop()

	run := func(k int, mode string) (time.Duration, error) {
		best := time.Duration(1<<63 - 1)
		for range reps {
			t0 := time.Now()
			wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, activityLoop, k, mode)
			if err != nil {
				return 0, err
			}
			if err := wr.Get(ctx, nil); err != nil {
				return 0, err
			}
			best = min(best, time.Since(t0))
		}
		return best, nil
	}
	o := Orchestration{Activities: n}
	for _, m := range []struct {
		mode string
		k    int // local activities are ~100 times cheaper: run more
		dst  *float64
	}{{"sequential", n, &o.SequentialMillis}, {"local", 20 * n, &o.LocalMillis}, {"fan-out", n, &o.FanOutMillis}} {
		empty, err := run(0, m.mode)
		if err != nil {
			return o, fmt.Errorf("scale: orchestration: %s: %w", m.mode, err)
		}
		full, err := run(m.k, m.mode)
		if err != nil {
			return o, fmt.Errorf("scale: orchestration: %s: %w", m.mode, err)
		}
		*m.dst = float64(full-empty) / float64(m.k) / float64(time.Millisecond)
	}
	return o, nil
}
