// Package training holds the activities of generator training, which the
// TrainGenerator workflow calls: BuildArchive runs the model into a
// simulation archive, TrainGenerator fits the generator on it (PCA,
// quadratic, or an autoencoder that checkpoints every epoch and resumes
// after a crash) and writes the generator file. Both are idempotent: a
// finished archive or generator is reused.
package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/activities/internal/core"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/latent/neural"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/trainfile"
	"github.com/latentda/latentda/training"
)

// TrainPaths are the files of one generator training, relative to the
// state root: generators/<name>.archive.arrow, .checkpoint.json, .arrow.
type TrainPaths struct {
	Archive    string
	Checkpoint string
	Generator  string
}

// TrainPathsFor returns the conventional paths for a generator name.
func TrainPathsFor(name string) TrainPaths {
	base := filepath.Join("generators", name)
	return TrainPaths{Archive: base + ".archive.arrow", Checkpoint: base + ".checkpoint.json", Generator: base + ".arrow"}
}

// ArchiveInput asks for the simulation archive of a training config.
type ArchiveInput struct {
	Config training.TrainConfig
	Paths  TrainPaths
}

// ArchiveOutput describes the archive written.
type ArchiveOutput struct {
	Path    string
	Samples int
}

// TrainInput asks for a generator to be trained on an archive.
type TrainInput struct {
	Config training.TrainConfig
	Paths  TrainPaths
}

// TrainOutput summarises a trained generator.
type TrainOutput struct {
	Path         string  `json:"path"`
	Type         string  `json:"type"`
	StateDim     int     `json:"state_dim"`
	LatentDim    int     `json:"latent_dim"`
	HeldOutMSE   float64 `json:"heldout_mse"`
	Epochs       int     `json:"epochs"`
	BestEpoch    int     `json:"best_epoch"`
	EarlyStopped bool    `json:"early_stopped"`
	// ResumedFrom is the number of epochs the finishing attempt took from
	// a checkpoint instead of training them: all epochs but those it
	// trained (0: it trained from scratch, or reused the file).
	ResumedFrom int `json:"resumed_from,omitempty"`
}

// TrainProgress is the heartbeat of the training activities.
type TrainProgress struct {
	Phase     string  `json:"phase"` // archive or train
	Done      int     `json:"done"`  // snapshots or epochs
	Total     int     `json:"total"`
	TrainLoss float64 `json:"train_loss,omitempty"`
	ValidLoss float64 `json:"valid_loss,omitempty"`
}

// Activities carries the training activities' dependencies. Paths in
// their inputs are relative to StateRoot.
type Activities struct {
	StateRoot string
	// AllowPaths are the directories outside StateRoot where an external
	// model's program may be (config.ConfineProgram).
	AllowPaths []string
	// Logger gets a line when training resumes from a checkpoint; nil
	// means slog.Default().
	Logger *slog.Logger
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Activities) path(rel string) (string, error) {
	if rel == "" || filepath.IsAbs(rel) || !filepath.IsLocal(rel) {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: path %q must be relative to the state directory", rel), core.ErrInvalidConfig, nil)
	}
	return filepath.Join(a.StateRoot, rel), nil
}

func heartbeat(ctx context.Context, p TrainProgress) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, p)
	}
}

// BuildArchive runs the model and writes the simulation archive, with the
// last Validation fraction of snapshots marked for validation. A finished
// archive is reused.
func (a *Activities) BuildArchive(ctx context.Context, in ArchiveInput) (ArchiveOutput, error) {
	cfg := in.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return ArchiveOutput{}, temporal.NewNonRetryableApplicationError("activities: "+err.Error(), core.ErrInvalidConfig, err)
	}
	if err := config.ConfineProgram(cfg.Model, a.StateRoot, a.AllowPaths); err != nil {
		return ArchiveOutput{}, temporal.NewNonRetryableApplicationError("activities: "+err.Error(), core.ErrInvalidConfig, err)
	}
	path, err := a.path(in.Paths.Archive)
	if err != nil {
		return ArchiveOutput{}, err
	}
	key := archiveKey(cfg)
	if ar, m, err := trainfile.ReadArchive(path); err == nil && m.Extra[extraArchiveConfig] == key {
		r, _ := ar.X.Dims()
		return ArchiveOutput{Path: path, Samples: r}, nil
	}
	total := cfg.Archive.Samples
	X, times, err := experiment.BuildArchive(ctx, config.Config{Model: cfg.Model}, cfg.Archive, func(done int) error {
		heartbeat(ctx, TrainProgress{Phase: "archive", Done: done, Total: total})
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ArchiveOutput{}, err
		}
		// The config was validated, so the model itself blew up, or an
		// external model failed (retryable as its error says).
		return ArchiveOutput{}, core.Diverged(err)
	}
	valid := make([]bool, total)
	_, v := cfg.SplitArchive(X)
	nv, _ := v.Dims()
	for i := total - nv; i < total; i++ {
		valid[i] = true
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return ArchiveOutput{}, fmt.Errorf("activities: %w", err)
	}
	m := store.Meta{Kind: trainfile.KindArchive, Model: cfg.Model.Name, Params: core.ModelParams(cfg.Model),
		Extra: map[string]string{extraArchiveConfig: key}}
	if err := trainfile.WriteArchive(path, trainfile.Archive{X: X, Times: times, Valid: valid}, m); err != nil {
		return ArchiveOutput{}, fmt.Errorf("activities: %w", err)
	}
	return ArchiveOutput{Path: path, Samples: total}, nil
}

