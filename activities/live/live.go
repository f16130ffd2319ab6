// Package live holds the activities of a live (scheduled) run, which the
// Cycle workflow calls once per nominal cycle time: PrepareCycle,
// FindObservations and AdvanceCycles. Observations arrive as files in an
// observation directory (store.ObsDir) instead of being drawn; a cycle
// whose observations are missing at its deadline runs forecast-only. The
// cycle step and its files are those of package activities.
package live

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/internal/core"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// Values of the analysis files' "latentda.extra.analysis" key in live runs.
const (
	AnalysisAssimilated  = "assimilated"
	AnalysisForecastOnly = "forecast-only"
)

// LiveRun names a live (scheduled) run: its state and the directory its
// observations arrive in.
type LiveRun struct {
	RunID   string
	RunPath string // relative to the worker's state root
	Config  config.Config
	// ObsDir is the observation directory (store.ObsDir): absolute, or
	// relative to the worker's state root.
	ObsDir string
}

// PrepareInput asks for the state of a live run as seen by cycle Cycle.
type PrepareInput struct {
	LiveRun
	Cycle int
}

// CycleState is what a cycle workflow needs to decide what to run.
type CycleState struct {
	RunDir      string
	Diagnostics string
	// Latest is the last committed cycle: the last row of the diagnostics
	// table (0: only the initial state). The analysis of Latest is where
	// the next cycle starts.
	Latest int
	// ForecastOnly says that Cycle <= Latest ran without observations.
	ForecastOnly bool
	// ObsFile is the file holding Cycle's observations, "" if none yet.
	ObsFile string
}

// ObsInput asks whether cycle Cycle's observations have arrived.
type ObsInput struct {
	ObsDir string
	Cycle  int
}

// AdvanceInput runs cycles From..To of a live run from the committed
// analysis of From-1, superseding any earlier results of those cycles.
type AdvanceInput struct {
	LiveRun
	From, To int
	// ForecastOnlyTo runs cycle To without observations even if they are
	// in the directory by now (its deadline passed before they came).
	// The other cycles assimilate their observations if present.
	ForecastOnlyTo bool
}

// CycleOutcome is one cycle's result. It carries no NaN (Temporal payloads
// are JSON).
type CycleOutcome struct {
	Cycle       int     `json:"cycle"`
	Assimilated bool    `json:"assimilated"`
	ObsFile     string  `json:"obs_file,omitempty"`
	RMSEf       float64 `json:"rmse_f"`
	RMSEa       float64 `json:"rmse_a"`
}

// AdvanceOutput lists the cycles run.
type AdvanceOutput struct {
	Cycles []CycleOutcome `json:"cycles"`
}

// Activities carries the live activities' dependencies, as
// activities.Activities does.
type Activities struct {
	StateRoot string
	// AllowPaths are as activities.Activities' AllowPaths.
	AllowPaths []string
	// Metrics receives the bytes written; nil records nothing.
	Metrics activities.Recorder
	// Logger is passed on to Initialize, which sets up the run; nil means
	// slog.Default().
	Logger *slog.Logger
}

// env is the live activities' part of the shared machinery's dependencies.
func (a *Activities) env(ctx context.Context) core.Env {
	return core.Env{StateRoot: a.StateRoot, AllowPaths: a.AllowPaths, Metrics: a.Metrics, Ctx: ctx}
}

// run returns the activities of package activities with the same
// dependencies, for setting up the run.
func (a *Activities) run() *activities.Activities {
	return &activities.Activities{StateRoot: a.StateRoot, AllowPaths: a.AllowPaths, Metrics: a.Metrics, Logger: a.Logger}
}

