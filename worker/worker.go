// Package worker builds a Temporal worker that serves latentda's workflows
// and activities.
package worker

import (
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/live"
	"github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/workflows"
)

// New returns a worker on taskQueue (workflows.TaskQueue if empty) with the
// workflows and the activities registered; stateRoot is the directory the
// run paths are relative to.
func New(c client.Client, taskQueue, stateRoot string) sdkworker.Worker {
	return NewWith(c, taskQueue, &activities.Activities{StateRoot: stateRoot}, sdkworker.Options{})
}

// NewWith is New with the activities' dependencies (state root, metrics
// recorder, logger) given by the caller, the live and training activities
// getting the same, and with the SDK worker's options opts (such as which
// kinds of task it serves and how it stops). The workflows are registered
// unless opts.DisableWorkflowWorker.
func NewWith(c client.Client, taskQueue string, a *activities.Activities, opts sdkworker.Options) sdkworker.Worker {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	w := sdkworker.New(c, taskQueue, opts)
	if !opts.DisableWorkflowWorker {
		registerWorkflows(w)
	}
	registerActivities(w, a)
	return w
}

// registerActivities registers the activities of the three activity
// packages, with a's dependencies. Their names, as Temporal sees them, are
// their method names, whichever package holds them.
func registerActivities(w sdkworker.Worker, a *activities.Activities) {
	w.RegisterActivity(a)
	w.RegisterActivity(&live.Activities{StateRoot: a.StateRoot, AllowPaths: a.AllowPaths, Metrics: a.Metrics, Logger: a.Logger})
	w.RegisterActivity(&training.Activities{StateRoot: a.StateRoot, AllowPaths: a.AllowPaths, Logger: a.Logger})
}
