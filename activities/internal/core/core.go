// Package core is what the activity packages (activities, activities/live,
// activities/training) share: the non-retryable error types, heartbeats,
// resolving run paths under the state root, reading a run's state, and the
// stored cycle step with the batch that commits it.
package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/external"
	"github.com/latentda/latentda/internal/vec"
	"github.com/latentda/latentda/store"
)

// Non-retryable error types: retrying cannot fix them.
const (
	ErrInvalidConfig = "InvalidConfig"
	ErrDiverged      = "Diverged"
	ErrBadState      = "BadState"
	// ErrNondeterministic: a retried batch computed other values than its
	// first attempt committed (store.ErrRetryDiffers).
	ErrNondeterministic = "Nondeterministic"
)

// ErrExternalModel is the type of an external model's failures (package
// external), retryable when a fresh process may succeed: the process
// exited or timed out (Temporal's retry then starts a fresh one).
const ErrExternalModel = "ExternalModel"

// Env is what the shared machinery needs of an activity package's
// dependencies: the state root that run paths are relative to, and where
// to report the bytes written (nil: nowhere).
type Env struct {
	StateRoot string
	// AllowPaths are the directories outside StateRoot whose files a
	// config may name (config.Config.Confine).
	AllowPaths []string
	Metrics    interface{ BytesWritten(n int64) }
	// Ctx, if set, is the activity's context: the setups Build returns
	// stop their forecasts when it ends (experiment.Setup.SetContext).
	Ctx context.Context
}

// Wrote reports the sizes of files just written to the recorder.
func (e Env) Wrote(paths ...string) {
	if e.Metrics == nil {
		return
	}
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	e.Metrics.BytesWritten(n)
}

func (e Env) RunDir(runPath string) (store.RunDir, error) {
	if runPath == "" || filepath.IsAbs(runPath) || !filepath.IsLocal(runPath) {
		return store.RunDir{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: run path %q must be relative to the state directory", runPath), ErrInvalidConfig, nil)
	}
	return store.RunDir{Root: filepath.Join(e.StateRoot, runPath)}, nil
}

// Build constructs the experiment of the run in dir, reading the
// generator files that latent.generator and ood.generator name relative to
// the state root (refusing, as invalid config, files outside it and
// AllowPaths), pinned to the bytes the run started with (dir.Generators();
// none kept: not pinned): a generator retrained under the same name
// mid-run would silently change the cycles after it, and a retry would no
// longer repeat a batch bit for bit.
func (e Env) Build(dir store.RunDir, cfg config.Config) (*experiment.Setup, error) {
	confined, err := cfg.Confine(e.StateRoot, e.AllowPaths)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidConfig, err)
	}
	kept, err := store.ReadGenerators(dir)
	if errors.Is(err, store.ErrInvalid) {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("activities: %v", err), ErrBadState, err)
	}
	if err != nil {
		return nil, fmt.Errorf("activities: %w", err)
	}
	s, err := experiment.BuildPinned(confined, kept)
	var changed *experiment.GeneratorChangedError
	switch {
	case errors.As(err, &changed):
		msg := fmt.Sprintf("activities: %s %s: the file is not the one this run started with (sha256 %s, kept in %s; now %s). A run keeps its generator: put the file back to go on, or start a new run with this one (latentda rerun RUN --from-cycle K)",
			changed.Key, generatorPath(cfg, changed.Key), changed.Pinned, dir.Generators(), changed.Now)
		return nil, temporal.NewNonRetryableApplicationError(msg, ErrInvalidConfig, nil)
	case err != nil && isExternal(err):
		return nil, externalFailed(err)
	case err != nil:
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidConfig, err)
	}
	if e.Ctx != nil {
		s.SetContext(e.Ctx)
	}
	return s, nil
}

// generatorPath is the generator file that key names in cfg, as written.
func generatorPath(cfg config.Config, key string) string {
	switch {
	case key == "latent.generator" && cfg.Latent != nil:
		return cfg.Latent.Generator
	case key == "ood.generator" && cfg.OOD != nil:
		return cfg.OOD.Generator
	}
	return ""
}

