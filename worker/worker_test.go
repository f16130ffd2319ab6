package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/devserver"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/statecmp"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/worker"
	"github.com/latentda/latentda/workflows"
)

// historyFile is the recorded history that workflows' replay test replays
// (paths are relative to this package's directory, where go test runs).
var historyFile = filepath.Join("..", "workflows", "testdata", "assimilation-history.json")

// warnLogger passes warnings and errors to stderr: the server and the SDK
// are chatty at INFO.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testEnv is an in-memory dev server, a client, and a worker serving
// latentda's workflows and activities from a temporary state root.
type testEnv struct {
	c         client.Client
	stateRoot string
}

func startEnv(t *testing.T) testEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	srv, err := devserver.Start(ctx, devserver.Options{
		// A free port rather than 7233: other packages' tests may run a
		// server at the same time.
		FrontendPort:     freePort(t),
		UIPort:           -1,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           warnLogger(),
	})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop dev server: %v", err)
		}
	})
	t.Logf("dev server ready in %v", time.Since(t0).Round(time.Millisecond))
	c, err := client.Dial(client.Options{
		HostPort:  srv.FrontendAddress(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(warnLogger()),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", srv.FrontendAddress(), err)
	}
	t.Cleanup(c.Close)
	stateRoot := t.TempDir()
	// The tests' generator files live in other temporary directories.
	w := worker.NewWith(c, "", &activities.Activities{StateRoot: stateRoot, AllowPaths: []string{os.TempDir()}}, sdkworker.Options{})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop) // runs first: worker, then client, then server
	return testEnv{c: c, stateRoot: stateRoot}
}

// input is a run as `latentda run` starts it: run path runs/<id>.
func input(runID string, cfg config.Config, batch int, local bool) workflows.Input {
	return workflows.Input{
		RunID: runID, RunPath: filepath.Join("runs", runID), Config: cfg,
		BatchCycles: batch, Local: local,
	}
}

// startOptions are the CLI's start options (cmd/latentda/run.go).
func startOptions(in workflows.Input) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                  "latentda-" + in.RunID,
		TaskQueue:           workflows.TaskQueue,
		WorkflowTaskTimeout: workflows.WorkflowTaskTimeout,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrModel.ValueSet(in.Config.Model.Name),
			workflows.AttrStatus.ValueSet(workflows.PhaseInitializing),
		),
	}
}

func queryStatus(ctx context.Context, t *testing.T, c client.Client, wfID string) workflows.Status {
	t.Helper()
	v, err := c.QueryWorkflow(ctx, wfID, "", workflows.QueryStatus)
	if err != nil {
		t.Fatalf("status query of %s: %v", wfID, err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		t.Fatalf("decode status of %s: %v", wfID, err)
	}
	return st
}

// runDirect runs the workflow's activities in order in this process, with
// the workflow's batching, in a fresh state root: what the workflow must
// reproduce exactly (cmd/latentda's --in-process does the same).
func runDirect(t *testing.T, in workflows.Input) (experiment.Summary, string) {
	t.Helper()
	a := &activities.Activities{StateRoot: t.TempDir(), AllowPaths: []string{os.TempDir()}}
	ctx := context.Background()
	init, err := a.Initialize(ctx, activities.InitInput{RunID: in.RunID, RunPath: in.RunPath, Config: in.Config})
	if err != nil {
		t.Fatalf("direct Initialize: %v", err)
	}
	var sums experiment.Sums
	for from := 1; from <= in.Config.Cycles; {
		to := min(from+in.BatchCycles-1, in.Config.Cycles)
		out, err := a.RunCycles(ctx, activities.CyclesInput{RunID: in.RunID, RunPath: in.RunPath, Config: in.Config, From: from, To: to})
		if err != nil {
			t.Fatalf("direct RunCycles %d..%d: %v", from, to, err)
		}
		sums.Merge(out.Sums)
		from = out.Last.Cycle + 1
	}
	return sums.Summary(), init.RunDir
}

// compareDirs checks that two run directories hold the same state, bit
// for bit, cycle by cycle whatever the layout of their files
// (statecmp.Contents), and no temporary files.
func compareDirs(t *testing.T, want, got string) {
	t.Helper()
	w, wtemps := statecmp.Contents(t, want)
	g, gtemps := statecmp.Contents(t, got)
	diffs := statecmp.Diff(w, g)
	if len(wtemps)+len(gtemps) > 0 {
		diffs = append(diffs, fmt.Sprintf("temporary files: %v %v", wtemps, gtemps))
	}
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		t.Errorf("workflow run %s differs from the direct run %s:\n%s", got, want, strings.Join(diffs, "\n"))
	}
}

