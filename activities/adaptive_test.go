package activities_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/latentda/latentda/activities/internal/statetest"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// TestAdaptiveRunsAreBitIdentical: with adaptive inflation and the
// observation-error variance estimated online (carried from cycle to cycle
// in variance-scales.arrow), a run's files do not depend on its batching
// nor on a fanned-out forecast, and its statistics are the in-process
// runner's (the live path: live.TestLiveAdaptiveMatchesRun).
func TestAdaptiveRunsAreBitIdentical(t *testing.T) {
	const cycles = 40
	for _, perChannel := range []bool{false, true} {
		cfg := statetest.AdaptiveConfig(cycles, perChannel)
		var inProcess []experiment.CycleStats
		if _, err := experiment.Run(context.Background(), cfg, func(st experiment.CycleStats) { inProcess = append(inProcess, st) }); err != nil {
			t.Fatal(err)
		}
		single := make([][2]int, cycles)
		for k := range single {
			single[k] = [2]int{k + 1, k + 1}
		}
		var first map[string][]byte
		for i, batches := range [][][2]int{{{1, cycles}}, {{1, 13}, {14, cycles}}, single} {
			a := newActivities(t)
			outs := runBatches(t, a, cfg, batches)
			if last := outs[len(outs)-1].Last; last != inProcess[cycles-1] {
				t.Errorf("per channel %v, batches %v: last cycle %+v, in process %+v", perChannel, batches, last, inProcess[cycles-1])
			}
			files := statetest.Contents(t, runDir(a).Root)
			if i == 0 {
				first = files
				rs := store.OpenRunState(runDir(a))
				phi, _, err := rs.Vector(store.FieldVarianceScales, cycles)
				rs.Close()
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{false: 1, true: 40}[perChannel]; len(phi) != want || phi[0] == 1 {
					t.Errorf("per channel %v: variance scales after the last cycle %v, want %d values moved from 1", perChannel, phi, want)
				}
				// The diagnostics hold the inflation of every cycle and
				// the estimate after it.
				rows := readDiag(t, a)
				var mean float64
				for _, v := range phi {
					mean += v
				}
				if last := rows[cycles-1]; last.VarianceScale != mean/float64(len(phi)) || !(last.ObsVariance > 0) {
					t.Errorf("per channel %v: last row's variance scale %v, obs variance %v; the file's mean scale is %v", perChannel, last.VarianceScale, last.ObsVariance, mean/float64(len(phi)))
				}
				for _, r := range rows {
					if !(r.Inflation > 0) || r.Inflation == rows[0].Inflation && r.Cycle > 1 {
						t.Errorf("per channel %v, cycle %d: inflation %v, want an adaptive value > 0 that moves", perChannel, r.Cycle, r.Inflation)
					}
				}
				continue
			}
			if d := statetest.DiffSnapshots(first, files); len(d) > 0 {
				t.Errorf("per channel %v, batches %v: runs differ in %d files:\n%s", perChannel, batches, len(d), strings.Join(d, "\n"))
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
			t.Errorf("per channel %v: the fanned-out run differs in %d files:\n%s", perChannel, len(d), strings.Join(d, "\n"))
		}
	}
}
