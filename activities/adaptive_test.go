package activities_test

import (
	"context"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/latentda/latentda/activities/internal/statetest"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// TestAdaptiveRunsAreBitIdentical: with adaptive inflation (the EnKF-N's,
// or the innovation scheme's carried from cycle to cycle in
// inflation.arrow) and the observation-error variance estimated online
// (carried in variance-scales.arrow), a run's files do not depend on its
// batching nor on a fanned-out forecast, and its statistics are the
// in-process runner's (the live path: live.TestLiveAdaptiveMatchesRun).
func TestAdaptiveRunsAreBitIdentical(t *testing.T) {
	const cycles = 40
	for _, tc := range statetest.AdaptiveCases(cycles) {
		cfg, perChannel := tc.Config, tc.PerChannel
		var inProcess []experiment.CycleStats
		if _, err := experiment.Run(context.Background(), cfg, func(st experiment.CycleStats) { inProcess = append(inProcess, st) }); err != nil {
			t.Fatal(err)
		}
		var first map[string][]byte
		for i, batches := range statetest.Batchings(cycles) {
			a := newActivities(t)
			outs := runBatches(t, a, cfg, batches)
			if last := outs[len(outs)-1].Last; last != inProcess[cycles-1] {
				t.Errorf("%s, batches %v: last cycle %+v, in process %+v", tc.Name, batches, last, inProcess[cycles-1])
			}
			files := statetest.Contents(t, runDir(a).Root)
			if i == 0 {
				first = files
				rs := store.OpenRunState(runDir(a))
				phi, _, err := rs.Vector(store.FieldVarianceScales, cycles)
				lam, _, lamErr := rs.Vector(store.FieldInflation, cycles)
				lamN, _, lamNErr := rs.Vector(store.FieldEnKFN, cycles)
				rs.Close()
				if a := cfg.Filter.Adaptive; (a != nil && a.EnKFNMemory != nil) != (lamNErr == nil) || lamNErr == nil && slices.Contains(lamN, 0) {
					t.Errorf("%s: the EnKF-N's averaged inflation after the last cycle: %v, %v", tc.Name, lamN, lamNErr)
				}
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{false: 1, true: 40}[perChannel]; len(phi) != want || phi[0] == 1 {
					t.Errorf("%s: variance scales after the last cycle %v, want %d values moved from 1", tc.Name, phi, want)
				}
				if tc.Innovation != (lamErr == nil) {
					t.Errorf("%s: the inflation estimate after the last cycle: %v, %v", tc.Name, lam, lamErr)
				}
				// The diagnostics hold the inflation of every cycle and
				// the estimate after it.
				rows := readDiag(t, a)
				if want := cfg.Model.Nx / max(cfg.Filter.BatchSize, 1); cfg.Filter.AdaptiveScheme() == config.SchemeLocalInnovation && len(lam) != want {
					t.Errorf("%s: %d local inflation estimates, want one per batch, %d", tc.Name, len(lam), want)
				}
				var sqrtMean float64
				for _, v := range lam {
					sqrtMean += math.Sqrt(v) / float64(len(lam))
				}
				// (With the EnKF-N on top, each √Λ_b is multiplied by its
				// batch's EnKF-N inflation.)
				if a := cfg.Filter.Adaptive; tc.Innovation && (a == nil || !a.EnKFN) && math.Abs(rows[cycles-1].Inflation-sqrtMean) > 1e-15 {
					t.Errorf("%s: last row's inflation %v, the carried estimate %v (want the mean of its square roots)", tc.Name, rows[cycles-1].Inflation, lam)
				}
				var mean float64
				for _, v := range phi {
					mean += v
				}
				if last := rows[cycles-1]; last.VarianceScale != mean/float64(len(phi)) || !(last.ObsVariance > 0) {
					t.Errorf("%s: last row's variance scale %v, obs variance %v; the file's mean scale is %v", tc.Name, last.VarianceScale, last.ObsVariance, mean/float64(len(phi)))
				}
				for _, r := range rows {
					if !(r.Inflation > 0) || r.Inflation == rows[0].Inflation && r.Cycle > 1 {
						t.Errorf("%s, cycle %d: inflation %v, want an adaptive value > 0 that moves", tc.Name, r.Cycle, r.Inflation)
					}
				}
				continue
			}
			if d := statetest.DiffSnapshots(first, files); len(d) > 0 {
				t.Errorf("%s, batches %v: runs differ in %d files:\n%s", tc.Name, batches, len(d), strings.Join(d, "\n"))
			}
		}

		fcfg := cfg
		fcfg.Orchestration = &config.Orchestration{Fanout: &config.FanoutConfig{MembersPerTask: 7}}
		fan := newActivities(t)
		fanoutRun(t, fan, fcfg.WithDefaults())
		files := statetest.Contents(t, runDir(fan).Root)
		want := maps.Clone(first)
		delete(want, "config.yaml") // holds the fan-out settings
		delete(files, "config.yaml")
		if d := statetest.DiffSnapshots(want, files); len(d) > 0 {
			t.Errorf("%s: the fanned-out run differs in %d files:\n%s", tc.Name, len(d), strings.Join(d, "\n"))
		}
	}
}