// checkRunDir checks the files of a finished run: a diagnostics row per
// cycle and a readable last analysis of the configured shape.
func checkRunDir(t *testing.T, runDir string, cfg config.Config) {
	t.Helper()
	dir := store.RunDir{Root: runDir}
	rows, _, err := store.ReadDiagnostics(dir.Diagnostics())
	if err != nil {
		t.Fatalf("diagnostics: %v", err)
	}
	if len(rows) != cfg.Cycles || rows[0].Cycle != 1 || rows[len(rows)-1].Cycle != cfg.Cycles {
		t.Errorf("diagnostics has %d rows (cycles %d..%d), want %d rows for cycles 1..%d",
			len(rows), rows[0].Cycle, rows[len(rows)-1].Cycle, cfg.Cycles, cfg.Cycles)
	}
	rs := store.OpenRunState(dir)
	defer rs.Close()
	E, meta, err := rs.Ensemble(store.FieldAnalysis, cfg.Cycles)
	if err != nil {
		t.Fatalf("last analysis: %v", err)
	}
	nx := 3 // lorenz63
	if r, c := E.Dims(); r != cfg.Filter.Members || c != nx || meta.Cycle != cfg.Cycles {
		t.Errorf("last analysis is %d×%d for cycle %d, want %d×%d for cycle %d", r, c, meta.Cycle, cfg.Filter.Members, nx, cfg.Cycles)
	}
}

// checkSearchAttributes checks what the workflow left in its search
// attributes (read from mutable state by DescribeWorkflow, so not subject to
// visibility's eventual consistency).
func checkSearchAttributes(ctx context.Context, t *testing.T, c client.Client, wfID string, st workflows.Status, model string) {
	t.Helper()
	desc, err := c.DescribeWorkflow(ctx, wfID, "")
	if err != nil {
		t.Fatalf("describe %s: %v", wfID, err)
	}
	sa := desc.TypedSearchAttributes
	if v, _ := sa.GetKeyword(workflows.AttrStatus); v != workflows.PhaseCompleted {
		t.Errorf("%s = %q, want %q", workflows.AttrStatus.GetName(), v, workflows.PhaseCompleted)
	}
	if v, _ := sa.GetKeyword(workflows.AttrModel); v != model {
		t.Errorf("%s = %q, want %q", workflows.AttrModel.GetName(), v, model)
	}
	if v, _ := sa.GetInt64(workflows.AttrCycle); v != int64(st.Cycle) {
		t.Errorf("%s = %d, want %d", workflows.AttrCycle.GetName(), v, st.Cycle)
	}
	if v, _ := sa.GetFloat64(workflows.AttrRMSEa); v != st.Last.RMSEa {
		t.Errorf("%s = %v, want the last cycle's %v", workflows.AttrRMSEa.GetName(), v, st.Last.RMSEa)
	}
}

// history fetches a workflow's full event history.
func history(ctx context.Context, t *testing.T, c client.Client, wfID, runID string) *historypb.History {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", wfID, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h
}

func countEvents(h *historypb.History, typ enumspb.EventType) int {
	n := 0
	for _, ev := range h.Events {
		if ev.GetEventType() == typ {
			n++
		}
	}
	return n
}

func TestAssimilationEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and runs 1500 cycles (~20 s)")
	}
	env := startEnv(t)

	// The DAPPER L63 ETKF row (Sakov 2012, rmse_a 0.60) over 1500 cycles
	// as local activities in batches of 100, as `latentda run` does.
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		const cycles = 1500
		cfg := experiment.DapperConfigs(cycles)["l63-etkf"]
		in := input("e2e-local", cfg, 100, true)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()

		t0 := time.Now()
		run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
		if err != nil {
			t.Fatalf("start workflow: %v", err)
		}
		var res workflows.Result
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("workflow failed: %v", err)
		}
		elapsed := time.Since(t0)
		t.Logf("%d cycles in %v (%.2f ms/cycle): %+v", cycles, elapsed.Round(time.Millisecond), elapsed.Seconds()*1000/cycles, res.Summary)

		scored := 0
		for k := 1; k <= cycles; k++ {
			if cfg.Scored(k) {
				scored++
			}
		}
		wantDir := filepath.Join(env.stateRoot, in.RunPath)
		if res.RunID != in.RunID || res.RunDir != wantDir || res.Diagnostics != filepath.Join(wantDir, "diagnostics.arrow") || res.Stopped {
			t.Errorf("result %+v, want run %s in %s, not stopped", res, in.RunID, wantDir)
		}
		if s := res.Summary; s.Cycles != cycles || s.Scored != scored {
			t.Errorf("summary counts %d cycles, %d scored; want %d and %d", s.Cycles, s.Scored, cycles, scored)
		}
		// A time mean over 1500 cycles scatters by a few percent around
		// the 20000-cycle value (experiment's TestDapperShort measured
		// < 5% between seeds and holds all rows to 20%); the run is
		// deterministic, so 20% only absorbs legitimate changes to the
		// random streams, while a broken filter is far off (no
		// assimilation gives rmse_a ~ 8 on Lorenz-63).
		const reference = 0.60 // Sakov 2012, DAPPER's table (dapper.Cases)
		if rel := math.Abs(res.Summary.RMSEa-reference) / reference; rel > 0.20 {
			t.Errorf("rmse_a %.4f is %.0f%% off the DAPPER reference %.2f (allowed 20%%)", res.Summary.RMSEa, 100*rel, reference)
		}
		if res.Summary.RMSEa >= res.Summary.RMSEf {
			t.Errorf("rmse_a %.4f not below rmse_f %.4f: the analysis does not help", res.Summary.RMSEa, res.Summary.RMSEf)
		}
		checkRunDir(t, res.RunDir, cfg)

		st := queryStatus(ctx, t, env.c, run.GetID())
		if st.Phase != workflows.PhaseCompleted || st.Cycle != cycles || st.Cycles != cycles || st.Last.Cycle != cycles ||
			st.Summary != res.Summary || st.RunDir != res.RunDir || st.RunID != in.RunID {
			t.Errorf("status after completion %+v", st)
		}
		checkSearchAttributes(ctx, t, env.c, run.GetID(), st, "lorenz63")

		// The baseline is the in-process runner (experiment.Run: the same
		// numerics without files or Temporal). Every cycle's statistics
		// must be the same bit for bit. Summed with the workflow's
		// batching (per-batch partial sums, merged) they must give the
		// workflow's summary exactly; the runner's own single running sum
		// may differ in the last bits only (relative rounding ~ cycles ×
		// 2⁻⁵³ ≈ 2e-13, so 1e-12). A direct run of the activities with
		// files is compared file by file in the "regular" subtest; here
		// it would double the ~15000 fsyncs.
		rows, _, err := store.ReadDiagnostics(res.Diagnostics)
		if err != nil {
			t.Fatal(err)
		}
		var batched, batch experiment.Sums
		k := 0
		inProcess, err := experiment.Run(ctx, cfg, func(st experiment.CycleStats) {
			if k < len(rows) && experiment.StatsOfRow(rows[k]) != st {
				t.Errorf("cycle %d: in-process %+v, workflow diagnostics %+v", st.Cycle, st, rows[k])
			}
			k++
			batch.Add(st, cfg.Scored(st.Cycle))
			if st.Cycle%in.BatchCycles == 0 || st.Cycle == cycles {
				batched.Merge(batch)
				batch = experiment.Sums{}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := batched.Summary(); want != res.Summary {
			t.Errorf("workflow summary\n%+v\ndiffers from the in-process run's, summed in batches of %d,\n%+v", res.Summary, in.BatchCycles, want)
		}
		for _, v := range [][2]float64{
			{inProcess.RMSEa, res.Summary.RMSEa}, {inProcess.RMSEf, res.Summary.RMSEf},
			{inProcess.SpreadA, res.Summary.SpreadA}, {inProcess.SpreadF, res.Summary.SpreadF},
			{inProcess.NISRatio, res.Summary.NISRatio},
		} {
			if math.Abs(v[0]-v[1]) > 1e-12*math.Abs(v[0]) {
				t.Errorf("in-process summary %+v\nworkflow summary %+v", inProcess, res.Summary)
				break
			}
		}
		if inProcess.Cycles != res.Summary.Cycles || inProcess.Scored != res.Summary.Scored {
			t.Errorf("in-process summary counts %d/%d, workflow %d/%d", inProcess.Cycles, inProcess.Scored, res.Summary.Cycles, res.Summary.Scored)
		}
	})

	// Regular activities: scheduled through the server, heartbeating every
	// cycle, one attempt each.
	t.Run("regular", func(t *testing.T) {
		t.Parallel()
		cfg := experiment.DapperConfigs(20)["l63-etkf"]
		cfg.BurnIn = 1 // 4 cycles; the default 16 (64 cycles) leaves none to score
		in := input("e2e-regular", cfg, 5, false)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
		if err != nil {
			t.Fatalf("start workflow: %v", err)
		}
		// Watch the pending activities for heartbeat details while the
		// run goes on. Batches take milliseconds, so seeing one is luck:
		// logged, not asserted.
		var heartbeats []string
		var mu sync.Mutex
		watchCtx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for watchCtx.Err() == nil {
				if desc, err := env.c.DescribeWorkflowExecution(watchCtx, run.GetID(), ""); err == nil {
					for _, pa := range desc.GetPendingActivities() {
						if pa.GetHeartbeatDetails() != nil {
							mu.Lock()
							heartbeats = append(heartbeats, fmt.Sprintf("%s attempt %d: %v", pa.GetActivityType().GetName(), pa.GetAttempt(), pa.GetHeartbeatDetails().GetPayloads()))
							mu.Unlock()
						}
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		var res workflows.Result
		err = run.Get(ctx, &res)
		stopWatch()
		<-watched
		if err != nil {
			t.Fatalf("workflow failed: %v", err)
		}
		t.Logf("heartbeat details seen while running: %d %v", len(heartbeats), heartbeats[:min(len(heartbeats), 3)])

		// The same activities called directly, with the same batches:
		// the same summary bit for bit, and the same files.
		direct, directDir := runDirect(t, in)
		if res.Summary != direct || res.Summary.Cycles != cfg.Cycles {
			t.Errorf("workflow summary\n%+v\ndiffers from the direct run's\n%+v", res.Summary, direct)
		}
		checkRunDir(t, res.RunDir, cfg)
		compareDirs(t, directDir, res.RunDir)

		h := history(ctx, t, env.c, run.GetID(), run.GetRunID())
		if n := countEvents(h, enumspb.EVENT_TYPE_MARKER_RECORDED); n != 0 {
			t.Errorf("%d marker events: local activities ran in a regular-activity run", n)
		}
		// Initialize plus 4 batches of 5, each scheduled once with the
		// heartbeat timeout that detects a stuck worker.
		var types []string
		for _, ev := range h.Events {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				types = append(types, a.GetActivityType().GetName())
				if a.GetHeartbeatTimeout().AsDuration() <= 0 {
					t.Errorf("activity %s scheduled without a heartbeat timeout", a.GetActivityType().GetName())
				}
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() != 1 {
				t.Errorf("an activity needed attempt %d: %v", a.GetAttempt(), a.GetLastFailure())
			}
		}
		if want := []string{"Initialize", "RunCycles", "RunCycles", "RunCycles", "RunCycles"}; !slices.Equal(types, want) {
			t.Errorf("scheduled activities %v, want %v", types, want)
		}
		if n := countEvents(h, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED); n != 5 {
			t.Errorf("%d activities completed, want 5", n)
		}
	})
}

// TestWriteReplayHistory records the histories that the replay tests
// replay (workflows/testdata/*-history.json, one per workflow type): a
// short assimilation run with local activities, paused at the start and
// resumed, queried while paused and after completion; and a small PCA
// training. It runs only with LATENTDA_WRITE_HISTORY=1 (the files are
// checked in; regenerate them after a deliberate, versioned change of a
// workflow):
//
//	LATENTDA_WRITE_HISTORY=1 go test ./worker -run TestWriteReplayHistory
//
// (-run TestWriteReplayHistory/train writes only the training's history).
// `latentda replay --workflow-id ID --save FILE` records the history of any
// other run the same way.
func TestWriteReplayHistory(t *testing.T) {
	if os.Getenv("LATENTDA_WRITE_HISTORY") != "1" {
		t.Skip("set LATENTDA_WRITE_HISTORY=1 to regenerate " + historyFile + " and " + trainHistoryFile)
	}
	env := startEnv(t)
	t.Run("train", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, run, err := executeTrain(ctx, t, env.c, parseTrain(t, historyPCATrain))
		if err != nil {
			t.Fatalf("training failed: %v", err)
		}
		writeHistory(t, history(ctx, t, env.c, run.GetID(), run.GetRunID()), trainHistoryFile)
	})
	t.Run("assimilation", func(t *testing.T) {
		cfg := experiment.DapperConfigs(40)["l63-etkf"]
		cfg.BurnIn = 1 // 4 of the 40 cycles; the default 16 (64 cycles) leaves none to score
		in := input("replay", cfg, 10, true)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		// Start with a pause signal already in the history, so the run pauses
		// deterministically right after initialising.
		run, err := env.c.SignalWithStartWorkflow(ctx, "latentda-"+in.RunID, workflows.SignalPause, nil,
			startOptions(in), workflows.Assimilation, in)
		if err != nil {
			t.Fatalf("signal-with-start: %v", err)
		}
		var st workflows.Status
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if st = queryStatus(ctx, t, env.c, run.GetID()); st.Phase == workflows.PhasePaused {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run did not pause: status %+v", st)
			}
		}
		// Longer than a workflow task timeout: the pause holds.
		time.Sleep(workflows.WorkflowTaskTimeout + 500*time.Millisecond)
		if st = queryStatus(ctx, t, env.c, run.GetID()); st.Phase != workflows.PhasePaused || st.Cycle != 0 {
			t.Fatalf("status while paused %+v, want phase paused at cycle 0", st)
		}
		if err := env.c.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalResume, nil); err != nil {
			t.Fatal(err)
		}
		var res workflows.Result
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("workflow failed: %v", err)
		}
		if res.Summary.Cycles != cfg.Cycles {
			t.Fatalf("result %+v, want %d cycles", res, cfg.Cycles)
		}
		if st = queryStatus(ctx, t, env.c, run.GetID()); st.Phase != workflows.PhaseCompleted || st.Cycle != cfg.Cycles {
			t.Fatalf("status after completion %+v", st)
		}

		writeHistory(t, history(ctx, t, env.c, run.GetID(), run.GetRunID()), historyFile)
	})
}

