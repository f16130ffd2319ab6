package activities_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/internal/statetest"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// fanoutL96 is a small Lorenz-96 run with model noise (so every member's
// random stream matters) and a fanned-out forecast of 7 members per task (the last task 3).
func fanoutL96(cycles int) config.Config {
	cfg := experiment.DapperConfigs(cycles)["l96-etkf"]
	cfg.BurnIn = 0.05 // one cycle
	cfg.Model.Noise = 0.01
	cfg.Orchestration = &config.Orchestration{Fanout: &config.FanoutConfig{MembersPerTask: 7}}
	return cfg.WithDefaults()
}

func forecastMembers(a *activities.Activities, cfg config.Config, k, lo, hi int) error {
	_, err := a.ForecastMembers(context.Background(), activities.MembersInput{RunID: runID, RunPath: runPath, Config: cfg, Cycle: k, Lo: lo, Hi: hi})
	return err
}

func analyzeCycle(a *activities.Activities, cfg config.Config, k int) (activities.CyclesOutput, error) {
	return a.AnalyzeCycle(context.Background(), activities.SplitCycleInput{RunID: runID, RunPath: runPath, Config: cfg, Cycle: k})
}

// fanoutRun runs cycles 1..cycles as the workflow's fan-out does, the
// batches of each cycle in reverse order.
func fanoutRun(t *testing.T, a *activities.Activities, cfg config.Config) []activities.CyclesOutput {
	t.Helper()
	initialize(t, a, cfg)
	per, N := cfg.Fanout().MembersPerTask, cfg.Filter.Members
	var outs []activities.CyclesOutput
	for k := 1; k <= cfg.Cycles; k++ {
		for lo := (N - 1) / per * per; lo >= 0; lo -= per {
			if err := forecastMembers(a, cfg, k, lo, min(lo+per, N)); err != nil {
				t.Fatalf("ForecastMembers cycle %d from %d: %v", k, lo, err)
			}
		}
		out, err := analyzeCycle(a, cfg, k)
		if err != nil {
			t.Fatalf("AnalyzeCycle %d: %v", k, err)
		}
		outs = append(outs, out)
	}
	return outs
}

// TestFanoutMatchesRunCycles: a fanned-out run writes the files of a run
// in one RunCycles batch, bit for bit (except config.yaml, which holds the
// fan-out settings), and returns the same statistics; it leaves no parts.
func TestFanoutMatchesRunCycles(t *testing.T) {
	cfg := fanoutL96(5)
	fan := newActivities(t)
	outs := fanoutRun(t, fan, cfg)

	plain := cfg
	plain.Orchestration = nil
	one := newActivities(t)
	ref := runBatches(t, one, plain, [][2]int{{1, 5}})[0]

	a, b := statetest.Contents(t, runDir(one).Root), statetest.Contents(t, runDir(fan).Root)
	delete(a, "config.yaml")
	delete(b, "config.yaml")
	if d := statetest.DiffSnapshots(a, b); len(d) > 0 {
		t.Errorf("fan-out run differs from RunCycles:\n%s", strings.Join(d, "\n"))
	}
	var sums experiment.Sums
	for _, o := range outs {
		sums.Merge(o.Sums)
	}
	if sums.Summary() != ref.Sums.Summary() || outs[len(outs)-1].Last != ref.Last {
		t.Errorf("fan-out statistics %+v, RunCycles %+v", sums.Summary(), ref.Sums.Summary())
	}
}

// TestFanoutIsIdempotent: repeating finished activities changes nothing;
// an analysis retried after the parts were removed reuses the assembled
// forecast; a forecast part that was lost is recomputed.
func TestFanoutIsIdempotent(t *testing.T) {
	cfg := fanoutL96(2)
	a := newActivities(t)
	fanoutRun(t, a, cfg)
	before := statetest.Snapshot(t, runDir(a).Root)
	out, err := analyzeCycle(a, cfg, 2)
	if err != nil || out.Last.Cycle != 2 {
		t.Fatalf("repeated AnalyzeCycle: %+v, %v", out, err)
	}
	// A retry of cycle 2 after a crash between the forecast file and the
	// diagnostics: the parts are gone, the forecast file is reused.
	dir := runDir(a)
	if err := os.Remove(dir.Analysis(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := analyzeCycle(a, cfg, 2); err != nil {
		t.Fatalf("AnalyzeCycle without parts: %v", err)
	}
	if d := statetest.DiffSnapshots(before, statetest.Snapshot(t, dir.Root)); len(d) > 0 {
		t.Errorf("retries changed the run:\n%s", strings.Join(d, "\n"))
	}
}

func TestFanoutBadInput(t *testing.T) {
	cfg := fanoutL96(2)
	a := newActivities(t)
	initialize(t, a, cfg)
	for _, c := range []struct {
		name   string
		k, lo  int
		hi     int
		typ    string
		substr string
	}{
		{"cycle 0", 0, 0, 7, activities.ErrInvalidConfig, "bad forecast batch"},
		{"empty batch", 1, 7, 7, activities.ErrInvalidConfig, "members 7..6 of 24"},
		{"past the ensemble", 1, 21, 28, activities.ErrInvalidConfig, "members 21..27 of 24"},
	} {
		t.Run(c.name, func(t *testing.T) {
			statetest.WantAppError(t, forecastMembers(a, cfg, c.k, c.lo, c.hi), c.typ, c.substr)
		})
	}
	plain := cfg
	plain.Orchestration = nil
	_, err := analyzeCycle(a, plain, 1)
	statetest.WantAppError(t, err, activities.ErrInvalidConfig, "orchestration.fanout")

	// A missing part is retryable (another worker may not have written it
	// yet, or the shared file system lags); a wrong one is not.
	if err := forecastMembers(a, cfg, 1, 0, 7); err != nil {
		t.Fatal(err)
	}
	_, err = analyzeCycle(a, cfg, 1)
	var appErr *temporal.ApplicationError
	if err == nil || (errors.As(err, &appErr) && appErr.NonRetryable()) || !strings.Contains(err.Error(), "members-000007-000013.arrow") {
		t.Errorf("analysis with missing parts: %v, want a retryable error naming the part", err)
	}
	dir := runDir(a)
	wrong, _, err := store.ReadEnsemble(dir.ForecastPart(1, 0, 7))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][2]int{{7, 14}, {14, 21}} {
		if err := store.WriteEnsemble(dir.ForecastPart(1, b[0], b[1]), wrong, store.Meta{RunID: runID, Model: "lorenz96", Cycle: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := forecastMembers(a, cfg, 1, 21, 24); err != nil {
		t.Fatal(err)
	}
	_, err = analyzeCycle(a, cfg, 1)
	statetest.WantAppError(t, err, activities.ErrBadState, "members-000007-000013.arrow", "want 7×40 members 7..13")
}
