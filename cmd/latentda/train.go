package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	trainacts "github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/training"
	"github.com/latentda/latentda/workflows"
)

// trainOptions holds the flags of `latentda train`.
type trainOptions struct {
	connOptions
	ConfigPath string
	Output     string
	NoWorker   bool

	cfg training.TrainConfig
}

func newTrainCmd() *cobra.Command {
	o := &trainOptions{}
	cmd := &cobra.Command{
		Use:   "train -c CONFIG",
		Short: "Train a generator (PCA or autoencoder) on a simulation archive, as a Temporal workflow",
		Long: `Builds a simulation archive of the model (spin-up discarded, a snapshot every few
steps, the last part held out for validation) and trains the generator on it.
The result is --state-dir/generators/NAME.arrow, which an experiment config
names as latent.generator: generators/NAME.arrow. Training heartbeats every
epoch and writes a checkpoint, so the training of a crashed worker resumes
where it stopped, on another worker, after generator.heartbeat_timeout
(default 15m).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.addFlags(cmd, true)
	o.addAllowFlag(cmd)
	cmd.Flags().StringVarP(&o.ConfigPath, "config", "c", "", "training config (YAML), required")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "summary format: text or json")
	cmd.Flags().BoolVar(&o.NoWorker, "no-worker", false, "do not start a worker (with --address: workers run elsewhere)")
	return cmd
}

func (o *trainOptions) Complete() error {
	if o.ConfigPath == "" {
		return usageError{errors.New("--config is required")}
	}
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	if o.NoWorker && o.Address == "" {
		return usageError{errors.New("--no-worker needs --address: the embedded server has no other worker")}
	}
	cfg, err := training.LoadTrain(o.ConfigPath)
	if err != nil {
		return err
	}
	o.cfg = cfg
	if err := o.complete(); err != nil {
		return err
	}
	_, err = o.confine(o.ConfigPath, config.Config{Model: cfg.Model})
	return err
}

func (o *trainOptions) Run(ctx context.Context, stdout, stderr io.Writer) error {
	conn, err := o.connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	if !o.NoWorker {
		if err := conn.StartWorker(o.StateDir, o.TaskQueue, o.AllowPaths); err != nil {
			return err
		}
	}
	wfID := "latentda-train-" + o.cfg.Name
	run, err := conn.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:            wfID,
		TaskQueue:     o.TaskQueue,
		StaticSummary: fmt.Sprintf("train %s: %s d=%d on %s", o.cfg.Name, o.cfg.Generator.Type, o.cfg.Generator.LatentDim, o.cfg.Model.Name),
	}, workflows.TrainGenerator, workflows.TrainInput{Config: o.cfg})
	if err != nil {
		return fmt.Errorf("start workflow %s: %w", wfID, err)
	}
	fmt.Fprintf(stderr, "training %s: workflow %s\n", o.cfg.Name, wfID)
	done := make(chan error, 1)
	var out trainacts.TrainOutput
	go func() { done <- run.Get(ctx, &out) }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := ""
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("training %s failed: %w", o.cfg.Name, err)
			}
			if err := printTrainSummary(stdout, o.Output, out); err != nil {
				return err
			}
			// As run does once its run completed.
			conn.Drain(stderr)
			return nil
		case <-ctx.Done():
			fmt.Fprintf(stderr, "interrupted: training %s resumes from its checkpoint under `latentda dev --state-dir %s`\n", wfID, o.StateDir)
			return ctx.Err()
		case <-tick.C:
			if line := trainProgress(ctx, conn.Client, wfID); line != "" && line != last {
				fmt.Fprintln(stderr, line)
				last = line
			}
		}
	}
}

// trainProgress reads the latest heartbeat of the running activity.
func trainProgress(ctx context.Context, c client.Client, wfID string) string {
	resp, err := c.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		return ""
	}
	for _, pa := range resp.GetPendingActivities() {
		var p trainacts.TrainProgress
		if pa.GetHeartbeatDetails() == nil || converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &p) != nil {
			continue
		}
		if p.Phase == "archive" {
			return fmt.Sprintf("archive: %d/%d snapshots", p.Done, p.Total)
		}
		return epochLine(p)
	}
	return ""
}

// epochLine is a training heartbeat's progress line. A fitted generator
// (pca, quadratic) has no epochs, and before an epoch ends, in a run or
// after resuming from a checkpoint, there is no loss to show.
func epochLine(p trainacts.TrainProgress) string {
	switch {
	case p.Total == 0:
		return "fitting"
	case p.Done == 0:
		return fmt.Sprintf("epoch 0/%d  training", p.Total)
	case p.TrainLoss == 0 && p.ValidLoss == 0:
		return fmt.Sprintf("epoch %d/%d  resumed from the checkpoint", p.Done, p.Total)
	}
	return fmt.Sprintf("epoch %d/%d  train loss %.5f  validation loss %.5f", p.Done, p.Total, p.TrainLoss, p.ValidLoss)
}

func printTrainSummary(w io.Writer, format string, out trainacts.TrainOutput) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if _, err := fmt.Fprintf(w, "generator    %s\ntype         %s (%d → %d)\nheld-out MSE %.6g\n",
		out.Path, out.Type, out.LatentDim, out.StateDim, out.HeldOutMSE); err != nil {
		return err
	}
	if out.Epochs > 0 { // pca and quadratic are fitted, not trained by epochs
		if _, err := fmt.Fprintf(w, "epochs       %d (best %d)\n", out.Epochs, out.BestEpoch); err != nil {
			return err
		}
	}
	if out.ResumedFrom > 0 {
		_, err := fmt.Fprintf(w, "resumed      from the checkpoint of epoch %d\n", out.ResumedFrom)
		return err
	}
	return nil
}
