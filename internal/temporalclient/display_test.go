package temporalclient

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/temporal"
)

func TestDisplay(t *testing.T) {
	cause := errors.New("experiment: observations: observations: subset: index 99 out of range [0,40)")
	app := temporal.NewNonRetryableApplicationError(cause.Error(), "InvalidConfig", cause)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"plain", errors.New("config: c.yaml: cycles: must be >= 1, got 0"), "config: c.yaml: cycles: must be >= 1, got 0"},
		{"application error", fmt.Errorf("run r1: initialise: %w", app),
			"run r1: initialise: experiment: observations: subset: index 99 out of range [0,40)"},
		{"as a failed workflow prints it",
			errors.New("run r1 failed: workflow execution error (type: Assimilation, workflowID: latentda-r1, runID: 01a2): run r1: initialise: experiment: x (type: InvalidConfig, retryable: false): experiment: x (type: wrapError, retryable: true): x"),
			"run r1 failed: run r1: initialise: experiment: x"},
		{"activity error", errors.New("activity error (type: Cycles, scheduledEventID: 5, startedEventID: 6, identity: w): store: read a.arrow: truncated"),
			"store: read a.arrow: truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Display(tc.err); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