func Meta(runID string, cfg config.Config, cycle int) store.Meta {
	params := ModelParams(cfg.Model)
	params["steps_between"] = strconv.Itoa(cfg.Observations.StepsBetween)
	params["method"] = cfg.Filter.Method
	params["members"] = strconv.Itoa(cfg.Filter.Members)
	return store.Meta{RunID: runID, Model: cfg.Model.Name, Params: params, Cycle: cycle, Time: cfg.CycleTime(cycle)}
}

// modelParams are the model's parameters as file metadata.
func ModelParams(m config.ModelConfig) map[string]string {
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

// ReadState reads the analysis and the truth of cycle k and checks their
// shape against the config.
func ReadState(dir store.RunDir, s *experiment.Setup, k int) (*mat.Dense, []float64, error) {
	rs := store.OpenRunState(dir)
	defer rs.Close()
	E, _, err := rs.Ensemble(store.FieldAnalysis, k)
	if err != nil {
		return nil, nil, StateError(err)
	}
	truth, _, err := rs.Vector(store.FieldTruth, k)
	if err != nil {
		return nil, nil, StateError(err)
	}
	if r, c := E.Dims(); r != s.Config.Filter.Members || c != s.Model.Dim() || len(truth) != c {
		return nil, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: cycle %d state is %d×%d (truth %d), config wants %d×%d",
				k, r, c, len(truth), s.Config.Filter.Members, s.Model.Dim()), ErrBadState, nil)
	}
	_, n := E.Dims()
	for _, st := range []struct {
		f    store.Field
		vals []float64
	}{{store.FieldAnalysis, E.RawMatrix().Data}, {store.FieldTruth, truth}} {
		i := vec.FirstNonFinite(st.vals)
		if i < 0 {
			continue
		}
		// Runs store only finite states (a diverging cycle stops before
		// its files are written), so this is a damaged file, not a
		// divergence.
		path, err := rs.Where(st.f, k)
		if err != nil {
			path = fmt.Sprintf("the %s of cycle %d", st.f, k)
		}
		return nil, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: %s: cycle %d %s, row %d variable %d is %v: the stored state is corrupt",
				path, k, st.f, i/n, i%n, st.vals[i]), ErrBadState, nil)
	}
	return E, truth, nil
}

// PreviousRows reads the diagnostics written so far (none before cycle 1)
// and the schema version of their file (0 without one).
func PreviousRows(path string, from int) ([]store.DiagRow, int, error) {
	ok, err := store.Exists(path)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("activities: %w", err)
		}
		return nil, 0, err
	}
	rows, meta, err := store.ReadDiagnostics(path)
	if err != nil {
		return nil, 0, StateError(err)
	}
	return rows, meta.SchemaVersion, nil
}

// StateError classifies a failure to read the run's state: a corrupt or
// mismatched file cannot be fixed by retrying (non-retryable ErrBadState);
// anything else, such as a missing file on a worker whose shared state
// directory is not mounted yet, may be, so it stays retryable.
func StateError(err error) error {
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNewerSchema) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadState, err)
	}
	return fmt.Errorf("activities: %w", err)
}

// KeepAlive heartbeats the latest progress every third of the activity's
// heartbeat timeout until stop is called, so a long step (a slow member, a
// large analysis, a slow external model) is not mistaken for a dead worker
// while a dead worker is still detected within the timeout. The first
// heartbeat comes a period after the start, and none after stop returns:
// a short activity sends none. Outside a regular activity it does nothing.
func KeepAlive(ctx context.Context, progress *atomic.Value) (stop func()) {
	if !activity.IsActivity(ctx) || activity.GetInfo(ctx).IsLocalActivity || activity.GetInfo(ctx).HeartbeatTimeout <= 0 {
		return func() {}
	}
	period := activity.GetInfo(ctx).HeartbeatTimeout / 3
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, progress.Load())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// Every activity that computes cycles runs the cycle step of package
// experiment (observe → forecast → quality control → analyse → score) and
// stores it here, in two halves:
//
//	Prepare: truth(k), forecast(k)   (the forecast run here, or put together from fanned-out parts)
//	Finish:  observations(k) with the quality-control decision, latent codes, analysis(k),
//	         the estimates carried to cycle k+1 (observations.variance_estimate)
//
// then commits the cycles by writing the diagnostics table (Batch).

