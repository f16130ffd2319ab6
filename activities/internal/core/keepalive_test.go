package core

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// TestKeepAlive: an activity whose one step takes four heartbeat timeouts
// (a slow external model's forecast) completes with KeepAlive, and times
// out without it (the SDK sends heartbeats at most every 0.8 timeouts);
// a step shorter than a third of the timeout sends no
// heartbeat, so none can come after the activity has returned.
func TestKeepAlive(t *testing.T) {
	const timeout = 300 * time.Millisecond
	step := func(keepAlive bool, d time.Duration) func(context.Context) error {
		return func(ctx context.Context) error {
			if keepAlive {
				var p atomic.Value
				p.Store(1)
				defer KeepAlive(ctx, &p)()
			}
			time.Sleep(d)
			return nil
		}
	}
	for _, tc := range []struct {
		name       string
		keepAlive  bool
		d          time.Duration
		ok         bool
		heartbeats func(int) bool
	}{
		{"slow step, kept alive", true, 4 * timeout, true, func(n int) bool { return n >= 3 }},
		{"slow step, silent", false, 4 * timeout, false, func(n int) bool { return n == 0 }},
		{"short step", true, timeout / 6, true, func(n int) bool { return n == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivityWithOptions(step(tc.keepAlive, tc.d), activity.RegisterOptions{Name: "Step"})
			var heartbeats atomic.Int32
			env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { heartbeats.Add(1) })
			env.ExecuteWorkflow(func(ctx workflow.Context) error {
				ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, HeartbeatTimeout: timeout})
				return workflow.ExecuteActivity(ctx, "Step").Get(ctx, nil)
			})
			if err := env.GetWorkflowError(); (err == nil) != tc.ok {
				t.Errorf("workflow error %v, want success %v", err, tc.ok)
			}
			if n := int(heartbeats.Load()); !tc.heartbeats(n) {
				t.Errorf("%d heartbeats", n)
			}
		})
	}
}
