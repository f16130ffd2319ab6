package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	trainacts "github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/training"
)

// crashTrain is an autoencoder training of many short epochs, with a 2 s
// heartbeat timeout so that a killed worker's training is retried quickly.
const crashTrain = `name: ae-crash
model: {name: lorenz96, nx: 40}
archive: {samples: 400, every: 5, spin_up: 10, seed: 7}
generator: {type: autoencoder, latent_dim: 8, hidden: [32], epochs: 200, batch_size: 32, learning_rate: 0.003, seed: 5, heartbeat_timeout: 2s}
`

// checkpointEpoch returns the epoch of the training checkpoint at path (0
// if there is none yet). Checkpoints are written atomically, so a file
// that exists is complete.
func checkpointEpoch(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var ck struct {
		Epoch int `json:"epoch"`
	}
	if err := json.Unmarshal(data, &ck); err != nil {
		t.Fatalf("checkpoint %s: %v", path, err)
	}
	return ck.Epoch
}

// TestKillWorkerMidTraining kills -9 the only worker in the middle of an
// autoencoder training (`latentda train --no-worker`), once its checkpoint
// holds at least two epochs, and starts another worker: the training
// completes; the retried attempt resumed from the checkpoint the killed
// worker left (its result's resumed_from is that checkpoint's epoch, so no
// checkpointed epoch was trained twice); and the archive, checkpoint and
// generator files are those of an uninterrupted training, bit for bit.
func TestKillWorkerMidTraining(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and kills a worker process")
	}
	tmp := t.TempDir()
	stateDir := filepath.Join(tmp, "state")
	cfgPath := filepath.Join(tmp, "train.yaml")
	if err := os.WriteFile(cfgPath, []byte(crashTrain), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := training.LoadTrain(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	paths := trainacts.TrainPathsFor(cfg.Name)
	ckPath := filepath.Join(stateDir, paths.Checkpoint)
	srv, c := startServer(t, "", 0)
	addr := srv.FrontendAddress()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	w1 := startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", stateDir)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, stderr, err := runCLI(ctx, "train", "-c", cfgPath, "--address", addr, "--no-worker", "--state-dir", stateDir, "-o", "json")
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, stderr)
		}
		done <- result{out, err}
	}()
	// Kill the worker as soon as the checkpoint holds two epochs.
	for checkpointEpoch(t, ckPath) < 2 {
		select {
		case r := <-done:
			t.Fatalf("training ended before its second checkpoint: %v", r.err)
		case <-ctx.Done():
			t.Fatalf("no checkpoint of epoch 2: %v\nworker log:\n%s", ctx.Err(), w1.output())
		case <-time.After(5 * time.Millisecond):
		}
	}
	w1.kill(t)
	// The killed worker wrote no more: this is what a retry resumes from.
	killedAt := checkpointEpoch(t, ckPath)
	t.Logf("worker %d killed with the checkpoint at epoch %d of %d", w1.pid(), killedAt, cfg.Generator.Epochs)
	if killedAt >= cfg.Generator.Epochs {
		t.Fatalf("training finished before the kill (checkpoint epoch %d): raise generator.epochs", killedAt)
	}
	if _, err := os.Stat(filepath.Join(stateDir, paths.Generator)); err == nil {
		t.Fatal("the generator file exists before the training finished")
	}

	w2 := startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", stateDir)
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatalf("training did not complete after the kill\nworker log:\n%s", w2.output())
	}
	if r.err != nil {
		t.Fatalf("training after the kill: %v\nworker log:\n%s", r.err, w2.output())
	}
	var out trainacts.TrainOutput
	if err := json.Unmarshal([]byte(r.out), &out); err != nil {
		t.Fatalf("train output %q: %v", r.out, err)
	}
	if out.ResumedFrom != killedAt || out.Epochs != cfg.Generator.Epochs {
		t.Errorf("result resumed from epoch %d and has %d epochs, want %d and %d", out.ResumedFrom, out.Epochs, killedAt, cfg.Generator.Epochs)
	}
	if log := w2.output(); !strings.Contains(log, "training resumes from its checkpoint") || !strings.Contains(log, fmt.Sprintf("epoch=%d", killedAt)) {
		t.Errorf("the new worker did not log its resumption from epoch %d:\n%s", killedAt, log)
	}

	// The training activity that completed is a retry, on the new worker.
	h := workflowHistory(ctx, t, c, "latentda-train-"+cfg.Name)
	types := map[int64]string{}
	attempts := 0
	for _, ev := range h.Events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED {
			a := ev.GetActivityTaskStartedEventAttributes()
			if types[a.GetScheduledEventId()] != "TrainGenerator" {
				continue
			}
			attempts++
			if a.GetAttempt() < 2 || !strings.HasPrefix(a.GetIdentity(), fmt.Sprintf("%d@", w2.pid())) {
				t.Errorf("TrainGenerator completed in attempt %d by %s, want a retry by worker %d", a.GetAttempt(), a.GetIdentity(), w2.pid())
			}
		}
	}
	if attempts != 1 {
		t.Errorf("%d TrainGenerator activities, want 1", attempts)
	}

	// An uninterrupted training, in this process.
	ref := filepath.Join(tmp, "ref")
	a := &trainacts.Activities{StateRoot: ref}
	if _, err := a.BuildArchive(ctx, trainacts.ArchiveInput{Config: cfg, Paths: paths}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	refOut, err := a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("uninterrupted training of %d epochs: %v", refOut.Epochs, time.Since(start).Round(time.Millisecond))
	if refOut.ResumedFrom != 0 {
		t.Errorf("the uninterrupted training resumed from epoch %d", refOut.ResumedFrom)
	}
	temps := sameFiles(t, filepath.Join(ref, "generators"), filepath.Join(stateDir, "generators"), nil)
	t.Logf("temporary files left by the killed worker: %v", temps)
}

