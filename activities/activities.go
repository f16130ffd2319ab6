// Package activities holds latentda's Temporal activities: thin adapters that
// read the run's Arrow state, call the numerics, write Arrow state and return
// paths and small summaries. They are idempotent: output paths are functions
// of (run, cycle, kind), files are written atomically, and a retry that finds
// finished work reuses it.
//
// This package holds the activities of a run (Initialize, RunCycles, the
// fanned-out forecast and the block-wise analysis); package activities/live
// holds those of a live (scheduled) run and activities/training those of
// generator training. The cycle step they store, and the rest they share,
// is in activities/internal/core.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/activities/internal/core"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// Non-retryable error types: retrying cannot fix them.
const (
	ErrInvalidConfig = core.ErrInvalidConfig
	ErrDiverged      = core.ErrDiverged
	ErrBadState      = core.ErrBadState
	// ErrNondeterministic: a retried batch computed other values for a
	// cycle than its first attempt stored.
	ErrNondeterministic = core.ErrNondeterministic
)

// ErrExternalModel is the type of an external model's failures (package
// external): retryable when a fresh process may succeed.
const ErrExternalModel = core.ErrExternalModel

// Activities carries the worker's dependencies. Run paths in activity inputs
// are relative to StateRoot, so workers on different machines can mount the
// shared state directory at different places.
type Activities struct {
	StateRoot string
	// AllowPaths are directories outside StateRoot whose files a config
	// may name (config.Config.Confine); the state directory is always
	// allowed.
	AllowPaths []string
	// Metrics receives per-cycle measurements; nil records nothing.
	Metrics Recorder
	// Logger gets a line per batch (INFO) and per cycle (DEBUG), with the
	// run ID and cycle as attributes, and a failed cycle's error (ERROR);
	// nil means slog.Default().
	Logger *slog.Logger
	// CallerPrints says that the caller prints a failed cycle's error and
	// the progress (latentda run --in-process): the activity logs both, the
	// error and the batch's line, at DEBUG only, so that each is printed
	// once.
	CallerPrints bool
}

// Recorder receives what the activities measure (metrics.Metrics
// implements it for Prometheus).
type Recorder interface {
	// CycleDone records a finished cycle: wall time, analysis RMSE and spread.
	CycleDone(runID string, d time.Duration, rmseA, spreadA float64)
	// ObservationsFlagged adds observations left out by quality control.
	ObservationsFlagged(n int)
	// BytesWritten adds bytes of state written.
	BytesWritten(n int64)
}