// TrainGenerator fits the generator on the archive and writes it. The
// autoencoders (MLP and conv) write a checkpoint after every epoch and
// heartbeat their progress; a retry (after a worker crash) resumes from the
// checkpoint and gives the same weights as an uninterrupted run. Between
// epochs (and during a PCA or quadratic fit) the activity heartbeats every third of its heartbeat
// timeout, so the timeout bounds the time to detect a dead worker, not the
// length of an epoch. A finished generator file is reused.
func (a *Activities) TrainGenerator(ctx context.Context, in TrainInput) (TrainOutput, error) {
	cfg := in.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return TrainOutput{}, temporal.NewNonRetryableApplicationError("activities: "+err.Error(), core.ErrInvalidConfig, err)
	}
	var progress atomic.Value
	progress.Store(TrainProgress{Phase: "train", Total: cfg.Generator.Epochs})
	stop := core.KeepAlive(ctx, &progress)
	defer stop()
	genPath, err := a.path(in.Paths.Generator)
	if err != nil {
		return TrainOutput{}, err
	}
	ckPath, err := a.path(in.Paths.Checkpoint)
	if err != nil {
		return TrainOutput{}, err
	}
	arPath, err := a.path(in.Paths.Archive)
	if err != nil {
		return TrainOutput{}, err
	}
	info := genfile.Info{Model: cfg.Model.Name, Params: core.ModelParams(cfg.Model), Config: configKey(cfg)}
	trained, old, err := genfile.Load(genPath)
	if err == nil {
		if old.Config != info.Config {
			return TrainOutput{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("activities: %s was trained with another config; choose another name or delete it", genPath), core.ErrInvalidConfig, nil)
		}
		if old.Stats.RepVar != nil {
			return summarise(genPath, trained, old), nil
		}
		// A file written before the statistics: add them below.
	}
	ar, _, err := trainfile.ReadArchive(arPath)
	if err != nil {
		return TrainOutput{}, core.StateError(err)
	}
	train, valid, err := splitByFlag(ar)
	if err != nil {
		return TrainOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("activities: archive %s: %v", arPath, err), core.ErrBadState, err)
	}
	if trained != nil {
		old.Stats = latent.EstimateStats(trained, train, valid)
		if err := genfile.Save(genPath, trained, old); err != nil {
			return TrainOutput{}, fmt.Errorf("activities: %w", err)
		}
		return summarise(genPath, trained, old), nil
	}
	var g latent.Generator
	earlyStopped, resumedFrom := false, 0
	switch cfg.Generator.Type {
	case "pca":
		p, err := training.FitPCAGenerator(cfg, train)
		if err != nil {
			return TrainOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), core.ErrInvalidConfig, err)
		}
		g = p
	case "quadratic":
		q, err := training.FitQuadraticGenerator(cfg, train, valid)
		if err != nil {
			return TrainOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), core.ErrInvalidConfig, err)
		}
		g = q
	case "autoencoder", "conv":
		resume, err := readCheckpoint(ckPath)
		if err != nil {
			return TrainOutput{}, err
		}
		if resume != nil {
			progress.Store(TrainProgress{Phase: "train", Done: resume.Epoch, Total: cfg.Generator.Epochs})
			a.logger().Info("training resumes from its checkpoint", "generator", cfg.Name, "checkpoint", ckPath, "epoch", resume.Epoch)
		}
		total, trained := cfg.Generator.Epochs, 0
		model, rec, err := training.TrainNetworkGenerator(ctx, cfg, train, valid, func(st neural.EpochStats) error {
			trained++
			data, err := json.Marshal(st.Checkpoint())
			if err != nil {
				return err
			}
			if err := store.WriteFileAtomic(ckPath, data); err != nil {
				return err
			}
			p := TrainProgress{Phase: "train", Done: st.Epoch, Total: total, TrainLoss: st.TrainLoss, ValidLoss: st.ValidLoss}
			progress.Store(p)
			heartbeat(ctx, p)
			return nil
		}, resume)
		if err != nil {
			if ctx.Err() != nil {
				return TrainOutput{}, err // cancelled: a retry resumes from the checkpoint
			}
			// A checkpoint of another config, or a diverging loss: retrying
			// cannot help.
			return TrainOutput{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("activities: train %s (checkpoint %s; delete it to train from scratch): %v", genPath, ckPath, err), core.ErrBadState, err)
		}
		g = model
		earlyStopped, resumedFrom = rec.EarlyStopped, len(rec.Curve)-trained
		for _, e := range rec.Curve {
			info.TrainLoss = append(info.TrainLoss, e.TrainLoss)
			info.ValidLoss = append(info.ValidLoss, e.ValidLoss)
		}
	}
	info.HeldOutMSE = latent.ReconstructionError(g, valid)
	info.Stats = latent.EstimateStats(g, train, valid)
	if err := genfile.Save(genPath, g, info); err != nil {
		return TrainOutput{}, fmt.Errorf("activities: %w", err)
	}
	out := summarise(genPath, g, info)
	out.EarlyStopped, out.ResumedFrom = earlyStopped, resumedFrom
	return out, nil
}