func (a *Activities) obsDir(p string) (store.ObsDir, error) {
	switch {
	case p == "":
		return store.ObsDir{}, temporal.NewNonRetryableApplicationError("activities: no observation directory given", core.ErrInvalidConfig, nil)
	case filepath.IsAbs(p):
		return store.ObsDir{Root: p}, nil
	case !filepath.IsLocal(p):
		return store.ObsDir{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: observation directory %q must be absolute or inside the state directory", p), core.ErrInvalidConfig, nil)
	}
	return store.ObsDir{Root: filepath.Join(a.StateRoot, p)}, nil
}

// CycleWorkflowID is the prefix of the IDs of run runID's cycle
// workflows; a schedule appends "-" and each one's nominal time.
func CycleWorkflowID(runID string) string { return "latentda-cycle-" + runID }

// PrepareCycle initialises the live run if needed (as Initialize does) and
// reports its committed state and whether cycle Cycle's observations are
// in the directory. The diagnostics table is the commit record: a cycle is
// done when its row is there, which AdvanceCycles writes last. A run whose
// directory is missing although cycles of it completed before (a worker
// started with another state directory) is refused, not started over.
func (a *Activities) PrepareCycle(ctx context.Context, in PrepareInput) (CycleState, error) {
	dir, err := a.env(ctx).RunDir(in.RunPath)
	if err != nil {
		return CycleState{}, err
	}
	exists, err := store.Exists(dir.Config())
	if err != nil {
		return CycleState{}, fmt.Errorf("activities: %w", err)
	}
	if !exists {
		wf, err := ranBefore(ctx, in.RunID)
		if err != nil {
			return CycleState{}, err
		}
		if wf != "" {
			return CycleState{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("activities: run %s: %s does not exist on this worker, but cycles of the run have completed (workflow %s): the worker's state directory, %s, is not the one the run is in; start it with the run's --state-dir (a new run takes a new run ID)",
					in.RunID, dir.Root, wf, a.StateRoot), core.ErrBadState, nil)
		}
	}
	init, err := a.run().Initialize(ctx, activities.InitInput{RunID: in.RunID, RunPath: in.RunPath, Config: in.Config})
	if err != nil {
		return CycleState{}, err
	}
	od, err := a.obsDir(in.ObsDir)
	if err != nil {
		return CycleState{}, err
	}
	rows, _, err := core.PreviousRows(init.Diagnostics, 1)
	if err != nil {
		return CycleState{}, err
	}
	st := CycleState{RunDir: init.RunDir, Diagnostics: init.Diagnostics, Latest: core.LastCycle(rows)}
	if in.Cycle <= st.Latest {
		i := slices.IndexFunc(rows, func(r store.DiagRow) bool { return r.Cycle == in.Cycle })
		if i < 0 {
			return st, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("activities: %s has no row for cycle %d before its last cycle %d", init.Diagnostics, in.Cycle, st.Latest), core.ErrBadState, nil)
		}
		// An assimilated cycle uses every observation of the operator
		// (observation files must hold them all), so n_obs = 0 marks a
		// forecast-only cycle.
		st.ForecastOnly = rows[i].NObs == 0
	}
	if st.ObsFile, err = od.Find(in.Cycle); err != nil {
		return st, temporal.NewNonRetryableApplicationError(err.Error(), core.ErrBadState, err)
	}
	return st, nil
}

// FindObservations returns the file holding cycle Cycle's observations,
// "" if there is none yet.
func (a *Activities) FindObservations(ctx context.Context, in ObsInput) (string, error) {
	od, err := a.obsDir(in.ObsDir)
	if err != nil {
		return "", err
	}
	p, err := od.Find(in.Cycle)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), core.ErrBadState, err)
	}
	return p, nil
}

// AdvanceCycles runs cycles From..To of a live run: each advances the
// nature run (twin experiment) and the ensemble from the analysis of the
// cycle before, then assimilates the cycle's observation file if it is in
// the directory, or keeps the forecast as the analysis (forecast-only).
// Every file is written atomically and the diagnostics table, which holds
// the rows of the cycles before From and then these, is written last: it
// commits the cycles. A retry recomputes the same cycles from the same
// committed analysis, so it writes the same files. Files of an earlier
// run of these cycles are replaced (superseded), and those that the new
// run does not write (observations and latent codes of a cycle that is now
// forecast-only) are removed.
func (a *Activities) AdvanceCycles(ctx context.Context, in AdvanceInput) (AdvanceOutput, error) {
	od, err := a.obsDir(in.ObsDir)
	if err != nil {
		return AdvanceOutput{}, err
	}
	dir, err := a.env(ctx).RunDir(in.RunPath)
	if err != nil {
		return AdvanceOutput{}, err
	}
	if in.From < 1 || in.To < in.From {
		return AdvanceOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: bad cycle range %d..%d", in.From, in.To), core.ErrInvalidConfig, nil)
	}
	s, err := a.env(ctx).Build(dir, in.Config)
	if err != nil {
		return AdvanceOutput{}, err
	}
	rows, _, err := core.PreviousRows(dir.Diagnostics(), in.From)
	if err != nil {
		return AdvanceOutput{}, err
	}
	b := a.env(ctx).NewBatch(in.RunID, dir, s, core.TrimRows(rows, in.From))
	if core.LastCycle(b.Rows) != in.From-1 {
		return AdvanceOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: %s does not end at cycle %d, where cycle %d starts", dir.Diagnostics(), in.From-1, in.From), core.ErrBadState, nil)
	}
	// The cycle workflow read the run's last cycle before it waited: From-1
	// when it runs new cycles, To when it re-runs committed ones (a
	// backfill, or this activity retried after it committed). A later
	// last cycle means another workflow committed cycles since, which
	// running From..To now would drop or overwrite.
	if committed := core.LastCycle(rows); committed > in.From-1 && committed != in.To {
		return AdvanceOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: run %s: cycles up to %d are committed, past what this workflow read before it ran cycles %d..%d: another workflow ran cycles of this run meanwhile (two schedules driving one run?); nothing written",
				in.RunID, committed, in.From, in.To), core.ErrBadState, nil)
	}
	E, truth, err := core.ReadState(dir, s, in.From-1)
	if err != nil {
		return AdvanceOutput{}, err
	}
	var last atomic.Value // the last cycle done, heartbeated
	last.Store(in.From - 1)
	defer core.KeepAlive(ctx, &last)()
	var out AdvanceOutput
	for k := in.From; k <= in.To; k++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		obsFile := ""
		if k != in.To || !in.ForecastOnlyTo {
			if obsFile, err = od.Find(k); err != nil {
				return out, temporal.NewNonRetryableApplicationError(err.Error(), core.ErrBadState, err)
			}
		}
		extra := map[string]string{"analysis": AnalysisForecastOnly}
		if obsFile != "" {
			extra = map[string]string{"analysis": AnalysisAssimilated, "observations": filepath.Base(obsFile)}
		}
		c, err := a.env(ctx).Step(s, dir, nil, in.RunID, E, truth, k, observed(obsFile), 0, extra)
		if err != nil {
			return out, err
		}
		if _, err := b.Add(c); err != nil {
			return out, err
		}
		out.Cycles = append(out.Cycles, CycleOutcome{Cycle: k, Assimilated: obsFile != "", ObsFile: obsFile, RMSEf: c.Stats.RMSEf, RMSEa: c.Stats.RMSEa})
		last.Store(k)
	}
	return out, b.Commit()
}

