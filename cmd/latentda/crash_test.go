package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/workflows"
)

// crashL96 is a Lorenz-96 run long enough to be killed several times.
const crashL96 = `name: l96-crash
seed: 11
cycles: 800
burn_in: 1
model: {name: lorenz96, nx: 40}
filter: {method: etkf, members: 16, inflation: 1.02, rotate: true}
`

// startRun starts `latentda run --no-worker` against addr in the
// background until ctx ends; the returned channel yields its error (with
// its stderr) when the run ends.
func startRun(ctx context.Context, addr, stateDir, cfgPath, runID string, extra ...string) <-chan error {
	done := make(chan error, 1)
	go func() {
		args := append([]string{"run", "-c", cfgPath, "--address", addr, "--no-worker", "--state-dir", stateDir, "--run-id", runID, "-o", "json"}, extra...)
		_, stderr, err := runCLI(ctx, args...)
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, stderr)
		}
		done <- err
	}()
	return done
}

// waitCycle waits until the analysis of cycle has been written in the run
// directory (or the run ends). It watches the file rather than the
// LatentdaCycle search attribute: visibility lags behind a fast run by
// hundreds of cycles, enough for the run to end before a kill lands.
func waitCycle(ctx context.Context, t *testing.T, runDir string, cycle int, done <-chan error) {
	t.Helper()
	for {
		rs := store.OpenRunState(store.RunDir{Root: runDir})
		_, _, err := rs.Ensemble(store.FieldAnalysis, cycle)
		rs.Close()
		if err == nil {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before cycle %d: %v", cycle, err)
		case <-ctx.Done():
			t.Fatalf("run did not reach cycle %d: %v", cycle, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// TestKillWorkerMidRun kills -9 the only worker process three times at
// random points of a run and restarts it: the run completes, and its files
// are those of an uninterrupted run bit for bit (temporary files of the
// killed writes aside: no partial file appears under a final name). With
// local-activity batches a kill is noticed by the workflow task timeout;
// with a fanned-out forecast by the activities' heartbeat timeout.
func TestKillWorkerMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and kills worker processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill points from seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, tc := range []struct {
		name, yaml string
		extra      []string
	}{
		// Batches of 4 cycles: 200 batches, each with its disk waits, so
		// that the run is still going when the kills land.
		{"local batches", crashL96, []string{"--batch-cycles", "4"}},
		{"fan-out", strings.NewReplacer("cycles: 800", "cycles: 40", "burn_in: 1", "burn_in: 0.2").Replace(crashL96) + "orchestration: {fanout: {members_per_task: 4, heartbeat_timeout: 2s}}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			stateDir := filepath.Join(tmp, "state")
			cfgPath, cfg := writeConfig(t, tmp, "crash.yaml", tc.yaml)
			srv, c := startServer(t, "", 0)
			addr := srv.FrontendAddress()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()

			done := startRun(ctx, addr, stateDir, cfgPath, "crash", tc.extra...)
			// Kill points: a random cycle in each of the first three sixths
			// of the run, plus a random delay of a few batches, which
			// moves the kill to a random step of a batch. The second half
			// of the run is the margin that keeps it going until the kill
			// lands: a fast machine runs a batch of 4 cycles in about 4 ms.
			for i := range 3 {
				w := startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", stateDir)
				at := (i*cfg.Cycles + rng.IntN(cfg.Cycles)) / 6
				waitCycle(ctx, t, filepath.Join(stateDir, "runs", "crash"), at, done)
				time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
				w.kill(t)
				select {
				case err := <-done:
					t.Fatalf("the run ended (%v) before kill %d landed: the kills test nothing; make the run longer", err, i+1)
				default:
				}
				t.Logf("kill %d: worker %d killed after the analysis of cycle %d was written", i+1, w.pid(), at)
			}
			startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", stateDir)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run after kills: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("run did not complete after the kills")
			}

			// The kills hit work in progress: timed-out workflow tasks or
			// activity attempts.
			h := workflowHistory(ctx, t, c, "latentda-crash")
			timeouts := 0
			for _, ev := range h.Events {
				switch ev.GetEventType() {
				case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
					timeouts++
				case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
					if ev.GetActivityTaskStartedEventAttributes().GetAttempt() > 1 {
						timeouts++
					}
				}
			}
			if timeouts == 0 {
				t.Error("no workflow task or activity attempt was cut short by the kills")
			}
			ref := referenceRun(t, filepath.Join(tmp, "ref"), "crash", cfg, 50)
			skip := func(rel string) bool { return rel == "config.yaml" && cfg.Fanout() != nil }
			temps := sameFiles(t, ref, filepath.Join(stateDir, "runs", "crash"), skip)
			t.Logf("%d timeouts/retries; temporary files left by killed writes: %v", timeouts, temps)
		})
	}
}

var frontendLine = regexp.MustCompile(`Temporal frontend: (\S+)`)

// startDev starts `latentda dev` on stateDir and returns it with its
// frontend address.
func startDev(t *testing.T, tmp, stateDir string) (*proc, string) {
	t.Helper()
	p := startLatentda(t, tmp, "dev", "--state-dir", stateDir, "--ui-port", "-1")
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m := frontendLine.FindStringSubmatch(p.output()); m != nil {
			return p, m[1]
		}
		if p.cmd.ProcessState != nil {
			break
		}
	}
	t.Fatalf("latentda dev did not report its frontend:\n%s", p.output())
	return nil, ""
}

