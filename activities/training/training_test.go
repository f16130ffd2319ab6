package training_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/internal/statetest"
	trainacts "github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/latent/neural"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/trainfile"
	"github.com/latentda/latentda/training"
)

// pcaTrain is a PCA generator for Lorenz-96 (fitted in milliseconds).
const pcaTrain = `
name: l96-pca
model: {name: lorenz96, nx: 40}
archive: {samples: 500, every: 5, spin_up: 10, seed: 3}
validation: 0.2
generator: {type: pca, latent_dim: 10}
`

// aeTrain is a tiny autoencoder (8 → 16 → 4 → 16 → 8) on 540 training
// snapshots: six epochs take milliseconds.
const aeTrain = `
name: l96-ae
model: {name: lorenz96, nx: 8}
archive: {samples: 600, every: 5, spin_up: 10, seed: 3}
generator: {type: autoencoder, latent_dim: 4, hidden: [16], epochs: 6, batch_size: 32, learning_rate: 0.003}
`

func newActivities(t *testing.T) *trainacts.Activities {
	t.Helper()
	return &trainacts.Activities{StateRoot: t.TempDir()}
}

func trainConfig(t *testing.T, yaml string) training.TrainConfig {
	t.Helper()
	cfg, err := training.ParseTrain([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// train runs BuildArchive and TrainGenerator with the conventional paths.
// With a *trainCtx, the count of context checks is that of TrainGenerator.
func train(ctx context.Context, a *trainacts.Activities, cfg training.TrainConfig) (trainacts.ArchiveOutput, trainacts.TrainOutput, error) {
	paths := trainacts.TrainPathsFor(cfg.Name)
	ar, err := a.BuildArchive(ctx, trainacts.ArchiveInput{Config: cfg, Paths: paths})
	if err != nil {
		return ar, trainacts.TrainOutput{}, fmt.Errorf("BuildArchive: %w", err)
	}
	if c, ok := ctx.(*trainCtx); ok {
		c.calls.Store(0) // count the training's checks only
	}
	out, err := a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: paths})
	if err != nil {
		return ar, out, fmt.Errorf("TrainGenerator: %w", err)
	}
	return ar, out, nil
}

func mustTrain(t *testing.T, ctx context.Context, a *trainacts.Activities, cfg training.TrainConfig) (trainacts.ArchiveOutput, trainacts.TrainOutput) {
	t.Helper()
	ar, out, err := train(ctx, a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ar, out
}

func TestTrainPathsFor(t *testing.T) {
	p := trainacts.TrainPathsFor("ks-ae32")
	want := trainacts.TrainPaths{
		Archive:    filepath.Join("generators", "ks-ae32.archive.arrow"),
		Checkpoint: filepath.Join("generators", "ks-ae32.checkpoint.json"),
		Generator:  filepath.Join("generators", "ks-ae32.arrow"),
	}
	if p != want {
		t.Errorf("TrainPathsFor: %+v, want %+v", p, want)
	}
}

// TestTrainPCA builds the archive and fits a PCA generator in a fresh
// state root, checks the files against the experiment package's functions,
// then runs both activities again: they reuse the finished files.
func TestTrainPCA(t *testing.T) {
	ctx := context.Background()
	cfg := trainConfig(t, pcaTrain)
	a := newActivities(t)
	ar, out := mustTrain(t, ctx, a, cfg)
	paths := trainacts.TrainPathsFor(cfg.Name)

	// The archive: 500 snapshots of 40 variables, the last 20% flagged
	// for validation, the same numbers as experiment.BuildArchive.
	if want := filepath.Join(a.StateRoot, paths.Archive); ar.Path != want || ar.Samples != 500 {
		t.Errorf("BuildArchive returned %+v, want %s with 500 samples", ar, want)
	}
	archive, meta, err := trainfile.ReadArchive(ar.Path)
	if err != nil {
		t.Fatal(err)
	}
	if m, n := archive.X.Dims(); m != 500 || n != 40 {
		t.Fatalf("archive is %d×%d, want 500×40", m, n)
	}
	for i, v := range archive.Valid {
		if v != (i >= 400) {
			t.Fatalf("snapshot %d has validation flag %v; want the last 100 of 500 flagged", i, v)
		}
	}
	if !slices.IsSorted(archive.Times) || archive.Times[0] <= cfg.Archive.SpinUp {
		t.Errorf("snapshot times %v ... not increasing after the spin-up", archive.Times[:3])
	}
	if meta.Kind != trainfile.KindArchive || meta.Model != "lorenz96" || meta.Params["nx"] != "40" || meta.Params["forcing"] != "8" {
		t.Errorf("archive metadata %+v", meta)
	}
	X, times, err := experiment.BuildArchive(ctx, config.Config{Model: cfg.Model}, cfg.Archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(X, archive.X) || !slices.Equal(times, archive.Times) {
		t.Error("the archive file differs from experiment.BuildArchive's archive")
	}

	// The generator: the PCA fitted on the training rows, with the
	// held-out error on the validation rows.
	trainRows, validRows := cfg.SplitArchive(X)
	p, err := training.FitPCAGenerator(cfg, trainRows)
	if err != nil {
		t.Fatal(err)
	}
	want := trainacts.TrainOutput{
		Path: filepath.Join(a.StateRoot, paths.Generator), Type: "pca", StateDim: 40, LatentDim: 10,
		HeldOutMSE: latent.ReconstructionError(p, validRows),
	}
	if out != want {
		t.Errorf("TrainGenerator returned\n%+v\nwant\n%+v", out, want)
	}
	g, info, err := genfile.Load(out.Path)
	if err != nil {
		t.Fatal(err)
	}
	z := make([]float64, 10)
	x, xw := make([]float64, 40), make([]float64, 40)
	for k := range z {
		z[k] = float64(k) - 4.5
	}
	g.Decode(x, z)
	p.Decode(xw, z)
	if !slices.Equal(x, xw) {
		t.Error("the generator file decodes differently from the fitted PCA")
	}
	if info.HeldOutMSE != out.HeldOutMSE || info.Model != "lorenz96" || info.Params["nx"] != "40" || len(info.TrainLoss) != 0 {
		t.Errorf("generator record %+v", info)
	}
	// The statistics of the latent analyses: the representation error of
	// the validation rows (a PCA's code covariance is the identity, not
	// stored).
	if st := latent.EstimateStats(p, trainRows, validRows); info.Stats.CodeCov != nil || !slices.Equal(info.Stats.RepVar, st.RepVar) {
		t.Errorf("generator statistics %+v, want %+v", info.Stats, st)
	}
	if _, err := os.Stat(filepath.Join(a.StateRoot, paths.Checkpoint)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PCA left a checkpoint: %v", err)
	}

	// Again: the same outputs, and no file is rewritten.
	before := statetest.FileInfos(t, a.StateRoot)
	ar2, out2 := mustTrain(t, ctx, a, cfg)
	if ar2 != ar || out2 != out {
		t.Errorf("second run returned %+v %+v, first %+v %+v", ar2, out2, ar, out)
	}
	statetest.CheckUntouched(t, a.StateRoot, before, "second BuildArchive and TrainGenerator")

	// PCA by explained variance reports the dimension it chose.
	byVar := cfg
	byVar.Name = "l96-pca90"
	byVar.Generator.LatentDim, byVar.Generator.Variance = 0, 0.9
	_, outVar := mustTrain(t, ctx, a, byVar)
	pv, err := training.FitPCAGenerator(byVar, trainRows)
	if err != nil {
		t.Fatal(err)
	}
	if outVar.LatentDim != pv.LatentDim() || outVar.LatentDim < 2 || outVar.LatentDim >= 40 {
		t.Errorf("variance 0.9: latent dimension %d, the fit gives %d", outVar.LatentDim, pv.LatentDim())
	}

	// A generator file written before the statistics gets them from the
	// next training call, without being fitted again.
	ts, meta, err := trainfile.ReadTensors(out.Path, trainfile.KindGenerator)
	if err != nil {
		t.Fatal(err)
	}
	ts = slices.DeleteFunc(ts, func(t trainfile.Tensor) bool { return strings.HasPrefix(t.Name, "stats.") })
	if err := trainfile.WriteTensors(out.Path, ts, meta); err != nil {
		t.Fatal(err)
	}
	if _, out3 := mustTrain(t, ctx, a, cfg); out3 != out {
		t.Errorf("training over a file without statistics returned %+v, want %+v", out3, out)
	}
	if _, info3, err := genfile.Load(out.Path); err != nil || !slices.Equal(info3.Stats.RepVar, info.Stats.RepVar) {
		t.Errorf("statistics added to an earlier file: %+v, %v; want %+v", info3.Stats, err, info.Stats)
	}
}

// trainCtx is the context of a training activity. Its Err counts its calls
// (the trainer checks its context before every batch, so the count
// measures the work done) and, with stopAfter > 0, cancels the context
// once the checkpoint file records that many epochs: a worker dying
// right after the checkpoint of that epoch was written.
type trainCtx struct {
	context.Context
	cancel    context.CancelFunc
	ckPath    string
	stopAfter int
	calls     atomic.Int64
}

func newTrainCtx(t *testing.T, a *trainacts.Activities, cfg training.TrainConfig, stopAfter int) *trainCtx {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &trainCtx{Context: ctx, cancel: cancel, stopAfter: stopAfter,
		ckPath: filepath.Join(a.StateRoot, trainacts.TrainPathsFor(cfg.Name).Checkpoint)}
}

func (c *trainCtx) Err() error {
	c.calls.Add(1)
	if c.stopAfter > 0 && checkpointEpoch(c.ckPath) >= c.stopAfter {
		c.cancel()
	}
	return c.Context.Err()
}

// checkpointEpoch returns the number of epochs a checkpoint file records,
// or 0 if it cannot be read.
func checkpointEpoch(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var ck neural.Checkpoint
	if json.Unmarshal(data, &ck) != nil {
		return 0
	}
	return ck.Epoch
}

// TestTrainAutoencoderResumes trains the tiny autoencoder uninterrupted in
// one state root and, in others, with a crash after epoch 3 or with fewer
// epochs first: resuming from the checkpoint must give the same files,
// byte for byte, and train only the missing epochs.
func TestTrainAutoencoderResumes(t *testing.T) {
	cfg := trainConfig(t, aeTrain)
	paths := trainacts.TrainPathsFor(cfg.Name)

	// Uninterrupted: six epochs.
	full := newActivities(t)
	fullCtx := newTrainCtx(t, full, cfg, 0)
	_, want := mustTrain(t, fullCtx, full, cfg)
	perRun := fullCtx.calls.Load()
	if perRun < 6 {
		t.Fatalf("%d context checks in 6 epochs", perRun)
	}
	if want.Type != "autoencoder" || want.StateDim != 8 || want.LatentDim != 4 || want.Epochs != 6 ||
		want.BestEpoch < 1 || want.BestEpoch > 6 || !(want.HeldOutMSE > 0) || want.EarlyStopped ||
		want.Path != filepath.Join(full.StateRoot, paths.Generator) {
		t.Errorf("TrainGenerator returned %+v", want)
	}
	g, info, err := genfile.Load(want.Path)
	if err != nil {
		t.Fatal(err)
	}
	if g.Name() != "autoencoder" || len(info.TrainLoss) != 6 || len(info.ValidLoss) != 6 || info.HeldOutMSE != want.HeldOutMSE {
		t.Errorf("generator file: %s, record %+v", g.Name(), info)
	}
	if best := slices.Index(info.ValidLoss, slices.Min(info.ValidLoss)) + 1; best != want.BestEpoch {
		t.Errorf("best epoch %d, the validation curve %v has its minimum at %d", want.BestEpoch, info.ValidLoss, best)
	}
	if e := checkpointEpoch(filepath.Join(full.StateRoot, paths.Checkpoint)); e != 6 {
		t.Errorf("checkpoint after the run records %d epochs, want 6", e)
	}
	// The held-out error is in model units: the archive's validation rows
	// through the generator.
	ar, _, err := trainfile.ReadArchive(filepath.Join(full.StateRoot, paths.Archive))
	if err != nil {
		t.Fatal(err)
	}
	_, validRows := cfg.SplitArchive(ar.X)
	if e := latent.ReconstructionError(g, validRows); e != want.HeldOutMSE {
		t.Errorf("held-out error %v, recomputed %v", want.HeldOutMSE, e)
	}
	wantFiles := statetest.Snapshot(t, full.StateRoot)
	if len(wantFiles) != 3 {
		t.Errorf("state root holds %d files, want archive, checkpoint and generator", len(wantFiles))
	}

	t.Run("crash after epoch 3", func(t *testing.T) {
		a := newActivities(t)
		crash := newTrainCtx(t, a, cfg, 3)
		_, _, err := train(crash, a, cfg)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted training returned %v, want context.Canceled", err)
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			t.Errorf("an interrupted training is not retryable: %v", err)
		}
		if e := checkpointEpoch(filepath.Join(a.StateRoot, paths.Checkpoint)); e != 3 {
			t.Errorf("checkpoint after the crash records %d epochs, want 3", e)
		}
		if _, err := os.Stat(filepath.Join(a.StateRoot, paths.Generator)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("interrupted training wrote the generator: %v", err)
		}
		// The retry.
		retry := newTrainCtx(t, a, cfg, 0)
		_, out := mustTrain(t, retry, a, cfg)
		if n := retry.calls.Load(); 2*n != perRun {
			t.Errorf("the retry checked its context %d times, the 6-epoch run %d: it did not resume after epoch 3", n, perRun)
		}
		want := want
		want.Path = filepath.Join(a.StateRoot, paths.Generator)
		want.ResumedFrom = 3
		if out != want {
			t.Errorf("resumed training returned\n%+v\nthe uninterrupted one\n%+v", out, want)
		}
		if d := statetest.DiffSnapshots(wantFiles, statetest.Snapshot(t, a.StateRoot)); len(d) > 0 {
			t.Errorf("resumed training differs from the uninterrupted one:\n%s", strings.Join(d, "\n"))
		}
	})

	t.Run("3 epochs then 6", func(t *testing.T) {
		a := newActivities(t)
		three := cfg
		three.Generator.Epochs = 3
		_, out3 := mustTrain(t, context.Background(), a, three)
		if out3.Epochs != 3 {
			t.Fatalf("3-epoch training returned %+v", out3)
		}
		// A finished generator of another config is not served for this
		// one: the name must change or the file go.
		_, err := a.TrainGenerator(context.Background(), trainacts.TrainInput{Config: cfg, Paths: trainacts.TrainPathsFor(cfg.Name)})
		statetest.WantAppError(t, err, activities.ErrInvalidConfig, "another config")
		// Without it, Epochs counts the three in the checkpoint: three
		// more give the 6-epoch run.
		if err := os.Remove(out3.Path); err != nil {
			t.Fatal(err)
		}
		more := newTrainCtx(t, a, cfg, 0)
		_, out := mustTrain(t, more, a, cfg)
		if n := more.calls.Load(); 2*n != perRun {
			t.Errorf("epochs 4-6 checked the context %d times, 6 epochs %d", n, perRun)
		}
		if out.Epochs != 6 || out.HeldOutMSE != want.HeldOutMSE || out.BestEpoch != want.BestEpoch || out.ResumedFrom != 3 {
			t.Errorf("continued training returned %+v, want %+v resumed from 3", out, want)
		}
		if d := statetest.DiffSnapshots(wantFiles, statetest.Snapshot(t, a.StateRoot)); len(d) > 0 {
			t.Errorf("3+3 epochs differ from 6:\n%s", strings.Join(d, "\n"))
		}
	})

	t.Run("crash after the last checkpoint", func(t *testing.T) {
		// The worker died between the last checkpoint and the generator
		// file: the retry writes the file without trainacts.
		a := &trainacts.Activities{StateRoot: t.TempDir()}
		for rel, data := range wantFiles {
			if rel == paths.Generator {
				continue
			}
			path := filepath.Join(a.StateRoot, rel)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx := newTrainCtx(t, a, cfg, 0)
		_, out := mustTrain(t, ctx, a, cfg)
		if n := ctx.calls.Load(); n != 0 {
			t.Errorf("trained %d batches after the last epoch", n)
		}
		if out.Epochs != 6 || out.HeldOutMSE != want.HeldOutMSE || out.ResumedFrom != 6 {
			t.Errorf("returned %+v, want %+v resumed from 6", out, want)
		}
		if d := statetest.DiffSnapshots(wantFiles, statetest.Snapshot(t, a.StateRoot)); len(d) > 0 {
			t.Errorf("files differ from the uninterrupted run:\n%s", strings.Join(d, "\n"))
		}
	})

	t.Run("reuse", func(t *testing.T) {
		before := statetest.FileInfos(t, full.StateRoot)
		ctx := newTrainCtx(t, full, cfg, 0)
		_, out := mustTrain(t, ctx, full, cfg)
		if out != want || ctx.calls.Load() != 0 {
			t.Errorf("second run returned %+v after %d batches, want %+v without training", out, ctx.calls.Load(), want)
		}
		// The heartbeat timeout does not change the generator: a config
		// that differs only in it is served the same file.
		other := cfg
		other.Generator.HeartbeatTimeout = 3 * time.Second
		ctx = newTrainCtx(t, full, other, 0)
		if _, out := mustTrain(t, ctx, full, other); out != want || ctx.calls.Load() != 0 {
			t.Errorf("with another heartbeat timeout: %+v after %d batches, want %+v without training", out, ctx.calls.Load(), want)
		}
		statetest.CheckUntouched(t, full.StateRoot, before, "second BuildArchive and TrainGenerator")
	})
}

// TestTrainBadState: a damaged checkpoint or archive is reported as a
// non-retryable BadState naming the file; a missing archive may appear
// (retryable).
func TestTrainBadState(t *testing.T) {
	ctx := context.Background()
	cfg := trainConfig(t, aeTrain)
	paths := trainacts.TrainPathsFor(cfg.Name)
	a := newActivities(t)
	if _, err := a.BuildArchive(ctx, trainacts.ArchiveInput{Config: cfg, Paths: paths}); err != nil {
		t.Fatal(err)
	}
	ckPath := filepath.Join(a.StateRoot, paths.Checkpoint)
	for name, data := range map[string]string{
		"not JSON":   "{not json",
		"truncated":  `{"version": 1, "epoch": 3, "params": [0.1, 0.`,
		"wrong type": `{"version": "one"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(ckPath, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: paths})
			statetest.WantAppError(t, err, activities.ErrBadState, ckPath, "checkpoint")
		})
	}

	// A well-formed checkpoint of another training (here another seed)
	// is refused, not silently used or overwritten.
	other := newActivities(t)
	otherCfg := cfg
	otherCfg.Generator.Seed = 2
	otherCfg.Generator.Epochs = 1
	mustTrain(t, ctx, other, otherCfg)
	foreign, err := os.ReadFile(filepath.Join(other.StateRoot, paths.Checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ckPath, foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: paths}); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("checkpoint of another training: %v", err)
	}
	if data, _ := os.ReadFile(ckPath); string(data) != string(foreign) {
		t.Error("the foreign checkpoint was overwritten")
	}
	if err := os.Remove(ckPath); err != nil {
		t.Fatal(err)
	}

	// A damaged archive.
	arPath := filepath.Join(a.StateRoot, paths.Archive)
	fi, err := os.Stat(arPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(arPath, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err = a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: paths})
	statetest.WantAppError(t, err, activities.ErrBadState, arPath)
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("error %v does not wrap store.ErrInvalid", err)
	}
	// BuildArchive replaces it.
	if _, err := a.BuildArchive(ctx, trainacts.ArchiveInput{Config: cfg, Paths: paths}); err != nil {
		t.Fatalf("BuildArchive over a damaged archive: %v", err)
	}
	if _, _, err := trainfile.ReadArchive(arPath); err != nil {
		t.Errorf("rebuilt archive: %v", err)
	}

	// An archive without validation snapshots cannot be split.
	ar, m, err := trainfile.ReadArchive(arPath)
	if err != nil {
		t.Fatal(err)
	}
	ar.Valid = nil
	if err := trainfile.WriteArchive(arPath, ar, m); err != nil {
		t.Fatal(err)
	}
	_, err = a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: paths})
	statetest.WantAppError(t, err, activities.ErrBadState, arPath, "0 of 600 snapshots are marked for validation")

	// A missing archive.
	if err := os.Remove(arPath); err != nil {
		t.Fatal(err)
	}
	_, err = a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: paths})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing archive: %v, want an error wrapping os.ErrNotExist", err)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		t.Errorf("missing archive is non-retryable: %v", err)
	}
}

func TestTrainBadPaths(t *testing.T) {
	ctx := context.Background()
	cfg := trainConfig(t, pcaTrain)
	a := newActivities(t)
	good := trainacts.TrainPathsFor(cfg.Name)
	for _, bad := range []string{"", "../x.arrow", "generators/../../x.arrow", "/abs.arrow", filepath.Join(a.StateRoot, "generators", "abs.arrow")} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			p := good
			p.Archive = bad
			_, err := a.BuildArchive(ctx, trainacts.ArchiveInput{Config: cfg, Paths: p})
			statetest.WantAppError(t, err, activities.ErrInvalidConfig, "must be relative to the state directory")
			for _, set := range []func(*trainacts.TrainPaths){
				func(p *trainacts.TrainPaths) { p.Archive = bad },
				func(p *trainacts.TrainPaths) { p.Checkpoint = bad },
				func(p *trainacts.TrainPaths) { p.Generator = bad },
			} {
				p := good
				set(&p)
				_, err := a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: p})
				statetest.WantAppError(t, err, activities.ErrInvalidConfig, "must be relative to the state directory")
			}
		})
	}
	if entries, err := os.ReadDir(a.StateRoot); err != nil || len(entries) != 0 {
		t.Errorf("state root after refused paths: %d entries, err %v", len(entries), err)
	}
}

func TestTrainInvalidConfig(t *testing.T) {
	ctx := context.Background()
	a := newActivities(t)
	cfg := trainConfig(t, pcaTrain)
	paths := trainacts.TrainPathsFor(cfg.Name)

	few := cfg
	few.Archive.Samples = 5
	_, err := a.BuildArchive(ctx, trainacts.ArchiveInput{Config: few, Paths: paths})
	statetest.WantAppError(t, err, activities.ErrInvalidConfig, "archive.samples")
	_, err = a.TrainGenerator(ctx, trainacts.TrainInput{Config: few, Paths: paths})
	statetest.WantAppError(t, err, activities.ErrInvalidConfig, "archive.samples")
	noType := cfg
	noType.Generator.Type = ""
	_, err = a.TrainGenerator(ctx, trainacts.TrainInput{Config: noType, Paths: paths})
	statetest.WantAppError(t, err, activities.ErrInvalidConfig, "generator.type")
	if entries, _ := os.ReadDir(a.StateRoot); len(entries) != 0 {
		t.Errorf("invalid configs created %d entries", len(entries))
	}

	// A latent dimension beyond the rank of the training snapshots (18
	// of 20) is a config error the fit finds.
	small := cfg
	small.Name = "small"
	small.Archive.Samples = 20
	small.Validation = 0.1
	small.Generator.LatentDim = 30
	_, _, err = train(ctx, a, small)
	statetest.WantAppError(t, err, activities.ErrInvalidConfig, "exceeds the rank")
	if _, err := os.Stat(filepath.Join(a.StateRoot, trainacts.TrainPathsFor("small").Generator)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed fit left a generator file: %v", err)
	}
}

// TestTrainExternalModelExits: an external model that exits while the
// archive is built fails the activity with a retryable ErrExternalModel
// error carrying its stderr, so that Temporal's retry starts it afresh,
// as in a run (not a non-retryable divergence).
func TestTrainExternalModelExits(t *testing.T) {
	a := newActivities(t)
	a.AllowPaths = []string{"/"}
	cfg := trainConfig(t, strings.Replace(pcaTrain, "name: lorenz96, nx: 40",
		`name: external, command: [/bin/sh, -c, "echo cannot read the mesh >&2; exit 3"], state_size: 40, dt: 0.05`, 1))
	_, err := a.BuildArchive(context.Background(), trainacts.ArchiveInput{Config: cfg, Paths: trainacts.TrainPathsFor(cfg.Name)})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrExternalModel || appErr.NonRetryable() ||
		!strings.Contains(err.Error(), "cannot read the mesh") {
		t.Fatalf("got %v, want a retryable %s error with the model's stderr", err, activities.ErrExternalModel)
	}
}

// TestTrainAutoencoderDiverges: a learning rate that blows the loss up
// fails the training with an error naming the epoch.
func TestTrainAutoencoderDiverges(t *testing.T) {
	cfg := trainConfig(t, aeTrain)
	cfg.Generator.LearningRate = 1e300
	a := newActivities(t)
	_, out, err := train(context.Background(), a, cfg)
	if err == nil {
		// Adam's steps are bounded by the learning rate, so 1e300 must
		// overflow the weights within an epoch.
		t.Fatalf("training with learning rate 1e300 succeeded: %+v", out)
	}
	if !strings.Contains(err.Error(), "diverged") {
		t.Errorf("error %v does not say the loss diverged", err)
	}
	if _, err := os.Stat(filepath.Join(a.StateRoot, trainacts.TrainPathsFor(cfg.Name).Generator)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("diverged training wrote a generator: %v", err)
	}
}