// env is the activities' part of the shared machinery's dependencies.
func (a *Activities) env(ctx context.Context) core.Env {
	return core.Env{StateRoot: a.StateRoot, AllowPaths: a.AllowPaths, Metrics: a.Metrics, Ctx: ctx}
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// InitInput starts a run.
type InitInput struct {
	RunID   string
	RunPath string // relative to the worker's state root
	Config  config.Config
	// WarmStart, if set, starts the run from another run's analysis
	// instead of drawing an initial ensemble.
	WarmStart *WarmStart `json:",omitempty"`
}

// WarmStart names the stored analysis a run starts from: cycle Cycle of
// the run at RunPath (relative to the state root). The new run continues
// with cycle Cycle+1, with its own config.
type WarmStart struct {
	RunPath string
	Cycle   int
}

// InitOutput says where the run's state lives on this worker.
type InitOutput struct {
	RunDir      string
	Diagnostics string
	// Next is the first cycle to run: 1, or the warm start's cycle + 1.
	// Histories recorded before warm starts existed decode it as 0,
	// which means 1.
	Next int `json:",omitempty"`
}

// extraWarmStart is the analysis metadata key naming where a warm-started
// run's first analysis came from ("runs/<run>@<cycle>").
const extraWarmStart = "warm_start"

// StartOf says how the run in dir started, from the metadata of its first
// analysis: from another run's stored analysis (the warm start it names),
// or from its own initial ensemble (nil). started is false while the run
// has no first analysis.
func StartOf(dir store.RunDir) (w *WarmStart, started bool, err error) {
	k, err := dir.FirstCycle()
	if err != nil || k < 0 {
		return nil, false, err
	}
	path := dir.Analysis(k)
	if ok, err := store.Exists(path); err != nil || !ok {
		return nil, false, err
	}
	_, m, err := store.ReadEnsemble(path)
	if err != nil {
		return nil, false, fmt.Errorf("activities: the run's first analysis: %w", err)
	}
	from, ok := m.Extra[extraWarmStart]
	if !ok {
		return nil, true, nil
	}
	i := strings.LastIndexByte(from, '@')
	if c, err := strconv.Atoi(from[i+1:]); i < 0 || err != nil || c != k {
		return nil, false, fmt.Errorf("activities: %s: %s is %q, want runs/<run>@%d", path, extraWarmStart, from, k)
	}
	return &WarmStart{RunPath: filepath.FromSlash(from[:i]), Cycle: k}, true, nil
}

// CyclesInput asks for cycles From..To (inclusive) of a run.
type CyclesInput struct {
	RunID    string
	RunPath  string
	Config   config.Config
	From, To int
}

// CyclesOutput summarises a batch of cycles (a core.Summary).
type CyclesOutput struct {
	Sums experiment.Sums
	Last experiment.CycleStats
	// PauseAt is the cycle after which the run must pause (ood.pause_on_batch
	// and a flagged batch): the batch stops there. 0: no pause.
	PauseAt int
	// Answered says that the run was resumed after PauseAt before (cycles
	// after it are committed): it goes on from PauseAt+1 without pausing.
	Answered bool
}

// Initialize validates the config, writes it into the run directory and
// writes the run's starting state: cycle 0's initial truth and ensemble,
// or, for a warm start, the truth and analysis of the warm start's cycle
// copied from the other run (with this run's metadata). A run directory
// that already holds the same config is reused (config.SameStored); one with a
// different config is refused.
func (a *Activities) Initialize(ctx context.Context, in InitInput) (InitOutput, error) {
	dir, err := a.env(ctx).RunDir(in.RunPath)
	if err != nil {
		return InitOutput{}, err
	}
	s, err := a.env(ctx).Build(dir, in.Config)
	if err != nil {
		return InitOutput{}, err
	}
	out := InitOutput{RunDir: dir.Root, Diagnostics: dir.Diagnostics(), Next: 1}
	var warmE *mat.Dense
	var warmTruth []float64
	k := 0
	if w := in.WarmStart; w != nil {
		k, out.Next = w.Cycle, w.Cycle+1
		if warmE, warmTruth, err = a.warmState(s, *w); err != nil {
			return out, err
		}
	}
	cfgYAML, err := in.Config.WithDefaults().Marshal()
	if err != nil {
		return out, fmt.Errorf("activities: encode config: %w", err)
	}
	if err := dir.MkdirCycle(k); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	// The config claims the run directory: of runs racing for it (two
	// processes given the same run ID) one writes it, and the others must
	// hold the same config.
	created, err := store.CreateFileOnce(dir.Config(), config.WithChecksum(cfgYAML))
	if err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	if !created {
		old, err := os.ReadFile(dir.Config())
		if err != nil {
			return out, fmt.Errorf("activities: %w", err)
		}
		if old, err = config.VerifyChecksum(old); err != nil {
			return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("activities: %s: %v", dir.Config(), err), ErrBadState, err)
		}
		if !config.SameStored(old, cfgYAML) {
			return out, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("activities: %s already holds a different config; choose another run ID", dir.Root), ErrInvalidConfig, nil)
		}
	}
	// The generator files' digests, kept once with the config: every
	// later build of the run checks it reads the same bytes.
	if err := store.WriteGenerators(dir, s.Generators()); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	if done, err := store.Exists(dir.Analysis(k)); err != nil || done {
		return out, err
	}
	m := core.Meta(in.RunID, s.Config, k)
	truth, E := warmTruth, warmE
	if in.WarmStart == nil {
		if truth, E, err = s.Initial(); err != nil {
			return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("activities: %v", err), ErrInvalidConfig, err)
		}
	} else {
		m.Extra = map[string]string{extraWarmStart: fmt.Sprintf("%s@%d", filepath.ToSlash(in.WarmStart.RunPath), k)}
	}
	if err := store.WriteVector(dir.Truth(k), truth, m); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	if w := in.WarmStart; w != nil {
		src, err := a.env(ctx).RunDir(w.RunPath)
		if err != nil {
			return out, err
		}
		if err := s.CarryEstimates(src, dir, k, m); err != nil {
			return out, core.StateError(err)
		}
	}
	if err := store.WriteEnsemble(dir.Analysis(k), E, m); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	return out, nil
}

