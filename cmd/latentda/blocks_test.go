package main

import (
	"path/filepath"
	"testing"
)

// blocksConfig is a Lorenz-96 LETKF whose analysis is split into 4 blocks
// of the domain.
const blocksConfig = `name: l96-blocks
seed: 3
cycles: 5
burn_in: 0.1
model: {name: lorenz96, nx: 200}
observations: {operator: every-k, every: 2}
filter: {method: letkf, members: 16, inflation: 1.04, loc_radius: 5}
orchestration: {blocks: 4}
`

// TestBlocksAcrossTwoWorkerProcesses runs a block-wise LETKF with two
// `latentda worker` processes on one state directory: the block analyses
// run on both workers, and the files are those of the same experiment run
// as whole cycles, bit for bit.
func TestBlocksAcrossTwoWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and two worker processes")
	}
	tmp := t.TempDir()
	cfg, s, _, _, byType, workers := runOnTwoWorkers(t, tmp, blocksConfig, "blk")
	if n := len(byType["AnalyzeBlock"]); n != 4*cfg.Cycles {
		t.Errorf("%d AnalyzeBlock attempts, want 4 blocks × %d cycles", n, cfg.Cycles)
	}
	used := byPID(byType["AnalyzeBlock"])
	for _, w := range workers {
		if used[w.pid()] == 0 {
			t.Errorf("worker process %d ran no block analysis (blocks by worker pid: %v)", w.pid(), used)
		}
	}
	t.Logf("block analyses by worker pid: %v", used)
	ref := referenceRun(t, filepath.Join(tmp, "ref"), "blk", cfg, 50)
	// config.yaml differs: the reference run has no orchestration section.
	if temps := sameFiles(t, ref, s.RunDir, func(rel string) bool { return rel == "config.yaml" }); len(temps) > 0 {
		t.Errorf("temporary files left: %v", temps)
	}
}