// Observer advances the truth to cycle k and returns the cycle with its
// observations: the twin experiment's draw, or a live run's file.
type Observer func(s *experiment.Setup, truth []float64, k int) (*experiment.Cycle, error)

// Twin draws the synthetic observations of a twin experiment.
func Twin(s *experiment.Setup, truth []float64, k int) (*experiment.Cycle, error) {
	c, err := s.ObserveCycle(truth, k)
	if err != nil {
		return nil, Diverged(err)
	}
	return c, nil
}

// Step runs and stores cycle k from the analysis E of cycle k-1 and the
// truth, both advanced in place: Prepare, then Finish. The analysis file's
// metadata gets extra. The cycle is stored in out, a batch of cycles, or
// with out nil in the cycle's directory.
func (e Env) Step(s *experiment.Setup, dir store.RunDir, out *store.CycleBatch, runID string, E *mat.Dense, truth []float64, k int, obs Observer, parts int, extra map[string]string) (*experiment.Cycle, error) {
	c, E, err := e.Prepare(s, dir, out, runID, E, truth, k, obs, parts)
	if err != nil {
		return nil, err
	}
	return c, e.Finish(s, dir, out, runID, c, E, extra)
}

// Prepare runs the first half of cycle k's step: it reads the estimates
// stored after cycle k-1 into s, observes, writes the truth, forecasts E
// (or, with parts > 0, puts the forecast together from the fanned-out
// parts of parts members each) and writes the forecast. It returns the
// cycle and the forecast. Within a batch of cycles (out) the estimates of
// cycle k-1 are those s holds: only the batch's first cycle reads them.
func (e Env) Prepare(s *experiment.Setup, dir store.RunDir, out *store.CycleBatch, runID string, E *mat.Dense, truth []float64, k int, obs Observer, parts int) (*experiment.Cycle, *mat.Dense, error) {
	m := Meta(runID, s.Config, k)
	if out == nil || !out.Holds(k-1) {
		if err := s.ReadEstimates(dir, k-1); err != nil {
			return nil, nil, StateError(err)
		}
	}
	if out == nil {
		if err := dir.MkdirCycle(k); err != nil {
			return nil, nil, fmt.Errorf("activities: %w", err)
		}
	}
	c, err := obs(s, truth, k)
	if err != nil {
		return nil, nil, err
	}
	if err := writeTruth(dir, out, truth, m); err != nil {
		return nil, nil, fmt.Errorf("activities: %w", err)
	}
	if parts > 0 {
		if E, err = Assemble(dir, s, runID, k, parts); err != nil {
			return nil, nil, err
		}
	} else if err := s.Forecast(E, k); err != nil {
		return nil, nil, Diverged(err)
	}
	if err := writeEnsemble(dir, out, store.FieldForecast, E, m); err != nil {
		return nil, nil, recordErr(err)
	}
	return c, E, nil
}

// writeTruth stores the truth of cycle m.Cycle in out or, with out nil,
// the cycle's directory.
func writeTruth(dir store.RunDir, out *store.CycleBatch, x []float64, m store.Meta) error {
	if out != nil {
		return out.Truth(m, x)
	}
	return store.WriteVector(dir.Truth(m.Cycle), x, m)
}

// writeEnsemble stores the ensemble f of cycle m.Cycle in out or, with out
// nil, the cycle's directory.
func writeEnsemble(dir store.RunDir, out *store.CycleBatch, f store.Field, E *mat.Dense, m store.Meta) error {
	if out != nil {
		if f == store.FieldForecast {
			return out.Forecast(m, E)
		}
		return out.Analysis(m, E)
	}
	path := dir.Analysis(m.Cycle)
	if f == store.FieldForecast {
		path = dir.Forecast(m.Cycle)
	}
	return store.WriteEnsemble(path, E, m)
}