// TestRestartEmbeddedServerMidRun stops `latentda dev` (its embedded
// server with the SQLite database under the state directory, and its
// worker) in the middle of a run, once with Ctrl-C and once with kill -9,
// and starts it again: the run resumes and completes with the files of an
// uninterrupted run.
func TestRestartEmbeddedServerMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops latentda dev processes")
	}
	tmp := t.TempDir()
	stateDir := filepath.Join(tmp, "state")
	cfgPath, cfg := writeConfig(t, tmp, "restart.yaml", crashL96)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dial := func(addr string) client.Client {
		c, err := client.Dial(client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(warnLogger())})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dev, addr := startDev(t, tmp, stateDir)
	c := dial(addr)
	// The run's client loses its server with the first stop; the test
	// waits for the result through a client of the restarted server.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := startRun(runCtx, addr, stateDir, cfgPath, "restart", "--batch-cycles", "4")
	for i, stop := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		// After the first stop the run's client may have given up (it can
		// be told "workflow execution not found" by a server still
		// starting): only the files tell how far the run is.
		if i > 0 {
			done = nil
		}
		waitCycle(ctx, t, filepath.Join(stateDir, "runs", "restart"), (i+1)*cfg.Cycles/4, done)
		c.Close()
		if err := dev.cmd.Process.Signal(stop); err != nil {
			t.Fatal(err)
		}
		_ = dev.cmd.Wait()
		rs := store.OpenRunState(store.RunDir{Root: filepath.Join(stateDir, "runs", "restart")})
		_, _, err := rs.Ensemble(store.FieldAnalysis, cfg.Cycles)
		rs.Close()
		if err == nil {
			t.Fatalf("the run had ended before the %v landed: the stop tests nothing; make the run longer", stop)
		}
		t.Logf("stopped latentda dev with %v", stop)
		dev, addr = startDev(t, tmp, stateDir)
		c = dial(addr)
	}
	defer c.Close()
	// The `latentda run` client lost its server; wait through a new one.
	var res workflows.Result
	if err := c.GetWorkflow(ctx, "latentda-restart", "").Get(ctx, &res); err != nil {
		t.Fatalf("run after restarts: %v", err)
	}
	if res.Summary.Cycles != cfg.Cycles {
		t.Fatalf("result %+v", res)
	}
	ref := referenceRun(t, filepath.Join(tmp, "ref"), "restart", cfg, 50)
	temps := sameFiles(t, ref, filepath.Join(stateDir, "runs", "restart"), nil)
	t.Logf("temporary files left: %v", temps)
	if _, err := os.Stat(filepath.Join(stateDir, "temporal", "dev.db")); err != nil {
		t.Errorf("no SQLite database under the state directory: %v", err)
	}
}

// TestRunAttachesOnlyWithTheSameConfig: `latentda run --run-id X` while
// workflow X runs follows it when given the same config, and is refused
// with a different one, instead of silently reporting the other run.
func TestRunAttachesOnlyWithTheSameConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and a worker process")
	}
	tmp := t.TempDir()
	stateDir := filepath.Join(tmp, "state")
	short := strings.Replace(crashL96, "cycles: 800", "cycles: 50", 1)
	cfgPath, _ := writeConfig(t, tmp, "a.yaml", short)
	otherPath, _ := writeConfig(t, tmp, "b.yaml", strings.Replace(short, "seed: 11", "seed: 12", 1))
	srv, c := startServer(t, "", 0)
	addr := srv.FrontendAddress()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := startRun(ctx, addr, stateDir, cfgPath, "x") // no worker yet: the workflow waits
	for {
		if _, err := c.DescribeWorkflowExecution(ctx, "latentda-x", ""); err == nil {
			break
		}
		select {
		case err := <-first:
			t.Fatalf("the first run ended: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	_, _, err := runCLI(ctx, "run", "-c", otherPath, "--address", addr, "--no-worker", "--state-dir", stateDir, "--run-id", "x")
	if err == nil || !strings.Contains(err.Error(), "already running (workflow latentda-x) with a different config") {
		t.Fatalf("a different config under a running run's ID: got %v, want it refused", err)
	}
	second := startRun(ctx, addr, stateDir, cfgPath, "x")
	startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", stateDir)
	for i, done := range []<-chan error{first, second} {
		if err := <-done; err != nil {
			t.Fatalf("client %d: %v", i+1, err)
		}
	}
}