func TestPrintTrainSummary(t *testing.T) {
	out := trainacts.TrainOutput{Path: "state/generators/g.arrow", Type: "autoencoder", StateDim: 40, LatentDim: 8,
		HeldOutMSE: 0.25, Epochs: 20, BestEpoch: 18}
	for _, tc := range []struct {
		resumed int
		want    string
	}{
		{0, "epochs       20 (best 18)\n"},
		{7, "epochs       20 (best 18)\nresumed      from the checkpoint of epoch 7\n"},
	} {
		out.ResumedFrom = tc.resumed
		var b strings.Builder
		if err := printTrainSummary(&b, "text", out); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(b.String(), tc.want) || !strings.HasPrefix(b.String(), "generator    state/generators/g.arrow\ntype         autoencoder (8 → 40)\n") {
			t.Errorf("resumed from %d: summary\n%s", tc.resumed, b.String())
		}
		b.Reset()
		if err := printTrainSummary(&b, "json", out); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), `"resumed_from"`); got != (tc.resumed > 0) {
			t.Errorf("resumed from %d: JSON summary\n%s", tc.resumed, b.String())
		}
	}
	// A fitted generator has no epochs to show.
	var b strings.Builder
	if err := printTrainSummary(&b, "text", trainacts.TrainOutput{Path: "g.arrow", Type: "pca", StateDim: 40, LatentDim: 8}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "epochs") {
		t.Errorf("PCA summary:\n%s", b.String())
	}
}

func TestEpochLine(t *testing.T) {
	for _, tc := range []struct {
		p    trainacts.TrainProgress
		want string
	}{
		{trainacts.TrainProgress{Phase: "train", Total: 60}, "epoch 0/60  training"},
		{trainacts.TrainProgress{Phase: "train"}, "fitting"},
		{trainacts.TrainProgress{Phase: "train", Done: 7, Total: 60}, "epoch 7/60  resumed from the checkpoint"},
		{trainacts.TrainProgress{Phase: "train", Done: 3, Total: 60, TrainLoss: 0.5, ValidLoss: 0.25}, "epoch 3/60  train loss 0.50000  validation loss 0.25000"},
	} {
		if got := epochLine(tc.p); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}