// observed returns the core.Observer of a live run's cycle whose observations
// are in obsFile ("": none, a forecast-only cycle): it reads and checks
// the file, then advances the nature run.
func observed(obsFile string) core.Observer {
	return func(s *experiment.Setup, truth []float64, k int) (*experiment.Cycle, error) {
		c := &experiment.Cycle{K: k, Truth: truth}
		if obsFile != "" {
			var err error
			if c.Obs, err = loadObservations(obsFile, s, k); err != nil {
				return nil, temporal.NewNonRetryableApplicationError(err.Error(), core.ErrBadState, err)
			}
		}
		if err := s.AdvanceTruth(truth, k); err != nil {
			return nil, core.Diverged(err)
		}
		return c, nil
	}
}

// loadObservations reads cycle k's observation file and checks it against
// the run's observing system: one value per observation of the operator,
// the operator's positions (Arrow files), no quality-control flags, and for
// Arrow files the cycle in the metadata. A CSV file's positions are the
// operator's.
func loadObservations(path string, s *experiment.Setup, k int) (store.Observations, error) {
	var obs store.Observations
	var err error
	switch filepath.Ext(path) {
	case ".arrow":
		var m store.Meta
		if obs, m, err = store.ReadObservations(path); err == nil && m.Cycle != k {
			err = fmt.Errorf("observations %s: metadata latentda.cycle is %d, the file name says cycle %d", path, m.Cycle, k)
		}
	case ".csv":
		obs, err = store.ReadObsCSV(path)
	default:
		err = fmt.Errorf("observations %s: unknown file type (want .arrow or .csv)", path)
	}
	if err != nil {
		return obs, fmt.Errorf("activities: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("activities: observations %s: %s", path, fmt.Sprintf(format, args...))
	}
	if m := s.Op.OutDim(); obs.Len() != m {
		return obs, bad("%d observations, the config's operator %q makes %d", obs.Len(), s.Config.Observations.Operator, m)
	}
	pos := s.Op.Positions()
	if obs.Positions == nil {
		obs.Positions = slices.Clone(pos)
	} else if !slices.Equal(obs.Positions, pos) {
		return obs, bad("column \"position\" differs from the config's operator (positions %v)", pos)
	}
	if i := slices.Index(obs.Flagged, true); i >= 0 {
		return obs, bad("row %d: column \"flagged\": incoming observations must not be flagged (quality control runs in latentda)", i)
	}
	return obs, nil
}

// ranBefore returns the ID of a completed cycle workflow of run runID, ""
// if Temporal's visibility lists none (or this is not an activity).
func ranBefore(ctx context.Context, runID string) (string, error) {
	if !activity.IsActivity(ctx) {
		return "", nil
	}
	prefix := CycleWorkflowID(runID) + "-"
	req := &workflowservice.ListWorkflowExecutionsRequest{
		Query:    fmt.Sprintf("WorkflowId STARTS_WITH '%s' AND ExecutionStatus = 'Completed'", prefix),
		PageSize: 100,
	}
	c := activity.GetClient(ctx)
	for {
		resp, err := c.ListWorkflow(ctx, req)
		if err != nil {
			return "", fmt.Errorf("activities: run %s: list its cycle workflows: %w", runID, err)
		}
		for _, e := range resp.GetExecutions() {
			// Another run's ID may start with this one's: the rest must
			// be a nominal time.
			id := e.GetExecution().GetWorkflowId()
			if _, err := time.Parse(time.RFC3339, strings.TrimPrefix(id, prefix)); err == nil {
				return id, nil
			}
		}
		if req.NextPageToken = resp.GetNextPageToken(); len(req.NextPageToken) == 0 {
			return "", nil
		}
	}
}
