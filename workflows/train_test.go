package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	trainacts "github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/training"
)

// TestTrainHeartbeatTimeouts: the training activity's heartbeat timeout is
// generator.heartbeat_timeout; the archive's is the shorter of that and 2
// minutes.
func TestTrainHeartbeatTimeouts(t *testing.T) {
	for _, tc := range []struct {
		config, archive, train time.Duration
	}{
		{0, 2 * time.Minute, training.DefaultTrainHeartbeat},
		{10 * time.Second, 10 * time.Second, 10 * time.Second},
		{time.Hour, 2 * time.Minute, time.Hour},
	} {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(TrainGenerator)
		env.RegisterActivity(&trainacts.Activities{})
		env.OnActivity(trainActs.BuildArchive, mock.Anything, mock.Anything).Return(trainacts.ArchiveOutput{Path: "a", Samples: 2}, nil)
		env.OnActivity(trainActs.TrainGenerator, mock.Anything, mock.Anything).Return(trainacts.TrainOutput{}, nil)
		got := map[string]time.Duration{}
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			got[info.ActivityType.Name] = info.HeartbeatTimeout
		})
		cfg := training.TrainConfig{Name: "g", Model: config.ModelConfig{Name: "lorenz96"}}
		cfg.Generator.HeartbeatTimeout = tc.config
		env.ExecuteWorkflow(TrainGenerator, TrainInput{Config: cfg})
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		if got["BuildArchive"] != tc.archive || got["TrainGenerator"] != tc.train {
			t.Errorf("generator.heartbeat_timeout %v: archive %v, training %v; want %v, %v",
				tc.config, got["BuildArchive"], got["TrainGenerator"], tc.archive, tc.train)
		}
	}
}
