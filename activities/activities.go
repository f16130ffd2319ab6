// Package activities holds latentda's Temporal activities: thin adapters that
// read the run's Arrow state, call the numerics, write Arrow state and return
// paths and small summaries. They are idempotent: output paths are functions
// of (run, cycle, kind), files are written atomically, and a retry that finds
// finished work reuses it.
package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// Non-retryable error types: retrying cannot fix them.
const (
	ErrInvalidConfig = "InvalidConfig"
	ErrDiverged      = "Diverged"
	ErrBadState      = "BadState"
)

// Activities carries the worker's dependencies. Run paths in activity inputs
// are relative to StateRoot, so workers on different machines can mount the
// shared state directory at different places.
type Activities struct {
	StateRoot string
	// Metrics receives per-cycle measurements; nil records nothing.
	Metrics Recorder
	// Logger gets a line per batch (INFO) and per cycle (DEBUG), with the
	// run ID and cycle as attributes; nil means slog.Default().
	Logger *slog.Logger
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

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// wrote reports the sizes of files just written to the recorder.
func (a *Activities) wrote(paths ...string) {
	if a.Metrics == nil {
		return
	}
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	a.Metrics.BytesWritten(n)
}

// InitInput starts a run.
type InitInput struct {
	RunID   string
	RunPath string // relative to the worker's state root
	Config  experiment.Config
}

// InitOutput says where the run's state lives on this worker.
type InitOutput struct {
	RunDir      string
	Diagnostics string
}

// CyclesInput asks for cycles From..To (inclusive) of a run.
type CyclesInput struct {
	RunID    string
	RunPath  string
	Config   experiment.Config
	From, To int
}

// CyclesOutput summarises a batch of cycles.
type CyclesOutput struct {
	Sums experiment.Sums
	Last experiment.CycleStats
}

func (a *Activities) runDir(runPath string) (store.RunDir, error) {
	if runPath == "" || filepath.IsAbs(runPath) || !filepath.IsLocal(runPath) {
		return store.RunDir{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: run path %q must be relative to the state directory", runPath), ErrInvalidConfig, nil)
	}
	return store.RunDir{Root: filepath.Join(a.StateRoot, runPath)}, nil
}

// build constructs the experiment, reading a generator file named
// relative to the state root.
func (a *Activities) build(cfg experiment.Config) (*experiment.Setup, error) {
	if l := cfg.Latent; l != nil && l.Generator != "identity" && l.Generator != "" && !filepath.IsAbs(l.Generator) {
		resolved := *l
		resolved.Generator = filepath.Join(a.StateRoot, l.Generator)
		cfg.Latent = &resolved
	}
	s, err := experiment.Build(cfg)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidConfig, err)
	}
	return s, nil
}

func meta(runID string, cfg experiment.Config, cycle int) store.Meta {
	params := modelParams(cfg.Model)
	params["steps_between"] = strconv.Itoa(cfg.Observations.StepsBetween)
	params["method"] = cfg.Filter.Method
	params["members"] = strconv.Itoa(cfg.Filter.Members)
	return store.Meta{RunID: runID, Model: cfg.Model.Name, Params: params, Cycle: cycle, Time: cfg.CycleTime(cycle)}
}

// modelParams are the model's parameters as file metadata.
func modelParams(m experiment.ModelConfig) map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	params := map[string]string{"nx": strconv.Itoa(m.Nx), "dt": f(m.Dt)}
	switch m.Name {
	case "lorenz96":
		params["forcing"] = f(m.Forcing)
	case "ks":
		params["length"] = f(m.Length)
	case "lorenz63":
		params["sigma"], params["rho"], params["beta"] = f(m.Sigma), f(m.Rho), f(m.Beta)
	}
	return params
}

// Initialize validates the config, writes it into the run directory and
// writes cycle 0: the initial truth and ensemble. A run directory that
// already holds the same config is reused; one with a different config is
// refused.
func (a *Activities) Initialize(ctx context.Context, in InitInput) (InitOutput, error) {
	dir, err := a.runDir(in.RunPath)
	if err != nil {
		return InitOutput{}, err
	}
	s, err := a.build(in.Config)
	if err != nil {
		return InitOutput{}, err
	}
	cfgYAML, err := in.Config.WithDefaults().Marshal()
	if err != nil {
		return InitOutput{}, fmt.Errorf("activities: encode config: %w", err)
	}
	out := InitOutput{RunDir: dir.Root, Diagnostics: dir.Diagnostics()}
	old, err := os.ReadFile(dir.Config())
	switch {
	case err == nil && !bytes.Equal(old, cfgYAML):
		return out, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: %s already holds a different config; choose another run ID", dir.Root), ErrInvalidConfig, nil)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return out, fmt.Errorf("activities: %w", err)
	}
	if err := dir.MkdirCycle(0); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	if errors.Is(err, os.ErrNotExist) {
		if err := store.WriteFileAtomic(dir.Config(), cfgYAML); err != nil {
			return out, fmt.Errorf("activities: %w", err)
		}
	}
	if done, err := store.Exists(dir.Analysis(0)); err != nil || done {
		return out, err
	}
	truth, E := s.Initial()
	m := meta(in.RunID, s.Config, 0)
	if err := store.WriteVector(dir.Truth(0), truth, m); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	if err := store.WriteEnsemble(dir.Analysis(0), E, m); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	return out, nil
}

