package live_test

import (
	"context"
	"slices"
	"testing"

	"github.com/latentda/latentda/activities/internal/statetest"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// TestLiveAdaptiveMatchesRun: with adaptive inflation (the EnKF-N's, or
// the innovation scheme's carried from cycle to cycle in inflation.arrow)
// and the observation-error variance estimated online (carried in
// variance-scales.arrow), a live run assimilating a run's observations
// from files gives the same analyses, diagnostics and estimates bit for bit,
// and the in-process runner's statistics (which a step that failed to
// carry the estimate from cycle to cycle would not give: the batched
// reference runs the same step).
func TestLiveAdaptiveMatchesRun(t *testing.T) {
	const cycles = 40
	for _, tc := range statetest.AdaptiveCases(cycles) {
		cfg := tc.Config
		ref := referenceRun(t, cfg)

		l := newActivities(t)
		writeObs(t, l, cfg, "arrow", 1, cycles)
		prepare(t, l, cfg, 1)
		for _, r := range [][2]int{{1, 13}, {14, cycles}} {
			if _, err := advance(l, cfg, r[0], r[1], false); err != nil {
				t.Fatalf("%s: live cycles %d..%d: %v", tc.Name, r[0], r[1], err)
			}
		}
		sameAsReference(t, ref, l, cycles)
		var inProcess []experiment.CycleStats
		if _, err := experiment.Run(context.Background(), cfg, func(st experiment.CycleStats) { inProcess = append(inProcess, st) }); err != nil {
			t.Fatal(err)
		}
		rows, _, err := store.ReadDiagnostics(runDir(l.StateRoot).Diagnostics())
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			if got := experiment.StatsOfRow(r); got != inProcess[i] {
				t.Errorf("%s, cycle %d: live %+v, in process %+v", tc.Name, r.Cycle, got, inProcess[i])
			}
		}
		rs := store.OpenRunState(runDir(ref.StateRoot))
		dir := runDir(l.StateRoot)
		for k := 1; k <= cycles; k++ {
			for _, e := range []struct {
				f    store.Field
				path string
			}{{store.FieldVarianceScales, dir.VarianceScales(k)}, {store.FieldInflation, dir.Inflation(k)}} {
				if e.f == store.FieldInflation && !tc.Innovation {
					continue
				}
				want, _, err := rs.Vector(e.f, k)
				if err != nil {
					t.Fatal(err)
				}
				got, _, err := store.ReadVector(e.path)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s, cycle %d: live %s %v, run's %v", tc.Name, k, e.f, got, want)
				}
				if k == cycles && want[0] == 1 {
					t.Errorf("%s: the %s estimate did not move from 1", tc.Name, e.f)
				}
			}
		}
		rs.Close()
	}
}
