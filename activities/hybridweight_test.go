package activities_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/latentda/latentda/activities/internal/statetest"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/gentest"
	"github.com/latentda/latentda/store"
)

// TestHybridWeightRunsAreBitIdentical: the hybrid weight estimate's
// log-posterior is carried from cycle to cycle (hybrid-weight.arrow), so a
// hybrid-local run with latent.alpha_estimate writes the same files
// however its cycles are batched, and ends where the in-process runner
// does.
func TestHybridWeightRunsAreBitIdentical(t *testing.T) {
	const cycles = 40
	cfg := config.Config{
		Name: "hybrid-weight", Cycles: cycles, Seed: 6,
		Model:        config.ModelConfig{Name: "lorenz96"},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       config.FilterConfig{Method: "letkf", Members: 8, Inflation: 1.05, LocRadius: 4, BatchSize: 2},
		Latent: &config.LatentConfig{Generator: filepath.Join("generators", "pca.arrow"), Update: "increment", Analysis: config.LatentHybridLocal,
			AlphaEstimate: &config.AlphaEstimate{Memory: 10}},
	}
	genDir := t.TempDir()
	gentest.SavePCA(t, cfg, 1000, 20, filepath.Join(genDir, "pca.arrow"))
	inProcessCfg := cfg
	lat := *cfg.Latent
	lat.Generator = filepath.Join(genDir, "pca.arrow")
	inProcessCfg.Latent = &lat
	var inProcess []experiment.CycleStats
	if _, err := experiment.Run(context.Background(), inProcessCfg, func(st experiment.CycleStats) { inProcess = append(inProcess, st) }); err != nil {
		t.Fatal(err)
	}

	var first map[string][]byte
	for i, batches := range statetest.Batchings(cycles) {
		a := newActivities(t)
		gentest.SavePCA(t, cfg, 1000, 20, filepath.Join(a.StateRoot, "generators", "pca.arrow"))
		outs := runBatches(t, a, cfg, batches)
		if last := outs[len(outs)-1].Last; last != inProcess[cycles-1] {
			t.Errorf("batches %v: last cycle %+v, in process %+v", batches, last, inProcess[cycles-1])
		}
		files := statetest.Contents(t, runDir(a).Root)
		if i == 0 {
			first = files
			rs := store.OpenRunState(runDir(a))
			state, _, err := rs.Vector(store.FieldHybridWeight, cycles)
			rs.Close()
			if want := len(enkf.HybridWeightGrid) * len(enkf.HybridScaleGrid); err != nil || len(state) != want || slices.Max(state) != 0 || slices.Min(state) == 0 {
				t.Errorf("hybrid weight state after the last cycle: %v, %v; want %d values, the largest 0, moved from flat", state, err, want)
			}
			continue
		}
		if d := statetest.DiffSnapshots(first, files); len(d) > 0 {
			t.Errorf("batches %v: the run's files differ from one batch's: %v", batches, d)
		}
	}
}
