package activities_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latentda/latentda/activities/internal/statetest"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/gentest"
	"github.com/latentda/latentda/store"
)

// TestChartRunsAreBitIdentical: the charts' states are carried from cycle
// to cycle (manifold-chart.arrow, innovation-chart.arrow), so a run with
// ood.manifold_memory and ood.innovation_memory flags the same cycles and
// writes the same files however its cycles are batched, and as the
// in-process runner does. A 6σ bias on one observation from cycle 10,
// which the charts flag after a few cycles, makes the states matter. The
// ETKF has 20 members: with 10 it loses the truth at times in the
// in-distribution twin, and the innovation chart, calibrated there, does
// not flag the bias.
func TestChartRunsAreBitIdentical(t *testing.T) {
	const cycles = 40
	cfg := config.Config{
		Name: "chart", Cycles: cycles, Seed: 4,
		Model:        config.ModelConfig{Name: "lorenz96"},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       config.FilterConfig{Method: "etkf", Members: 20, Inflation: 1.05},
		OOD: &config.OODConfig{Generator: filepath.Join("generators", "pca.arrow"), Tests: []string{config.TestInnovation, config.TestManifold},
			ManifoldMemory: 5, InnovationMemory: 5, CalibrationSamples: 1000},
		Anomaly: &config.AnomalyConfig{Bias: 6, BiasIndex: 4, FromCycle: 10},
	}
	genDir := t.TempDir()
	gentest.SavePCA(t, cfg, 1000, 12, filepath.Join(genDir, "pca.arrow"))
	inProcessCfg := cfg
	ood := *cfg.OOD
	ood.Generator = filepath.Join(genDir, "pca.arrow")
	inProcessCfg.OOD = &ood
	var inProcess []experiment.CycleStats
	if _, err := experiment.Run(context.Background(), inProcessCfg, func(st experiment.CycleStats) { inProcess = append(inProcess, st) }); err != nil {
		t.Fatal(err)
	}
	for _, chart := range []string{config.TestManifold, config.FlagInnovationChart} {
		flagged := 0
		for k, st := range inProcess {
			if slices.Contains(strings.Split(st.BatchFlag, "+"), chart) {
				if k < 9 {
					t.Fatalf("cycle %d, before the bias, flagged: %q", k+1, st.BatchFlag)
				}
				flagged++
			}
		}
		if flagged < 5 {
			t.Fatalf("%s: flagged %d of the %d biased cycles, want a stretch of them", chart, flagged, cycles-9)
		}
	}

	var first map[string][]byte
	for i, batches := range statetest.Batchings(cycles) {
		a := newActivities(t)
		// The same arguments write the same generator file.
		gentest.SavePCA(t, cfg, 1000, 12, filepath.Join(a.StateRoot, "generators", "pca.arrow"))
		outs := runBatches(t, a, cfg, batches)
		if last := outs[len(outs)-1].Last; last != inProcess[cycles-1] {
			t.Errorf("batches %v: last cycle %+v, in process %+v", batches, last, inProcess[cycles-1])
		}
		for k, row := range readDiag(t, a) {
			if row.BatchFlag != inProcess[k].BatchFlag {
				t.Errorf("batches %v, cycle %d: flags %q, in process %q", batches, k+1, row.BatchFlag, inProcess[k].BatchFlag)
			}
			// The charts' statistics are in the table, and the flags
			// are theirs.
			flags := strings.Split(row.BatchFlag, "+")
			if row.ManifoldThreshold != 1 || !(row.Manifold >= 0) || !(row.InnovationChart >= 0) ||
				slices.Contains(flags, config.TestManifold) != (row.Manifold > 1) || slices.Contains(flags, config.FlagInnovationChart) != (row.InnovationChart > 1) {
				t.Errorf("batches %v, cycle %d: manifold chart %v (threshold %v), innovation chart %v, flags %q", batches, k+1, row.Manifold, row.ManifoldThreshold, row.InnovationChart, row.BatchFlag)
			}
		}
		files := statetest.Contents(t, runDir(a).Root)
		if i == 0 {
			first = files
			rs := store.OpenRunState(runDir(a))
			state, _, err := rs.Vector(store.FieldManifoldChart, cycles)
			if err != nil || len(state) != 1+20+2*12 || state[0] == 0 {
				t.Errorf("chart state after the last cycle: %v, %v; want 1 + p + 2d = 45 values, moved from 0", state, err)
			}
			state, _, err = rs.Vector(store.FieldInnovationChart, cycles)
			if err != nil || len(state) != 20 || state[4] == 0 {
				t.Errorf("innovation chart state after the last cycle: %v, %v; want p = 20 values, moved from 0", state, err)
			}
			rs.Close()
			continue
		}
		if d := statetest.DiffSnapshots(first, files); len(d) > 0 {
			t.Errorf("batches %v: the run's files differ from one batch's: %v", batches, d)
		}
	}
}