// Finish runs the second half of cycle c's step: it assimilates c's
// observations into the forecast E (a cycle without observations keeps
// the forecast) and writes the observations with the quality-control
// decision beside them, the latent codes of a latent filter, the
// analysis, whose metadata gets extra, and the estimates carried to the
// next cycle. Files of an earlier run of the cycle that this one does not
// write are removed. In a batch of cycles (out) the cycle ends here, and
// the batch's Commit writes it.
func (e Env) Finish(s *experiment.Setup, dir store.RunDir, out *store.CycleBatch, runID string, c *experiment.Cycle, E *mat.Dense, extra map[string]string) error {
	if out != nil {
		return finishInBatch(s, out, runID, c, E)
	}
	k := c.K
	m := Meta(runID, s.Config, k)
	written := []string{dir.Truth(k), dir.Forecast(k), dir.Analysis(k)}
	if c.Obs.Values == nil {
		s.ForecastOnlyCycle(c, E)
		for _, p := range []string{dir.Observations(k), dir.LatentForecast(k), dir.LatentAnalysis(k)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("activities: remove superseded %s: %w", p, err)
			}
		}
	} else {
		if err := s.Assimilate(c, E); err != nil {
			return Diverged(err)
		}
		if err := store.WriteObservations(dir.Observations(k), c.Obs, m); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
		written = append(written, dir.Observations(k))
		if c.LatentForecast != nil {
			if err := store.WriteEnsemble(dir.LatentForecast(k), c.LatentForecast, m); err != nil {
				return fmt.Errorf("activities: %w", err)
			}
			if err := store.WriteEnsemble(dir.LatentAnalysis(k), c.LatentAnalysis, m); err != nil {
				return fmt.Errorf("activities: %w", err)
			}
			written = append(written, dir.LatentForecast(k), dir.LatentAnalysis(k))
		}
	}
	if err := s.WriteEstimates(dir, k, m); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	for _, est := range s.Estimates() {
		written = append(written, dir.CycleFile(est.Field, k))
	}
	m.Extra = extra
	if err := store.WriteEnsemble(dir.Analysis(k), E, m); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	e.Wrote(written...)
	return nil
}

// finishInBatch is Finish for a cycle of a batch.
func finishInBatch(s *experiment.Setup, out *store.CycleBatch, runID string, c *experiment.Cycle, E *mat.Dense) error {
	m := Meta(runID, s.Config, c.K)
	if c.Obs.Values == nil {
		s.ForecastOnlyCycle(c, E)
	} else {
		if err := s.Assimilate(c, E); err != nil {
			return Diverged(err)
		}
		if err := out.Observations(m, c.Obs); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
		if c.LatentForecast != nil {
			if err := out.Latent(m, c.LatentForecast, c.LatentAnalysis); err != nil {
				return fmt.Errorf("activities: %w", err)
			}
		}
	}
	for _, est := range s.Estimates() {
		if err := out.Estimate(m, est.Field, est.Values); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
	}
	if err := out.Analysis(m, E); err != nil {
		return recordErr(err)
	}
	return out.EndCycle()
}

// recordErr classifies a failure to record a cycle's state: one that is
// not finite diverged (non-retryable); anything else may pass.
func recordErr(err error) error {
	if errors.Is(err, store.ErrNotFinite) {
		return Diverged(err)
	}
	return fmt.Errorf("activities: %w", err)
}

// Diverged marks a failure of the numerics (divergence, bad data) as
// non-retryable; an external model's failure is left to externalFailed.
func Diverged(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // stopped, not diverged: retryable, the cycle runs again
	}
	if isExternal(err) {
		return externalFailed(err)
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrDiverged, err)
}

// isExternal reports whether err is an external model's failure.
func isExternal(err error) bool {
	var e *external.Error
	return errors.As(err, &e)
}