// RunCycles runs cycles From..To: for each, it advances the nature run,
// draws the observations, forecasts the ensemble, analyses, and writes the
// truth, observations, forecast and analysis of the cycle, then rewrites the
// diagnostics table. A retry after the batch finished reuses it; a retry
// after a crash mid-batch recomputes the batch, which gives bit-identical
// files. Divergence is a non-retryable error naming the cycle; the last
// good analysis stays on disk.
func (a *Activities) RunCycles(ctx context.Context, in CyclesInput) (CyclesOutput, error) {
	dir, err := a.runDir(in.RunPath)
	if err != nil {
		return CyclesOutput{}, err
	}
	if in.From < 1 || in.To < in.From {
		return CyclesOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: bad cycle range %d..%d", in.From, in.To), ErrInvalidConfig, nil)
	}
	s, err := a.build(in.Config)
	if err != nil {
		return CyclesOutput{}, err
	}
	rows, err := previousRows(dir.Diagnostics(), in.From)
	if err != nil {
		return CyclesOutput{}, err
	}
	if out, ok := finishedBatch(dir, s.Config, rows, in); ok {
		return out, nil
	}
	rows = trimRows(rows, in.From)

	E, _, err := store.ReadEnsemble(dir.Analysis(in.From - 1))
	if err != nil {
		return CyclesOutput{}, stateError(err)
	}
	truth, _, err := store.ReadVector(dir.Truth(in.From - 1))
	if err != nil {
		return CyclesOutput{}, stateError(err)
	}
	if r, c := E.Dims(); r != s.Config.Filter.Members || c != s.Model.Dim() || len(truth) != c {
		return CyclesOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: cycle %d state is %d×%d (truth %d), config wants %d×%d",
				in.From-1, r, c, len(truth), s.Config.Filter.Members, s.Model.Dim()), ErrBadState, nil)
	}
	// Outside Temporal (latentda run --in-process) there is no activity
	// context; local activities cannot heartbeat.
	heartbeat := activity.IsActivity(ctx) && !activity.GetInfo(ctx).IsLocalActivity
	var out CyclesOutput
	log := a.logger().With("run_id", in.RunID)
	y := make([]float64, s.Op.OutDim())
	for k := in.From; k <= in.To; k++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		t0 := time.Now()
		st, err := a.cycle(s, dir, in.RunID, E, truth, y, k)
		if err != nil {
			if werr := store.WriteDiagnostics(dir.Diagnostics(), rows, meta(in.RunID, s.Config, k-1)); werr != nil {
				err = errors.Join(err, werr)
			}
			log.Error("cycle failed", "cycle", k, "error", err)
			return out, err
		}
		if a.Metrics != nil {
			a.Metrics.CycleDone(in.RunID, time.Since(t0), st.RMSEa, st.SpreadA)
			a.Metrics.ObservationsFlagged(st.NFlagged)
		}
		log.Debug("cycle done", "cycle", k, "rmse_a", st.RMSEa, "spread_a", st.SpreadA, "flagged", st.NFlagged)
		rows = append(rows, diagRow(st))
		out.Sums.Add(st, s.Config.Scored(k))
		out.Last = st
		if heartbeat {
			activity.RecordHeartbeat(ctx, k)
		}
	}
	if err := store.WriteDiagnostics(dir.Diagnostics(), rows, meta(in.RunID, s.Config, in.To)); err != nil {
		return out, fmt.Errorf("activities: %w", err)
	}
	a.wrote(dir.Diagnostics())
	log.Info("cycles done", "from", in.From, "to", in.To, "rmse_a", out.Last.RMSEa, "spread_a", out.Last.SpreadA)
	return out, nil
}

