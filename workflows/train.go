package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/latentda/latentda/activities"
	trainacts "github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/training"
)

// TrainInput starts the training of a generator.
type TrainInput struct {
	Config training.TrainConfig
}

// TrainGenerator builds the simulation archive of a training config and
// trains the generator on it, as two heartbeating regular activities: a
// worker that dies during training is noticed within the config's
// generator.heartbeat_timeout, and the retry resumes from the last
// checkpoint.
func TrainGenerator(ctx workflow.Context, in TrainInput) (trainacts.TrainOutput, error) {
	paths := trainacts.TrainPathsFor(in.Config.Name)
	retry := &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        10,
		NonRetryableErrorTypes: []string{activities.ErrInvalidConfig, activities.ErrDiverged, activities.ErrBadState},
	}
	var a *trainacts.Activities
	// The time to detect a dead worker (generator.heartbeat_timeout;
	// inputs recorded before it existed get its default). The archive
	// heartbeats at every snapshot, so it takes at most 2 minutes.
	hb := in.Config.WithDefaults().Generator.HeartbeatTimeout
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 4 * time.Hour,
		HeartbeatTimeout:    min(hb, 2*time.Minute),
		RetryPolicy:         retry,
	})
	var ar trainacts.ArchiveOutput
	if err := workflow.ExecuteActivity(actx, a.BuildArchive, trainacts.ArchiveInput{Config: in.Config, Paths: paths}).Get(ctx, &ar); err != nil {
		return trainacts.TrainOutput{}, failure(fmt.Sprintf("generator %s: archive", in.Config.Name), err)
	}
	tctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 48 * time.Hour,
		HeartbeatTimeout:    hb,
		RetryPolicy:         retry,
	})
	var out trainacts.TrainOutput
	if err := workflow.ExecuteActivity(tctx, a.TrainGenerator, trainacts.TrainInput{Config: in.Config, Paths: paths}).Get(ctx, &out); err != nil {
		return out, failure(fmt.Sprintf("generator %s: train", in.Config.Name), err)
	}
	return out, nil
}