// extraArchiveConfig records, in an archive's metadata, the settings that
// made it, so a changed config is not served a stale archive.
const extraArchiveConfig = "archive_config"

// archiveKey identifies what an archive depends on: the model, the archive
// settings and the validation split.
func archiveKey(c training.TrainConfig) string {
	data, _ := json.Marshal(struct {
		Model      config.ModelConfig
		Archive    experiment.ArchiveOptions
		Validation float64
	}{c.Model, c.Archive, c.Validation})
	return string(data)
}

// configKey identifies a whole training config, but for the heartbeat
// timeout.
func configKey(c training.TrainConfig) string {
	// How fast a dead worker is noticed does not change the generator.
	c.Generator.HeartbeatTimeout = 0
	data, _ := json.Marshal(c)
	return string(data)
}

func summarise(path string, g latent.Generator, info genfile.Info) TrainOutput {
	out := TrainOutput{Path: path, Type: g.Name(), StateDim: g.StateDim(), LatentDim: g.LatentDim(), HeldOutMSE: info.HeldOutMSE, Epochs: len(info.ValidLoss)}
	best := 0
	for i, v := range info.ValidLoss {
		if v < info.ValidLoss[best] {
			best = i
		}
	}
	if out.Epochs > 0 {
		out.BestEpoch = best + 1
	}
	return out
}

// readCheckpoint loads a training checkpoint, or returns nil if there is
// none. A damaged checkpoint is reported, not silently ignored.
func readCheckpoint(path string) (*neural.Checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("activities: %w", err)
	}
	var ck neural.Checkpoint
	if err := json.Unmarshal(data, &ck); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: checkpoint %s: %v (delete it to restart training)", path, err), core.ErrBadState, err)
	}
	return &ck, nil
}

// splitByFlag returns the training and validation rows of an archive.
func splitByFlag(ar trainfile.Archive) (train, valid *mat.Dense, err error) {
	m, n := ar.X.Dims()
	nv := 0
	for _, v := range ar.Valid {
		if v {
			nv++
		}
	}
	if nv == 0 || nv == m {
		return nil, nil, fmt.Errorf("%d of %d snapshots are marked for validation; need some of each", nv, m)
	}
	train, valid = mat.NewDense(m-nv, n, nil), mat.NewDense(nv, n, nil)
	it, iv := 0, 0
	for i := 0; i < m; i++ {
		if ar.Valid[i] {
			valid.SetRow(iv, ar.X.RawRowView(i))
			iv++
		} else {
			train.SetRow(it, ar.X.RawRowView(i))
			it++
		}
	}
	return train, valid, nil
}