// externalFailed is an external model's failure as an ErrExternalModel
// error, retryable as external.IsRetryable says.
func externalFailed(err error) error {
	if external.IsRetryable(err) {
		return temporal.NewApplicationError(err.Error(), ErrExternalModel, err)
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrExternalModel, err)
}

// Summary summarises a batch of cycles (the activities' CyclesOutput).
type Summary struct {
	Sums experiment.Sums
	Last experiment.CycleStats
	// PauseAt is the cycle after which the run must pause (ood.pause_on_batch
	// and a flagged batch): the batch stops there. 0: no pause.
	PauseAt int
	// Answered says that the run was resumed after PauseAt before (cycles
	// after it are committed): it goes on from PauseAt+1 without pausing.
	Answered bool
}

// Batch is a batch of cycles of a run being computed: the diagnostics
// rows of the cycles before it and of those done, and the batch's summary.
type Batch struct {
	Dir     store.RunDir
	Setup   *experiment.Setup
	Rows    []store.DiagRow
	Summary Summary
	// Out, if not nil, stores the batch's cycles in batch files (see
	// StoreInBatch); else each cycle is stored in its directory.
	Out *store.CycleBatch

	env   Env
	runID string
	// before is the last cycle before the batch.
	before int
	// first holds the rows an earlier attempt of this batch stored for
	// the cycles it finished before it failed, in a file of schema version
	// firstVersion: a retry must compute them again bit for bit (Add).
	first        map[int]store.DiagRow
	firstVersion int
}

// NewBatch starts a batch of cycles of run runID in dir after the
// diagnostics rows of the cycles before it.
func (e Env) NewBatch(runID string, dir store.RunDir, s *experiment.Setup, rows []store.DiagRow) *Batch {
	return &Batch{Dir: dir, Setup: s, Rows: rows, env: e, runID: runID, before: LastCycle(rows)}
}

// OpenBatch checks a batch of cycles from..to of the run at runPath,
// builds its experiment and reads the diagnostics rows of the cycles
// before it. done says that an earlier attempt finished the batch; its
// summary is then b.Summary.
func (e Env) OpenBatch(runID, runPath string, cfg config.Config, from, to int) (b *Batch, done bool, err error) {
	b = &Batch{env: e, runID: runID}
	if b.Dir, err = e.RunDir(runPath); err != nil {
		return b, false, err
	}
	if from < 1 || to < from {
		return b, false, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: bad cycle range %d..%d", from, to), ErrInvalidConfig, nil)
	}
	if b.Setup, err = e.Build(b.Dir, cfg); err != nil {
		return b, false, err
	}
	if b.Rows, b.firstVersion, err = PreviousRows(b.Dir.Diagnostics(), from); err != nil {
		return b, false, err
	}
	if sum, ok := finishedBatch(b.Dir, b.Setup.Config, b.Rows, from, to); ok {
		b.Summary = sum
		return b, true, nil
	}
	for _, r := range b.Rows {
		if r.Cycle >= from && r.Cycle <= to {
			if b.first == nil {
				b.first = map[int]store.DiagRow{}
			}
			b.first[r.Cycle] = r
		}
	}
	b.Rows = TrimRows(b.Rows, from)
	b.before = LastCycle(b.Rows)
	return b, false, nil
}

// Add records cycle c in the batch and reports whether the run pauses
// after it (ood.pause_on_batch and a flagged batch; see pauses). A cycle that an
// earlier attempt of the batch stored with other diagnostics is a
// non-retryable ErrNondeterministic error: the model, or an input that
// changed between the attempts, broke the bit-for-bit retries.
func (b *Batch) Add(c *experiment.Cycle) (pause bool, err error) {
	row := c.Row()
	if first, ok := b.first[c.K]; ok && !row.SameAsStored(first, b.firstVersion) {
		err := fmt.Errorf("activities: cycle %d: a retry of the batch computed rmse_f %v, rmse_a %v where the first attempt stored %v, %v: the model, or an input that changed between the attempts, is not deterministic (see docs/external-models.md, Determinism); a run whose model was changed on purpose goes on as a new run from the cycle before this batch: latentda rerun %s --from-cycle %d",
			c.K, row.RMSEF, row.RMSEA, first.RMSEF, first.RMSEA, b.runID, b.before)
		return false, temporal.NewNonRetryableApplicationError(err.Error(), ErrNondeterministic, err)
	}
	prevFlag := lastFlag(b.Rows)
	b.Rows = append(b.Rows, row)
	b.Summary.Sums.Add(c.Stats, b.Setup.Config.Scored(c.K))
	b.Summary.Last = c.Stats
	if pauses(b.Setup.Config, c.Stats, prevFlag) {
		b.Summary.PauseAt = c.K
		return true, nil
	}
	return false, nil
}

