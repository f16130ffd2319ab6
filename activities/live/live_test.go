package live_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/live"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

const runID = "act-test"

// runPath is where runID lives under a state root, as the CLI lays it out.
var runPath = filepath.Join("runs", runID)

func newActivities(t *testing.T) *live.Activities {
	t.Helper()
	return &live.Activities{StateRoot: t.TempDir()}
}

func runDir(stateRoot string) store.RunDir {
	return store.RunDir{Root: filepath.Join(stateRoot, runPath)}
}

// initialize sets up the run under stateRoot with activities.Initialize.
func initialize(t *testing.T, stateRoot string, cfg config.Config) {
	t.Helper()
	a := &activities.Activities{StateRoot: stateRoot}
	if _, err := a.Initialize(context.Background(), activities.InitInput{RunID: runID, RunPath: runPath, Config: cfg}); err != nil {
		t.Fatalf("Initialize: %v", err)
	}
}

// liveConfig is a small L96 ETKF observing every other variable with a
// variance that is not 1, so that the observation files' positions and
// variances are checked against the run's.
func liveConfig() config.Config {
	return config.Config{
		Name: "live", Seed: 5, Cycles: 6, BurnIn: 0.1,
		Model:        config.ModelConfig{Name: "lorenz96", Nx: 40},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2, Variance: 0.5},
		Filter:       config.FilterConfig{Method: "etkf", Members: 10, Inflation: 1.02},
	}
}

func liveRun(cfg config.Config) live.LiveRun {
	return live.LiveRun{RunID: runID, RunPath: runPath, Config: cfg, ObsDir: "obs"}
}

