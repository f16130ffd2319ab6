// Package worker builds a Temporal worker that serves latentda's workflows
// and activities.
package worker

import (
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/workflows"
)

// New returns a worker on taskQueue (workflows.TaskQueue if empty) with the
// workflows and the activities registered; stateRoot is the directory the
// run paths are relative to.
func New(c client.Client, taskQueue, stateRoot string) sdkworker.Worker {
	return NewWith(c, taskQueue, &activities.Activities{StateRoot: stateRoot})
}

// NewWith is New with the activities' dependencies (state root, metrics
// recorder, logger) given by the caller.
func NewWith(c client.Client, taskQueue string, a *activities.Activities) sdkworker.Worker {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	w := sdkworker.New(c, taskQueue, sdkworker.Options{})
	registerWorkflows(w)
	w.RegisterActivity(a)
	return w
}
