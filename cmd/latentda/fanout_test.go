package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/sdk/client"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/workflows"
)

// fanoutConfig is a Lorenz-96 run whose forecast fans out in batches of 5
// of its 20 members.
const fanoutConfig = `name: l96-fanout
seed: 5
cycles: 6
burn_in: 0.1
model: {name: lorenz96, nx: 40}
observations: {variance: 1}
filter: {method: etkf, members: 20, inflation: 1.02, rotate: true}
orchestration: {fanout: {members_per_task: 5, heartbeat_timeout: 5s}}
`

func writeConfig(t *testing.T, dir, name, yaml string) (string, config.Config) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, cfg
}

// referenceRun runs cfg without orchestration (no fan-out, no blocks) in
// process (workflows.RunInProcess, as `latentda run --in-process`) under
// stateRoot/runs/runID.
func referenceRun(t *testing.T, stateRoot, runID string, cfg config.Config, batch int) string {
	t.Helper()
	cfg.Orchestration = nil
	in := workflows.Input{RunID: runID, RunPath: filepath.Join("runs", runID), Config: cfg, BatchCycles: batch}
	res, err := workflows.RunInProcess(context.Background(), &activities.Activities{StateRoot: stateRoot}, in, nil)
	if err != nil {
		t.Fatalf("reference run: %v", err)
	}
	return res.RunDir
}

// TestFanoutAcrossTwoWorkerProcesses starts two `latentda worker`
// processes on one state directory against an embedded server and runs a
// fanned-out experiment with `latentda run --no-worker`: the forecast
// batches run on both workers, and the files are those of a run without
// fan-out, bit for bit.
func TestFanoutAcrossTwoWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and two worker processes")
	}
	tmp := t.TempDir()
	cfg, s, _, addr, byType, workers := runOnTwoWorkers(t, tmp, fanoutConfig, "fan")
	if n := len(byType["ForecastMembers"]); n != 4*cfg.Cycles {
		t.Errorf("%d ForecastMembers attempts, want 4 batches × %d cycles", n, cfg.Cycles)
	}
	if n := len(byType["AnalyzeCycle"]); n != cfg.Cycles {
		t.Errorf("%d AnalyzeCycle attempts, want %d", n, cfg.Cycles)
	}
	used := byPID(byType["ForecastMembers"])
	for _, w := range workers {
		if used[w.pid()] == 0 {
			t.Errorf("worker process %d ran no forecast batch (batches by worker pid: %v)", w.pid(), used)
		}
	}
	t.Logf("forecast batches by worker pid: %v", used)

	// The fanned-out history replays against this build, fetched from the
	// server and from the file --save writes.
	saved := filepath.Join(tmp, "fan-history.json")
	out, _, err := execute(t, "replay", "--workflow-id", "fan", "--address", addr, "--save", saved)
	if err != nil || !strings.Contains(out, "workflow Assimilation latentda-fan") {
		t.Errorf("replay --workflow-id: %v\n%s", err, out)
	}
	if out, _, err = execute(t, "replay", "--history", saved); err != nil || !strings.Contains(out, "replay deterministically") {
		t.Errorf("replay --history of the saved history: %v\n%s", err, out)
	}

	ref := referenceRun(t, filepath.Join(tmp, "ref"), "fan", cfg, 50)
	if temps := sameFiles(t, ref, s.RunDir, func(rel string) bool { return rel == "config.yaml" }); len(temps) > 0 {
		t.Errorf("temporary files left: %v", temps)
	}
}

// waitForActivityPollers waits until every worker process polls the task
// queue for activities (its poller identity starts with its pid), so that
// a run started next can reach each of them.
func waitForActivityPollers(t *testing.T, c client.Client, workers []*proc) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := c.DescribeTaskQueue(context.Background(), workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		missing := 0
		for _, w := range workers {
			if err != nil || !slices.ContainsFunc(resp.GetPollers(), func(p *taskqueuepb.PollerInfo) bool {
				return strings.HasPrefix(p.GetIdentity(), strconv.Itoa(w.pid())+"@")
			}) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d worker processes not polling for activities after a minute (%v)", missing, len(workers), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runOnTwoWorkers starts an embedded server and two `latentda worker`
// processes on one state directory under tmp, runs the config yaml with
// `latentda run --no-worker` as runID, and returns the config, the run's
// summary, a client, the server address and the worker identities of each
// activity type's attempts.
func runOnTwoWorkers(t *testing.T, tmp, yaml, runID string) (config.Config, temporalclient.RunSummary, client.Client, string, map[string][]string, []*proc) {
	t.Helper()
	stateDir := filepath.Join(tmp, "state")
	cfgPath, cfg := writeConfig(t, tmp, runID+".yaml", yaml)
	srv, c := startServer(t, "", 0)
	addr := srv.FrontendAddress()
	var workers []*proc
	for range 2 {
		workers = append(workers, startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", stateDir))
	}
	waitForActivityPollers(t, c, workers)
	out, stderr, err := execute(t, "run", "-c", cfgPath, "--address", addr, "--no-worker",
		"--state-dir", stateDir, "--run-id", runID, "-o", "json")
	if err != nil {
		for _, w := range workers {
			t.Logf("worker %d:\n%s", w.pid(), w.output())
		}
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	var s temporalclient.RunSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Cycles != cfg.Cycles {
		t.Fatalf("summary %q: %v", out, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return cfg, s, c, addr, activityWorkers(workflowHistory(ctx, t, c, "latentda-"+runID)), workers
}

// byPID counts worker identities (pid@host@) by process id.
func byPID(ids []string) map[int]int {
	used := map[int]int{}
	for _, id := range ids {
		pid, _ := strconv.Atoi(strings.SplitN(id, "@", 2)[0])
		used[pid]++
	}
	return used
}
