package activities_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// TestAdaptiveRunsAreBitIdentical: with adaptive inflation and the
// observation-error variance estimated online (carried from cycle to cycle
// in variance-scales.arrow), a run's files do not depend on its batching,
// and its statistics are the in-process runner's.
func TestAdaptiveRunsAreBitIdentical(t *testing.T) {
	const cycles = 40
	xn := 2.0
	for _, perChannel := range []bool{false, true} {
		cfg := experiment.DapperConfigs(cycles)["l96-etkf"]
		cfg.Filter.Inflation = experiment.AdaptiveInflation
		cfg.Filter.Adaptive = &experiment.AdaptiveConfig{XN: &xn}
		cfg.BurnIn = 0.5
		cfg.Anomaly = &experiment.AnomalyConfig{NoiseVariance: 2}
		cfg.Observations.VarianceEstimate = &experiment.VarianceEstimateConfig{Method: "desroziers", PerChannel: perChannel, Memory: 10, Warmup: 3}
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
			files := snapshot(t, runDir(a).Root)
			if i == 0 {
				first = files
				phi, _, err := store.ReadVector(runDir(a).VarianceScales(cycles))
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{false: 1, true: 40}[perChannel]; len(phi) != want || phi[0] == 1 {
					t.Errorf("per channel %v: variance scales after the last cycle %v, want %d values moved from 1", perChannel, phi, want)
				}
				continue
			}
			if d := diffSnapshots(first, files); len(d) > 0 {
				t.Errorf("per channel %v, batches %v: runs differ in %d files:\n%s", perChannel, batches, len(d), strings.Join(d, "\n"))
			}
		}
	}
}