// cycle runs and stores one cycle.
func (a *Activities) cycle(s *experiment.Setup, dir store.RunDir, runID string, E *mat.Dense, truth, y []float64, k int) (experiment.CycleStats, error) {
	m := meta(runID, s.Config, k)
	if err := dir.MkdirCycle(k); err != nil {
		return experiment.CycleStats{}, fmt.Errorf("activities: %w", err)
	}
	s.AdvanceTruth(truth)
	s.Observe(y, truth, k)
	if err := store.WriteVector(dir.Truth(k), truth, m); err != nil {
		return experiment.CycleStats{}, fmt.Errorf("activities: %w", err)
	}
	obs := store.Observations{Values: y, Variances: s.R.Variances(), Positions: s.Op.Positions()}
	if err := store.WriteObservations(dir.Observations(k), obs, m); err != nil {
		return experiment.CycleStats{}, fmt.Errorf("activities: %w", err)
	}
	if err := s.Forecast(E, k); err != nil {
		return experiment.CycleStats{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrDiverged, err)
	}
	if err := store.WriteEnsemble(dir.Forecast(k), E, m); err != nil {
		return experiment.CycleStats{}, fmt.Errorf("activities: %w", err)
	}
	st, err := s.Analyze(E, y, truth, k)
	if err != nil {
		return st, temporal.NewNonRetryableApplicationError(err.Error(), ErrDiverged, err)
	}
	if zf, za := s.LatentCodes(); zf != nil {
		if err := store.WriteEnsemble(dir.LatentForecast(k), zf, m); err != nil {
			return st, fmt.Errorf("activities: %w", err)
		}
		if err := store.WriteEnsemble(dir.LatentAnalysis(k), za, m); err != nil {
			return st, fmt.Errorf("activities: %w", err)
		}
	}
	if err := store.WriteEnsemble(dir.Analysis(k), E, m); err != nil {
		return st, fmt.Errorf("activities: %w", err)
	}
	a.wrote(dir.Truth(k), dir.Observations(k), dir.Forecast(k), dir.Analysis(k))
	if zf, _ := s.LatentCodes(); zf != nil {
		a.wrote(dir.LatentForecast(k), dir.LatentAnalysis(k))
	}
	return st, nil
}

// previousRows reads the diagnostics written so far (none before cycle 1).
func previousRows(path string, from int) ([]store.DiagRow, error) {
	ok, err := store.Exists(path)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("activities: %w", err)
		}
		return nil, err
	}
	rows, _, err := store.ReadDiagnostics(path)
	if err != nil {
		return nil, stateError(err)
	}
	return rows, nil
}

// stateError classifies a failure to read the run's state: a corrupt or
// mismatched file cannot be fixed by retrying (non-retryable ErrBadState);
// anything else, such as a missing file on a worker whose shared state
// directory is not mounted yet, may be, so it stays retryable.
func stateError(err error) error {
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNewerSchema) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadState, err)
	}
	return fmt.Errorf("activities: %w", err)
}

// trimRows keeps the rows of cycles before from.
func trimRows(rows []store.DiagRow, from int) []store.DiagRow {
	for i, r := range rows {
		if r.Cycle >= from {
			return rows[:i]
		}
	}
	return rows
}

// finishedBatch recognises a batch that an earlier attempt completed: the
// diagnostics hold rows From..To and the analysis of To exists.
// The analysis must read back: a damaged one is recomputed.
func finishedBatch(dir store.RunDir, cfg experiment.Config, rows []store.DiagRow, in CyclesInput) (CyclesOutput, bool) {
	if _, _, err := store.ReadEnsemble(dir.Analysis(in.To)); err != nil {
		return CyclesOutput{}, false
	}
	var out CyclesOutput
	next := in.From
	for _, r := range rows {
		if r.Cycle < in.From || r.Cycle > in.To {
			continue
		}
		if r.Cycle != next {
			return CyclesOutput{}, false
		}
		st := cycleStats(r)
		out.Sums.Add(st, cfg.Scored(r.Cycle))
		out.Last = st
		next++
	}
	return out, next == in.To+1
}

func diagRow(st experiment.CycleStats) store.DiagRow {
	return store.DiagRow{
		Cycle: st.Cycle, Time: st.Time, RMSEF: st.RMSEf, RMSEA: st.RMSEa,
		SpreadF: st.SpreadF, SpreadA: st.SpreadA,
		Innovation: st.NIS, InnovationExpected: st.NISExpected,
		NObs: st.NObs, NFlagged: st.NFlagged,
	}
}

func cycleStats(r store.DiagRow) experiment.CycleStats {
	return experiment.CycleStats{
		Cycle: r.Cycle, Time: r.Time, RMSEf: r.RMSEF, RMSEa: r.RMSEA,
		SpreadF: r.SpreadF, SpreadA: r.SpreadA,
		NIS: r.Innovation, NISExpected: r.InnovationExpected,
		NObs: r.NObs, NFlagged: r.NFlagged,
	}
}
