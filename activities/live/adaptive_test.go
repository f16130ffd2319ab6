package live_test

import (
	"slices"
	"testing"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// TestLiveAdaptiveMatchesRun: with adaptive inflation and the
// observation-error variance estimated online (carried from cycle to cycle
// in variance-scales.arrow), a live run assimilating a run's observations
// from files gives the same analyses, diagnostics and estimates bit for bit.
func TestLiveAdaptiveMatchesRun(t *testing.T) {
	const cycles = 40
	xn := 2.0
	for _, perChannel := range []bool{false, true} {
		cfg := experiment.DapperConfigs(cycles)["l96-etkf"]
		cfg.Filter.Inflation = experiment.AdaptiveInflation
		cfg.Filter.Adaptive = &experiment.AdaptiveConfig{XN: &xn}
		cfg.BurnIn = 0.5
		cfg.Anomaly = &experiment.AnomalyConfig{NoiseVariance: 2}
		cfg.Observations.VarianceEstimate = &experiment.VarianceEstimateConfig{Method: "desroziers", PerChannel: perChannel, Memory: 10, Warmup: 3}
		ref := referenceRun(t, cfg)

		l := newActivities(t)
		writeObs(t, l, cfg, "arrow", 1, cycles)
		prepare(t, l, cfg, 1)
		for _, r := range [][2]int{{1, 13}, {14, cycles}} {
			if _, err := advance(l, cfg, r[0], r[1], false); err != nil {
				t.Fatalf("per channel %v: live cycles %d..%d: %v", perChannel, r[0], r[1], err)
			}
		}
		sameAsReference(t, ref, l, cycles)
		for k := 1; k <= cycles; k++ {
			want, _, err := store.ReadVector(runDir(ref.StateRoot).VarianceScales(k))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := store.ReadVector(runDir(l.StateRoot).VarianceScales(k))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("per channel %v, cycle %d: live variance scales %v, run's %v", perChannel, k, got, want)
			}
		}
	}
}
