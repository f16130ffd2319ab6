package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// blocksConfig is a Lorenz-96 LETKF whose analysis is split into 4 blocks
// of the domain.
const blocksConfig = `name: l96-blocks
seed: 3
cycles: 5
burn_in: 0.1
model: {name: lorenz96, nx: 200}
observations: {operator: every-k, every: 2}
filter: {method: letkf, members: 16, inflation: 1.04, loc_radius: 5, blocks: 4}
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
	stateDir := filepath.Join(tmp, "state")
	cfgPath, cfg := writeConfig(t, tmp, "blocks.yaml", blocksConfig)
	srv, c := startServer(t, "", 0)
	addr := srv.FrontendAddress()
	var workers []*proc
	for range 2 {
		workers = append(workers, startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", stateDir))
	}
	out, stderr, err := execute(t, "run", "-c", cfgPath, "--address", addr, "--no-worker",
		"--state-dir", stateDir, "--run-id", "blk", "-o", "json")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	var s runSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Cycles != cfg.Cycles {
		t.Fatalf("summary %q: %v", out, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	byType := activityWorkers(workflowHistory(ctx, t, c, "latentda-blk"))
	if n := len(byType["AnalyzeBlock"]); n != 4*cfg.Cycles {
		t.Errorf("%d AnalyzeBlock attempts, want 4 blocks × %d cycles", n, cfg.Cycles)
	}
	used := map[int]int{}
	for _, id := range byType["AnalyzeBlock"] {
		pid, _ := strconv.Atoi(strings.SplitN(id, "@", 2)[0])
		used[pid]++
	}
	for _, w := range workers {
		if used[w.pid()] == 0 {
			t.Errorf("worker process %d ran no block analysis (blocks by worker pid: %v)", w.pid(), used)
		}
	}
	t.Logf("block analyses by worker pid: %v", used)
	ref := referenceRun(t, filepath.Join(tmp, "ref"), "blk", cfg, 50)
	if temps := sameFiles(t, ref, s.RunDir, nil); len(temps) > 0 {
		t.Errorf("temporary files left: %v", temps)
	}
}
