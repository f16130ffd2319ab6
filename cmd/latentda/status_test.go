package main

import (
	"strings"
	"testing"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/workflows"
)

// TestPrintStatusHyperparameters: the status shows the latest cycle's
// inflation, hybrid weight, estimated observation-error variances and
// manifold test and innovation chart statistics when it has them.
func TestPrintStatusHyperparameters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		last    experiment.CycleStats
		want    []string
		notWant []string
	}{
		{"fixed", experiment.CycleStats{Inflation: 1.02},
			[]string{"inflation 1.0200 (latest cycle)\n"}, []string{"R scale", "weight"}},
		{"hybrid", experiment.CycleStats{Inflation: 1.05, HybridWeight: 0.9875},
			[]string{"inflation 1.0500 (latest cycle)\nweight    0.9875 (hybrid weight α of the ensemble's covariance, latest cycle)\n"}, []string{"R scale"}},
		{"adaptive with estimate", experiment.CycleStats{Inflation: 1.0731, VarianceScale: 1.9375, ObsVariance: 0.96875},
			[]string{"inflation 1.0731", "R scale   1.9375 (estimated factor on the observation-error variances, latest cycle; mean variance 0.9688)\n"}, nil},
		{"forecast-only", experiment.CycleStats{VarianceScale: 2},
			[]string{"R scale   2.0000 (estimated factor on the observation-error variances, latest cycle)\n"}, []string{"inflation", "mean variance", "tests"}},
		{"charts", experiment.CycleStats{Inflation: 1.02, Manifold: 1.25, ManifoldThreshold: 1, InnovationChart: 0.375},
			[]string{"inflation 1.0200 (latest cycle)\ntests     manifold 1.25 (threshold 1), innovation chart 0.375 (threshold 1) (latest cycle)\n"}, nil},
		{"one-cycle manifold test", experiment.CycleStats{Manifold: 2.5, ManifoldThreshold: 3.75},
			[]string{"tests     manifold 2.5 (threshold 3.75) (latest cycle)\n"}, []string{"innovation chart"}},
	} {
		var b strings.Builder
		if err := printStatus(&b, "text", workflows.Status{RunID: "r", Last: tc.last}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: status lacks %q:\n%s", tc.name, w, out)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(out, w) {
				t.Errorf("%s: status has %q:\n%s", tc.name, w, out)
			}
		}
		if !strings.Contains(out, "spread_a  0.0000\n") || !strings.HasSuffix(out, "run dir   \n") {
			t.Errorf("%s: the other lines changed:\n%s", tc.name, out)
		}
	}
}

// TestPrintIndexedStatus: a run that did not answer the status query is
// shown by what its search attributes hold, said so, without the zeros of
// the fields they do not hold.
func TestPrintIndexedStatus(t *testing.T) {
	st := workflows.Status{RunID: "r", Phase: "cycling", Cycle: 13850}
	st.Last.RMSEa, st.Summary.Flagged = 4.0788, 3
	var b strings.Builder
	if err := printIndexedStatus(&b, "text", st, searchAttributesSource); err != nil {
		t.Fatal(err)
	}
	want := "run       r\nphase     cycling\ncycle     13850\nrmse_a    4.0788 (latest)\nflagged   3 observations\nsource    search attributes: the run did not answer the status query (busy, or closed)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestPrintStatusNoScoredCycle: before the burn-in ends the status says
// there is no mean yet, not a mean of 0.
func TestPrintStatusNoScoredCycle(t *testing.T) {
	var b strings.Builder
	if err := printStatus(&b, "text", workflows.Status{RunID: "r", Phase: "cycling", Cycle: 3, Cycles: 100}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "rmse_a    0.0000 (latest), no mean yet (no cycle scored after the burn-in)\n") {
		t.Errorf("got\n%s", b.String())
	}
}

// TestWriteRuns: a live run with no cycle done yet shows "-" for its
// cycle and RMSE, not zeros that read as a perfect analysis.
func TestWriteRuns(t *testing.T) {
	var b strings.Builder
	rows := []temporalclient.RunRow{
		{ID: "a", Kind: "run", Model: "lorenz96", Status: "Completed", Cycle: 40, RMSEa: 0.1875, Started: "s"},
		{ID: "l", Kind: "live", Model: "lorenz96", Status: "Running", Started: "s"},
	}
	if err := writeRuns(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], " 40 ") || !strings.Contains(lines[1], " 0.1875 ") ||
		strings.Fields(lines[2])[4] != "-" || strings.Fields(lines[2])[5] != "-" {
		t.Errorf("runs table:\n%s", b.String())
	}
}