// historyPCATrain is the training recorded in trainHistoryFile.
const historyPCATrain = `
name: l96-pca-history
model: {name: lorenz96, nx: 8}
archive: {samples: 200, every: 5, spin_up: 10, seed: 7}
validation: 0.1
generator: {type: pca, latent_dim: 4}
`

// trainHistoryFile is the recorded TrainGenerator history.
var trainHistoryFile = filepath.Join("..", "workflows", "testdata", "train-history.json")

// writeHistory writes h as JSON to path, checks that it reads back and
// replays against the current workflows.
func writeHistory(t *testing.T, h *historypb.History, path string) {
	t.Helper()
	// The replayer reads this with client.HistoryFromJSON (temporalproto's
	// JSON unmarshaler), which accepts standard protojson.
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d events, %d bytes", path, len(h.Events), len(data))

	parsed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	back, err := client.HistoryFromJSON(bytes.NewReader(parsed), client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("reading %s back: %v", path, err)
	}
	if len(back.Events) != len(h.Events) {
		t.Fatalf("read back %d events, wrote %d", len(back.Events), len(h.Events))
	}
	if err := worker.Replay(worker.NewReplayer(), sdklog.NewStructuredLogger(warnLogger()), back, ""); err != nil {
		t.Fatalf("replay of the new history: %v", err)
	}
}