// warmState reads the analysis and truth a warm start names and checks
// them against the new run's config.
func (a *Activities) warmState(s *experiment.Setup, w WarmStart) (*mat.Dense, []float64, error) {
	src, err := a.env(context.Background()).RunDir(w.RunPath)
	if err != nil {
		return nil, nil, err
	}
	if w.Cycle < 0 || w.Cycle >= s.Config.Cycles {
		return nil, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: warm start from cycle %d: the run has cycles 1..%d, so the cycle must be 0..%d", w.Cycle, s.Config.Cycles, s.Config.Cycles-1), ErrInvalidConfig, nil)
	}
	E, truth, err := core.ReadState(src, s, w.Cycle)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrBadState {
		// The files are fine; the new config does not fit them.
		return nil, nil, temporal.NewNonRetryableApplicationError("activities: warm start from "+w.RunPath+": "+appErr.Error(), ErrInvalidConfig, err)
	}
	return E, truth, err
}

// RunCycles runs cycles From..To: for each, it advances the nature run,
// draws the observations, forecasts the ensemble, analyses, and writes the
// truth, observations, forecast and analysis of the cycle, then rewrites the
// diagnostics table. A retry after the batch finished reuses it; a retry
// after a crash mid-batch recomputes the batch, which gives bit-identical
// files. Divergence is a non-retryable error naming the cycle; the last
// good analysis stays on disk.
func (a *Activities) RunCycles(ctx context.Context, in CyclesInput) (CyclesOutput, error) {
	b, finished, err := a.env(ctx).OpenBatch(in.RunID, in.RunPath, in.Config, in.From, in.To)
	if err != nil || finished {
		return CyclesOutput(b.Summary), err
	}
	E, truth, err := core.ReadState(b.Dir, b.Setup, in.From-1)
	if err != nil {
		return CyclesOutput{}, err
	}
	if err := b.StoreInBatch(); err != nil {
		return CyclesOutput{}, err
	}
	defer b.Out.Abort()
	// An external model advances the ensemble in its shared memory, in
	// place (dynamics.EnsembleHost); the batch checks every forecast as
	// it records it.
	E, release := b.Setup.Forecaster.Host(E)
	defer release()
	// A regular activity heartbeats the last cycle done, also while a
	// cycle takes long (a slow external model).
	var done atomic.Value
	done.Store(in.From - 1)
	defer core.KeepAlive(ctx, &done)()
	log := a.logger().With("run_id", in.RunID)
	for k := in.From; k <= in.To; k++ {
		if err := ctx.Err(); err != nil {
			return CyclesOutput(b.Summary), err
		}
		t0 := time.Now()
		c, err := a.env(ctx).Step(b.Setup, b.Dir, b.Out, in.RunID, E, truth, k, core.Twin, 0, nil)
		if err != nil && ctx.Err() != nil {
			log.Info("cycle stopped", "cycle", k, "reason", ctx.Err())
			return CyclesOutput(b.Summary), b.Fail(k, err)
		}
		if err != nil {
			level := slog.LevelError
			if a.CallerPrints {
				level = slog.LevelDebug
			}
			log.Log(ctx, level, "cycle failed", "cycle", k, "error", err)
			return CyclesOutput(b.Summary), b.Fail(k, err)
		}
		if a.Metrics != nil {
			a.Metrics.CycleDone(in.RunID, time.Since(t0), c.Stats.RMSEa, c.Stats.SpreadA)
			a.Metrics.ObservationsFlagged(c.Stats.NFlagged)
		}
		log.Debug("cycle done", "cycle", k, "rmse_a", c.Stats.RMSEa, "spread_a", c.Stats.SpreadA, "flagged", c.Stats.NFlagged)
		pause, err := b.Add(c)
		if err != nil { // nothing is committed: the first attempt's files stay
			return CyclesOutput(b.Summary), err
		}
		done.Store(k)
		if pause {
			break
		}
	}
	if err := b.Commit(); err != nil {
		return CyclesOutput(b.Summary), err
	}
	level := slog.LevelInfo
	if a.CallerPrints {
		level = slog.LevelDebug
	}
	last := CyclesOutput(b.Summary).Last
	log.Log(ctx, level, "cycles done", "from", in.From, "to", in.To, "rmse_a", last.RMSEa, "spread_a", last.SpreadA)
	return CyclesOutput(b.Summary), nil
}