// writeObs writes cycles from..to of cfg's nature run into a's observation
// directory at once, in format.
func writeObs(t *testing.T, a *live.Activities, cfg config.Config, format string, from, to int) {
	t.Helper()
	dir := filepath.Join(a.StateRoot, "obs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := experiment.ObsWriter{Dir: store.ObsDir{Root: dir}, Format: format, Start: time.Now().Add(-time.Hour), Every: time.Second, From: from, To: to}
	if err := w.Run(context.Background(), cfg, nil); err != nil {
		t.Fatalf("write observations: %v", err)
	}
}

func advance(a *live.Activities, cfg config.Config, from, to int, forecastOnlyTo bool) (live.AdvanceOutput, error) {
	return a.AdvanceCycles(context.Background(), live.AdvanceInput{LiveRun: liveRun(cfg), From: from, To: to, ForecastOnlyTo: forecastOnlyTo})
}

func prepare(t *testing.T, a *live.Activities, cfg config.Config, k int) live.CycleState {
	t.Helper()
	st, err := a.PrepareCycle(context.Background(), live.PrepareInput{LiveRun: liveRun(cfg), Cycle: k})
	if err != nil {
		t.Fatalf("PrepareCycle(%d): %v", k, err)
	}
	return st
}

// referenceRun runs cfg with RunCycles (synthetic observations drawn in
// the activity) in its own state root.
func referenceRun(t *testing.T, cfg config.Config) *activities.Activities {
	t.Helper()
	ref := &activities.Activities{StateRoot: t.TempDir()}
	initialize(t, ref.StateRoot, cfg)
	if _, err := ref.RunCycles(context.Background(), activities.CyclesInput{RunID: runID, RunPath: runPath, Config: cfg, From: 1, To: cfg.Cycles}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// sameAsReference checks that the live run's analyses and diagnostics of
// cycles 1..to equal those of the reference run bit for bit.
func sameAsReference(t *testing.T, ref *activities.Activities, got *live.Activities, to int) {
	t.Helper()
	rs := store.OpenRunState(runDir(ref.StateRoot))
	defer rs.Close()
	for k := 1; k <= to; k++ {
		want, _, err := rs.Ensemble(store.FieldAnalysis, k)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := store.ReadEnsemble(runDir(got.StateRoot).Analysis(k))
		if err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(want, got) {
			t.Errorf("cycle %d: the live run's analysis differs from the run's", k)
		}
	}
	wantRows, _, err := store.ReadDiagnostics(runDir(ref.StateRoot).Diagnostics())
	if err != nil {
		t.Fatal(err)
	}
	gotRows, _, err := store.ReadDiagnostics(runDir(got.StateRoot).Diagnostics())
	if err != nil {
		t.Fatal(err)
	}
	if len(gotRows) != to {
		t.Fatalf("live diagnostics have %d rows, want %d", len(gotRows), to)
	}
	for i := range gotRows {
		if !gotRows[i].Same(wantRows[i]) {
			t.Errorf("diagnostics row %d: live %+v, run %+v", i, gotRows[i], wantRows[i])
		}
	}
}

// TestLiveRunMatchesRun: a live run that finds every cycle's observations
// (Arrow and CSV files) gives the same analyses and diagnostics as a run
// of the same config, bit for bit: the files carry the exact values.
func TestLiveRunMatchesRun(t *testing.T) {
	cfg := liveConfig()
	ref := referenceRun(t, cfg)
	a := newActivities(t)
	writeObs(t, a, cfg, "arrow", 1, 3)
	writeObs(t, a, cfg, "csv", 4, cfg.Cycles)
	if st := prepare(t, a, cfg, 1); st.Latest != 0 || st.ForecastOnly || !strings.HasSuffix(st.ObsFile, "cycle-000001.arrow") {
		t.Fatalf("state before cycle 1: %+v", st)
	}
	for k := 1; k <= cfg.Cycles; k++ {
		out, err := advance(a, cfg, k, k, false)
		if err != nil {
			t.Fatalf("cycle %d: %v", k, err)
		}
		if len(out.Cycles) != 1 || !out.Cycles[0].Assimilated {
			t.Fatalf("cycle %d: %+v", k, out)
		}
	}
	sameAsReference(t, ref, a, cfg.Cycles)
	if st := prepare(t, a, cfg, 4); st.Latest != cfg.Cycles || st.ForecastOnly || !strings.HasSuffix(st.ObsFile, "cycle-000004.csv") {
		t.Errorf("state at the end: %+v", st)
	}
}

// TestLiveForecastOnlyThenBackfill: a cycle whose observations are late
// runs forecast-only and records it; once they arrive, re-running it and
// the cycles after it (a backfill) supersedes them, and the run ends as if
// the observations had been on time.
func TestLiveForecastOnlyThenBackfill(t *testing.T) {
	cfg := liveConfig()
	ref := referenceRun(t, cfg)
	a := newActivities(t)
	writeObs(t, a, cfg, "csv", 1, 2)
	writeObs(t, a, cfg, "arrow", 4, cfg.Cycles)
	prepare(t, a, cfg, 1)
	if _, err := advance(a, cfg, 1, 2, false); err != nil {
		t.Fatal(err)
	}
	out, err := advance(a, cfg, 3, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	if out.Cycles[0].Assimilated || out.Cycles[0].RMSEa != out.Cycles[0].RMSEf {
		t.Fatalf("cycle 3: %+v, want forecast-only", out.Cycles)
	}
	dir := runDir(a.StateRoot)
	fc, _, err := store.ReadEnsemble(dir.Forecast(3))
	if err != nil {
		t.Fatal(err)
	}
	an, m, err := store.ReadEnsemble(dir.Analysis(3))
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(fc, an) || m.Extra["analysis"] != live.AnalysisForecastOnly {
		t.Errorf("forecast-only analysis: equal to the forecast %v, extra %v", mat.Equal(fc, an), m.Extra)
	}
	if _, err := os.Stat(dir.Observations(3)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("forecast-only cycle has an observations file: %v", err)
	}
	rows, _, err := store.ReadDiagnostics(dir.Diagnostics())
	if err != nil {
		t.Fatal(err)
	}
	if r := rows[2]; r.Cycle != 3 || r.NObs != 0 || !math.IsNaN(r.Innovation) || r.RMSEA != r.RMSEF {
		t.Errorf("forecast-only diagnostics row %+v", r)
	}
	// The later cycles chain from the forecast-only analysis.
	if _, err := advance(a, cfg, 4, cfg.Cycles, false); err != nil {
		t.Fatal(err)
	}
	if st := prepare(t, a, cfg, 3); st.Latest != cfg.Cycles || !st.ForecastOnly || st.ObsFile != "" {
		t.Fatalf("state of cycle 3 before its observations: %+v", st)
	}

	// The late observations arrive; backfill cycle 3.
	writeObs(t, a, cfg, "arrow", 3, 3)
	st := prepare(t, a, cfg, 3)
	if !st.ForecastOnly || !strings.HasSuffix(st.ObsFile, "cycle-000003.arrow") {
		t.Fatalf("state of cycle 3 after its observations came: %+v", st)
	}
	out, err = advance(a, cfg, 3, st.Latest, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Cycles) != 4 || !out.Cycles[0].Assimilated {
		t.Fatalf("backfill ran %+v", out.Cycles)
	}
	sameAsReference(t, ref, a, cfg.Cycles)
	if _, m, err := store.ReadEnsemble(dir.Analysis(3)); err != nil || m.Extra["analysis"] != live.AnalysisAssimilated || m.Extra["observations"] != "cycle-000003.arrow" {
		t.Errorf("superseded analysis metadata %v (%v)", m.Extra, err)
	}
	if st := prepare(t, a, cfg, 3); st.ForecastOnly {
		t.Errorf("cycle 3 still forecast-only after the backfill: %+v", st)
	}

	// ForecastOnlyTo wins over observations that are there: the deadline
	// decided.
	if out, err := advance(a, cfg, 6, 6, true); err != nil || out.Cycles[0].Assimilated {
		t.Errorf("forced forecast-only cycle 6: %+v, %v", out, err)
	}
	for _, p := range []string{dir.Observations(6)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("superseded %s not removed: %v", p, err)
		}
	}
}

// TestLiveBadObservations: observation files that do not fit the run fail
// the cycle, non-retryably, naming the file and what is wrong.
func TestLiveBadObservations(t *testing.T) {
	cfg := liveConfig()
	s, err := experiment.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Op.OutDim()
	good := func() store.Observations {
		v := make([]float64, m)
		r := make([]float64, m)
		for i := range v {
			v[i], r[i] = float64(i), 0.5
		}
		return store.Observations{Values: v, Variances: r, Positions: s.Op.Positions()}
	}
	for _, c := range []struct {
		name  string
		write func(d store.ObsDir) error
		want  string
	}{
		{"CSV too short", func(d store.ObsDir) error {
			o := good()
			o.Values, o.Variances = o.Values[:m-1], o.Variances[:m-1]
			return store.WriteObsCSV(d.Path(1, "csv"), o)
		}, "19 observations, the config's operator \"every-k\" makes 20"},
		{"CSV NaN", func(d store.ObsDir) error {
			return os.WriteFile(d.Path(1, "csv"), []byte("index,value,variance\n0,NaN,1\n"), 0o644)
		}, `line 2: column "value": NaN is not finite`},
		{"Arrow positions", func(d store.ObsDir) error {
			o := good()
			o.Positions = make([]float64, m)
			return store.WriteObservations(d.Path(1, "arrow"), o, store.Meta{Cycle: 1})
		}, `column "position" differs`},
		{"Arrow flagged", func(d store.ObsDir) error {
			o := good()
			o.Flagged = make([]bool, m)
			o.Flagged[4] = true
			return store.WriteObservations(d.Path(1, "arrow"), o, store.Meta{Cycle: 1})
		}, `row 4: column "flagged"`},
		{"Arrow of another cycle", func(d store.ObsDir) error {
			return store.WriteObservations(d.Path(1, "arrow"), good(), store.Meta{Cycle: 2})
		}, "latentda.cycle is 2, the file name says cycle 1"},
		{"both formats", func(d store.ObsDir) error {
			if err := store.WriteObsCSV(d.Path(1, "csv"), good()); err != nil {
				return err
			}
			return store.WriteObservations(d.Path(1, "arrow"), good(), store.Meta{Cycle: 1})
		}, "keep one file per cycle"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newActivities(t)
			d := store.ObsDir{Root: filepath.Join(a.StateRoot, "obs")}
			if err := os.MkdirAll(d.Root, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := c.write(d); err != nil {
				t.Fatal(err)
			}
			initialize(t, a.StateRoot, cfg)
			_, err := advance(a, cfg, 1, 1, false)
			var appErr *temporal.ApplicationError
			if err == nil || !errors.As(err, &appErr) || !appErr.NonRetryable() {
				t.Fatalf("error %v, want a non-retryable application error", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), d.Root) {
				t.Errorf("error %q does not name the file or contain %q", err, c.want)
			}
			if ok, _ := store.Exists(runDir(a.StateRoot).Diagnostics()); ok {
				t.Error("a failed cycle committed diagnostics")
			}
		})
	}
}

// TestLiveAdvanceChecksChain: cycles must start right after the committed
// ones.
func TestLiveAdvanceChecksChain(t *testing.T) {
	cfg := liveConfig()
	a := newActivities(t)
	initialize(t, a.StateRoot, cfg)
	_, err := advance(a, cfg, 3, 3, true)
	if err == nil || !strings.Contains(err.Error(), "does not end at cycle 2") {
		t.Fatalf("error %v", err)
	}
	if _, err := a.AdvanceCycles(context.Background(), live.AdvanceInput{LiveRun: live.LiveRun{RunID: runID, RunPath: runPath, Config: cfg, ObsDir: "../elsewhere"}, From: 1, To: 1}); err == nil ||
		!strings.Contains(err.Error(), "must be absolute or inside the state directory") {
		t.Errorf("escaping observation directory: %v", err)
	}
}

// TestLiveAdvanceRefusesStaleRead: a cycle workflow that read the run
// before another one committed later cycles (two schedules on one run)
// is refused without writing, where it used to cut the diagnostics back
// to its own cycles; the same range again, an activity retried after it
// committed, runs.
func TestLiveAdvanceRefusesStaleRead(t *testing.T) {
	cfg := liveConfig()
	a := newActivities(t)
	writeObs(t, a, cfg, "csv", 1, 4)
	initialize(t, a.StateRoot, cfg)
	if _, err := advance(a, cfg, 1, 4, false); err != nil {
		t.Fatal(err)
	}
	diag := runDir(a.StateRoot).Diagnostics()
	before, err := os.ReadFile(diag)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int{{1, 2}, {3, 3}, {2, 3}} {
		_, err := advance(a, cfg, r[0], r[1], false)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != activities.ErrBadState || !app.NonRetryable() ||
			!strings.Contains(err.Error(), "cycles up to 4 are committed") || !strings.Contains(err.Error(), "two schedules") {
			t.Errorf("cycles %d..%d after 1..4 committed: %v, want a non-retryable %s naming cycle 4", r[0], r[1], err, activities.ErrBadState)
		}
	}
	if after, err := os.ReadFile(diag); err != nil || string(after) != string(before) {
		t.Errorf("the refused workflows changed %s (%v)", diag, err)
	}
	if out, err := advance(a, cfg, 1, 4, false); err != nil || len(out.Cycles) != 4 {
		t.Errorf("1..4 again (a retry): %v, %d cycles", err, len(out.Cycles))
	}
	if out, err := advance(a, cfg, 3, 4, false); err != nil || len(out.Cycles) != 2 {
		t.Errorf("3..4 (a backfill of committed cycles): %v, %d cycles", err, len(out.Cycles))
	}
}