// StoreInBatch makes the batch store its cycles in batch files (b.Out),
// keeping the ensembles the config's store section says, and refusing a
// forecast or analysis that is not finite (a divergence).
func (b *Batch) StoreInBatch() error {
	keep, err := b.Setup.Config.Store.Retention()
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidConfig, err)
	}
	b.Out = b.Dir.NewCycleBatch(keep)
	b.Out.RefuseNonFinite()
	return nil
}

// Commit writes the batch files of the batch's cycles (if it has b.Out)
// and the diagnostics table with the batch's rows: the batch's cycles are
// done.
func (b *Batch) Commit() error {
	if b.Out != nil {
		return b.commitOut(b.Summary.Last.Cycle)
	}
	if err := store.WriteDiagnostics(b.Dir.Diagnostics(), b.Rows, Meta(b.runID, b.Setup.Config, b.Summary.Last.Cycle)); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	b.env.Wrote(b.Dir.Diagnostics())
	return nil
}

// Fail writes the diagnostics table up to the cycle before k, which
// failed with err, and returns err.
func (b *Batch) Fail(k int, err error) error {
	if b.Out != nil {
		return errors.Join(err, b.commitOut(k-1))
	}
	if werr := store.WriteDiagnostics(b.Dir.Diagnostics(), b.Rows, Meta(b.runID, b.Setup.Config, k-1)); werr != nil {
		err = errors.Join(err, werr)
	}
	return err
}

// commitOut writes the batch files of the cycles that ended and the
// diagnostics table, whose metadata holds cycle last.
func (b *Batch) commitOut(last int) error {
	paths, err := b.Out.Commit(b.Rows, Meta(b.runID, b.Setup.Config, last))
	if errors.Is(err, store.ErrRetryDiffers) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrNondeterministic, err)
	}
	if errors.Is(err, store.ErrInvalid) {
		return StateError(err)
	}
	if err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	b.env.Wrote(paths...)
	return nil
}

// TrimRows keeps the rows of cycles before from.
func TrimRows(rows []store.DiagRow, from int) []store.DiagRow {
	for i, r := range rows {
		if r.Cycle >= from {
			return rows[:i]
		}
	}
	return rows
}

// finishedBatch recognises a batch that an earlier attempt completed: the
// diagnostics hold rows from..to, or from..K for a batch that paused at K,
// and the analysis of the last cycle exists (or was not kept, and rows of
// later cycles follow). The analysis must read back: a damaged one is
// recomputed.
func finishedBatch(dir store.RunDir, cfg config.Config, rows []store.DiagRow, from, to int) (Summary, bool) {
	var out Summary
	next := from
	for i, r := range rows {
		if r.Cycle < from || r.Cycle > to {
			continue
		}
		if r.Cycle != next {
			return Summary{}, false
		}
		st := experiment.StatsOfRow(r)
		out.Sums.Add(st, cfg.Scored(r.Cycle))
		out.Last = st
		next++
		if pauses(cfg, st, lastFlag(rows[:i])) {
			out.PauseAt, out.Answered = st.Cycle, LastCycle(rows) > st.Cycle
			break
		}
	}
	if out.PauseAt == 0 && next != to+1 {
		return Summary{}, false
	}
	rs := store.OpenRunState(dir)
	defer rs.Close()
	_, _, err := rs.Ensemble(store.FieldAnalysis, next-1)
	// An analysis the retention did not keep, with rows after the batch:
	// a run continued with another orchestration.batch_cycles ends its
	// batches where the earlier ones kept no ensemble (store.analysis
	// every K), and the later batch started from the state the earlier
	// one ended with. Recomputing would rewrite the diagnostics without
	// the later rows.
	if err == nil || errors.Is(err, store.ErrNotKept) && rows[len(rows)-1].Cycle >= next {
		return out, true
	}
	return Summary{}, false
}

// pauses reports whether the run pauses after a cycle: ood.pause_on_batch
// and a flagged batch, but not for a chart's alarm that goes on from the
// cycle before (prevFlag, its batch flag): a chart's alarms come in runs
// of about a memory, and the run pauses at the first cycle of one.
func pauses(cfg config.Config, st experiment.CycleStats, prevFlag string) bool {
	if cfg.OOD == nil || !cfg.OOD.PauseOnBatch || st.BatchFlag == "" {
		return false
	}
	prev := strings.Split(prevFlag, "+")
	for _, flag := range strings.Split(st.BatchFlag, "+") {
		if !cfg.OOD.IsChart(flag) || !slices.Contains(prev, flag) {
			return true
		}
	}
	return false
}

// lastFlag is the batch flag of the last of rows ("" for none).
// LastCycle is the cycle of the last row, 0 for none.
func LastCycle(rows []store.DiagRow) int {
	if len(rows) == 0 {
		return 0
	}
	return rows[len(rows)-1].Cycle
}

func lastFlag(rows []store.DiagRow) string {
	if len(rows) == 0 {
		return ""
	}
	return rows[len(rows)-1].BatchFlag
}

// ExtraPartMembers is the metadata key of a forecast part's member range
// ("7..13").
const ExtraPartMembers = "members"

// PartRange is the metadata value of a part's index range lo..hi−1 ("7..13").
func PartRange(lo, hi int) string { return fmt.Sprintf("%d..%d", lo, hi-1) }

// ExtraPartPoints is the metadata key of an analysis part's grid range.
const ExtraPartPoints = "points"

// ReadPart reads a part of cycle k written by a fanned-out activity (a
// rows × cols ensemble file whose extra metadata key holds its range
// lo..hi−1) and checks that it is the one asked for.
func ReadPart(path, key, runID string, k, lo, hi, rows, cols int) (*mat.Dense, error) {
	P, m, err := store.ReadEnsemble(path)
	if err != nil {
		return nil, err
	}
	want := PartRange(lo, hi)
	if r, c := P.Dims(); r != rows || c != cols || m.RunID != runID || m.Cycle != k || m.Extra[key] != want {
		return nil, fmt.Errorf("%w: %s holds %d×%d %s %q of run %q cycle %d, want %d×%d %s %s of run %q cycle %d",
			store.ErrInvalid, path, r, c, key, m.Extra[key], m.RunID, m.Cycle, rows, cols, key, want, runID, k)
	}
	return P, nil
}

// Assemble returns the forecast ensemble of cycle k: the forecast file if
// an earlier attempt wrote it, else the parts of per members each, copied
// into one ensemble. A missing part is a retryable error (its activity may
// not be visible on this worker's file system yet).
func Assemble(dir store.RunDir, s *experiment.Setup, runID string, k, per int) (*mat.Dense, error) {
	if E, fm, err := store.ReadEnsemble(dir.Forecast(k)); err == nil {
		if r, c := E.Dims(); r == s.Config.Filter.Members && c == s.Model.Dim() && fm.RunID == runID && fm.Cycle == k {
			return E, nil
		}
	}
	N, n := s.Config.Filter.Members, s.Model.Dim()
	E := mat.NewDense(N, n, nil)
	for lo := 0; lo < N; lo += per {
		hi := min(lo+per, N)
		P, err := ReadPart(dir.ForecastPart(k, lo, hi), ExtraPartMembers, runID, k, lo, hi, hi-lo, n)
		if err != nil {
			return nil, StateError(err)
		}
		E.Slice(lo, hi, 0, n).(*mat.Dense).Copy(P)
	}
	return E, nil
}
