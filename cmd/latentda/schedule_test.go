package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"gonum.org/v1/gonum/mat"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/devserver"
	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/worker"
	"github.com/latentda/latentda/workflows"
)

// cycleHistoryFile is the recorded history of a forecast-only cycle that
// workflows' replay test replays (relative to this package's directory).
var cycleHistoryFile = filepath.Join("..", "..", "workflows", "testdata", "cycle-history.json")

const liveYAML = `name: live
seed: 5
cycles: 4
burn_in: 0.1
model: {name: lorenz96, nx: 40}
observations: {operator: every-k, every: 2, variance: 0.5}
filter: {method: etkf, members: 10, inflation: 1.02}
`

func TestScheduleUsageErrors(t *testing.T) {
	base := []string{"schedule", "create", "s1", "-c", "x.yaml", "--obs-dir", "obs"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"schedule", "create", "s1", "--interval", "1s"}, "--config and --obs-dir are required"},
		{[]string{"schedule", "create", "s1", "-c", "x.yaml", "--interval", "1s"}, "--obs-dir is required"},
		{base, "--interval is required"},
		{[]string{"schedule", "backfill", "s1"}, "--from is required"},
		{[]string{"schedule", "backfill", "s1", "--from", "0"}, "1 <= from <= to, got 0..0"},
		{[]string{"schedule", "backfill", "s1", "--from", "2", "--to", "0"}, "1 <= from <= to, got 2..0"},
		{append(base, "--interval", "1500ms"), "--interval must be whole seconds"},
		{append(base, "--interval", "10s", "--wait", "10s"), "--wait must be >= 0 (0: no wait"},
		{append(base, "--interval", "10s", "--poll", "0s"), "--poll must be > 0, got 0s"},
		{append(base, "--interval", "10s", "--overlap", "allow-all"), "--overlap must be skip, buffer-one or buffer-all"},
		{append(base, "--interval", "10s", "--catchup-window", "5s"), "--catchup-window must be >= 10s"},
		{append(base, "--interval", "10s", "--start", "yesterday"), "want an RFC 3339 time"},
		{append(base, "--interval", "10s", "--start", "2026-11-25T22:00:00.5Z"), "must be whole seconds"},
		{[]string{"schedule", "create", "../x", "--interval", "10s"}, "must be a plain name"},
		{[]string{"schedule", "backfill", "s1", "--from", "3", "--to", "2"}, "1 <= from <= to"},
		{[]string{"observe", "-c", "x.yaml", "--dir", "d", "--every", "0s"}, "--every is required"},
		{[]string{"observe", "-c", "x.yaml", "--dir", "d", "--every", "-2s"}, "--every must be whole seconds"},
		{[]string{"observe", "-c", "x.yaml", "--dir", "d", "--every", "1s", "--format", "json"}, "--format must be arrow or csv"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := execute(t, tc.args...)
			var ue usageError
			if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}

// TestObserveCycles: the cycles observe writes, and --late, lie within
// the config's; it names what is missing. A schedule's cycles must not all
// be past.
func TestObserveCycles(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "live.yaml")
	if err := os.WriteFile(cfg, []byte(liveYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	obs := []string{"observe", "-c", cfg, "--dir", filepath.Join(dir, "obs"), "--every", "1s"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"observe", "-c", cfg, "--every", "1s"}, "--dir is required"},
		{append(obs, "--to", "99"), "1 <= from <= to <= 4 (the config's cycles), got 1..99"},
		{append(obs, "--late", "9"), `--late: "9" is not a cycle written, 1..4`},
	} {
		_, _, err := execute(t, tc.args...)
		var ue usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want a usage error containing %q", tc.args[1:], err, tc.want)
		}
	}
	// A schedule whose last cycle was due already would never tick.
	_, _, err := execute(t, "schedule", "create", "s1", "-c", cfg, "--obs-dir", "obs", "--interval", "1s", "--start", "2026-01-01T00:00:00Z", "--state-dir", filepath.Join(dir, "state"))
	if err == nil || !strings.Contains(err.Error(), "the last cycle, 4, was due at 2026-01-01T00:00:04Z, so the schedule would never tick") {
		t.Errorf("schedule create with a start long past: %v", err)
	}
	// Interrupted, it stops without an error: what it wrote stays.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := runCLI(ctx, append(obs, "--start", time.Now().UTC().Add(time.Hour).Truncate(time.Second).Format(time.RFC3339))...); err != nil {
		t.Errorf("interrupted observe: %v", err)
	}
}

func TestObserveLateFlag(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "live.yaml")
	if err := os.WriteFile(cfg, []byte(liveYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	// A start an hour ago: every cycle is due, written at once, the late
	// one last.
	start := time.Now().UTC().Truncate(time.Second).Add(-time.Hour).Format(time.RFC3339)
	out, _, err := execute(t, "observe", "-c", cfg, "--dir", filepath.Join(dir, "obs"), "--every", "1s", "--start", start,
		"--format", "csv", "--late", "2", "--late-by", "1m")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(out)
	var got []string
	for _, l := range lines {
		got = append(got, filepath.Base(l))
	}
	if want := "cycle-000001.csv cycle-000003.csv cycle-000004.csv cycle-000002.csv"; strings.Join(got, " ") != want {
		t.Errorf("written %v, want %s", got, want)
	}
}

// TestScheduleWaitZero: --wait 0s is used (a cycle runs at its time with
// what is there), not replaced by the default of half the interval.
func TestScheduleWaitZero(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "live.yaml")
	if err := os.WriteFile(cfgPath, []byte(liveYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		set  bool
		want time.Duration
	}{{true, 0}, {false, 5 * time.Second}} {
		o := &scheduleCreateOptions{ConfigPath: cfgPath, ObsDir: "obs", Interval: 10 * time.Second, Overlap: "buffer-one", CatchupWindow: time.Minute, waitSet: tc.set}
		o.StateDir = t.TempDir()
		if err := o.Complete("s"); err != nil {
			t.Fatal(err)
		}
		if got := o.input().Wait; got != tc.want {
			t.Errorf("--wait given %v: the cycles wait %v, want %v", tc.set, got, tc.want)
		}
	}
}

// liveEnv is an in-memory dev server with a worker on stateDir.
func liveEnv(t *testing.T, stateDir string) (client.Client, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	warn := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{FrontendPort: port, UIPort: -1, SearchAttributes: workflows.SearchAttributes(), Logger: warn})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop dev server: %v", err)
		}
	})
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: sdklog.NewStructuredLogger(warn)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w := worker.New(c, "", stateDir)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c, srv.FrontendAddress()
}

// TestScheduleEndToEnd runs a live run on the embedded server: a schedule
// with a 2 s interval fires 4 cycles while `latentda observe` writes their
// observations, cycle 2's 6 s late, well past its 1 s deadline, so it runs
// forecast-only; a backfill then assimilates them and re-runs cycles 2..4.
// The run ends bit-identical to a `latentda run` of the same config.
func TestScheduleEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and waits for schedule ticks")
	}
	stateDir := t.TempDir()
	c, addr := liveEnv(t, stateDir)
	cfgPath := filepath.Join(t.TempDir(), "live.yaml")
	if err := os.WriteFile(cfgPath, []byte(liveYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	obsDir := filepath.Join(stateDir, "obs")
	conn := []string{"--address", addr, "--state-dir", stateDir}
	start := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	startArg := start.Format(time.RFC3339)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	observed := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		root.SetArgs([]string{"observe", "-c", cfgPath, "--dir", obsDir, "--every", "2s", "--start", startArg,
			"--delay", "300ms", "--late", "2", "--late-by", "6s"})
		observed <- root.ExecuteContext(ctx)
	}()

	out, _, err := execute(t, append([]string{"schedule", "create", "live", "-c", cfgPath, "--obs-dir", obsDir,
		"--interval", "2s", "--wait", "1s", "--poll", "200ms", "--start", startArg, "--catchup-window", "10s"}, conn...)...)
	if err != nil {
		t.Fatalf("schedule create: %v", err)
	}
	t.Log(strings.TrimSpace(out))

	describe := func(id string) temporalclient.ScheduleView {
		t.Helper()
		out, _, err := execute(t, append([]string{"schedule", "describe", id, "-o", "json"}, conn...)...)
		if err != nil {
			t.Fatalf("schedule describe: %v", err)
		}
		var v temporalclient.ScheduleView
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return v
	}
	// waitActions waits until n cycle workflows have started and none runs.
	waitActions := func(n int) temporalclient.ScheduleView {
		t.Helper()
		for {
			v := describe("live")
			if v.Actions >= n && len(v.Running) == 0 {
				return v
			}
			if ctx.Err() != nil {
				t.Fatalf("waiting for %d cycles: %+v", n, v)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	result := func(wfID string) workflows.CycleResult {
		t.Helper()
		var res workflows.CycleResult
		if err := c.GetWorkflow(ctx, wfID, "").Get(ctx, &res); err != nil {
			t.Fatalf("cycle workflow %s: %v", wfID, err)
		}
		return res
	}

	v := waitActions(4)
	if v.RunID != "live" || v.ObsDir != "obs" || v.Overlap != "buffer-one" || v.CatchupWindow != "10s" || !v.PauseOnFailure || v.Cycles != 4 {
		t.Errorf("schedule %+v", v)
	}
	wantOutcome := map[int]string{1: workflows.OutcomeAssimilated, 2: workflows.OutcomeForecastOnly, 3: workflows.OutcomeAssimilated, 4: workflows.OutcomeAssimilated}
	wfOf := map[int]temporalclient.ScheduledTick{}
	for _, tick := range v.Recent {
		wfOf[tick.Cycle] = tick
		if tick.Outcome != wantOutcome[tick.Cycle] {
			t.Errorf("describe shows cycle %d's outcome as %q, want %q", tick.Cycle, tick.Outcome, wantOutcome[tick.Cycle])
		}
		res := result(tick.WorkflowID)
		if res.Cycle != tick.Cycle || res.Outcome != wantOutcome[tick.Cycle] || !res.Nominal.Equal(start.Add(time.Duration(tick.Cycle)*2*time.Second)) {
			t.Errorf("cycle %d (%s): result %+v, want outcome %q", tick.Cycle, tick.WorkflowID, res, wantOutcome[tick.Cycle])
		}
	}
	if len(wfOf) != 4 {
		t.Fatalf("recent actions %+v, want cycles 1..4", v.Recent)
	}
	run := store.RunDir{Root: filepath.Join(stateDir, "runs", "live")}
	rows, _, err := store.ReadDiagnostics(run.Diagnostics())
	if err != nil {
		t.Fatal(err)
	}
	var nobs []int
	for _, r := range rows {
		nobs = append(nobs, r.NObs)
	}
	if len(rows) != 4 || nobs[0] != 20 || nobs[1] != 0 || nobs[2] != 20 || nobs[3] != 20 {
		t.Fatalf("n_obs per cycle %v, want 20 0 20 20 (cycle 2 forecast-only)", nobs)
	}
	if os.Getenv("LATENTDA_WRITE_HISTORY") == "1" {
		writeHistory(ctx, t, c, wfOf[2].WorkflowID, wfOf[2].RunID)
	}
	// A cycle's workflow ID, as describe prints it (its nominal time has
	// colons), replays from the server.
	if out, _, err := execute(t, append([]string{"replay", "--workflow-id", wfOf[2].WorkflowID}, conn...)...); err != nil {
		t.Errorf("replay --workflow-id %s: %v\n%s", wfOf[2].WorkflowID, err, out)
	}

	// Cycle 2's observations arrive late; backfill it.
	if err := <-observed; err != nil {
		t.Fatalf("observe: %v", err)
	}
	if out, _, err := execute(t, append([]string{"schedule", "backfill", "live", "--from", "2"}, conn...)...); err != nil {
		t.Fatalf("schedule backfill: %v", err)
	} else if !strings.Contains(out, "schedule live: cycles 2..2 queued") {
		t.Errorf("schedule backfill says %q", out)
	}
	waitActions(5)
	res := result(wfOf[2].WorkflowID)
	if res.Outcome != workflows.OutcomeSuperseded || len(res.Cycles) != 3 || !res.Cycles[0].Assimilated {
		t.Fatalf("backfill of cycle 2: %+v", res)
	}

	// The run now equals a run of the same config, bit for bit.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ref := &activities.Activities{StateRoot: t.TempDir()}
	refIn := activities.InitInput{RunID: "live", RunPath: "runs/live", Config: cfg}
	if _, err := ref.Initialize(ctx, refIn); err != nil {
		t.Fatal(err)
	}
	if _, err := ref.RunCycles(ctx, activities.CyclesInput{RunID: "live", RunPath: "runs/live", Config: cfg, From: 1, To: 4}); err != nil {
		t.Fatal(err)
	}
	refDir := store.RunDir{Root: filepath.Join(ref.StateRoot, "runs", "live")}
	rs := store.OpenRunState(refDir)
	defer rs.Close()
	for k := 1; k <= 4; k++ {
		want, _, err := rs.Ensemble(store.FieldAnalysis, k)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := store.ReadEnsemble(run.Analysis(k))
		if err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(want, got) {
			t.Errorf("cycle %d: the live run's analysis differs from the run's", k)
		}
	}

	// runs list gives the live run the model, cycle and RMSE of its
	// newest cycle.
	out, _, err = execute(t, append([]string{"runs", "list", "-o", "json"}, conn...)...)
	if err != nil {
		t.Fatal(err)
	}
	var listed []temporalclient.RunRow
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatal(err)
	}
	live := slices.IndexFunc(listed, func(r temporalclient.RunRow) bool { return r.Kind == "live" })
	if live < 0 {
		t.Fatalf("runs list has no live row: %+v", listed)
	}
	if r := listed[live]; r.ID != "live" || r.Model != "lorenz96" || r.Cycle < 1 || r.Cycle > 4 || !(r.RMSEa > 0) || r.Status != "active" {
		t.Errorf("runs list, live row: %+v", r)
	}

	// A second schedule on the run is refused: the two would overwrite
	// each other's cycles.
	_, _, err = execute(t, append([]string{"schedule", "create", "twin", "--run-id", "live", "-c", cfgPath, "--obs-dir", obsDir, "--interval", "60s", "--paused"}, conn...)...)
	if err == nil || !strings.Contains(err.Error(), "schedule live already runs the cycles of run live") {
		t.Errorf("a second schedule on run live: %v", err)
	}

	// A schedule whose observation directory does not exist yet says so.
	// Its cycle 1 is an hour away: a trigger or a backfill, which would
	// fail it and pause the schedule or hold back the ticks behind it, is
	// refused.
	later := time.Now().UTC().Truncate(time.Second).Add(time.Hour)
	out, _, err = execute(t, append([]string{"schedule", "create", "other", "-c", cfgPath, "--obs-dir", filepath.Join(stateDir, "nowhere"), "--interval", "60s", "--paused",
		"--start", later.Format(time.RFC3339)}, conn...)...)
	if err != nil || !strings.Contains(out, "nowhere does not exist yet; each cycle runs forecast-only") {
		t.Errorf("schedule create with a missing observation directory: %v\n%s", err, out)
	}
	if _, _, err := execute(t, append([]string{"schedule", "trigger", "other"}, conn...)...); err == nil || !strings.Contains(err.Error(), "no cycle is due yet") {
		t.Errorf("trigger before cycle 1: %v", err)
	}
	if _, _, err := execute(t, append([]string{"schedule", "backfill", "other", "--from", "1"}, conn...)...); err == nil || !strings.Contains(err.Error(), "cycle 1 is not due until") {
		t.Errorf("backfill of a cycle not due: %v", err)
	}
	if _, _, err := execute(t, append([]string{"schedule", "delete", "other"}, conn...)...); err != nil {
		t.Error(err)
	}

	// An unknown schedule is named as such, not by Temporal's internal ID.
	for _, op := range [][]string{{"describe", "nosuch"}, {"pause", "nosuch"}, {"delete", "nosuch"}} {
		if _, _, err := execute(t, append(append([]string{"schedule"}, op...), conn...)...); err == nil || !strings.Contains(err.Error(), "schedule nosuch: no live run (schedule) of that ID") {
			t.Errorf("schedule %s: %v", op[0], err)
		}
	}
	// A live run takes no signals: the error says what to use.
	if _, _, err := execute(t, append([]string{"signal", "live", "pause"}, conn...)...); err == nil || !strings.Contains(err.Error(), "live is a live run (a schedule); use latentda schedule pause") {
		t.Errorf("signal to a live run: %v", err)
	}

	// Pause, list, delete.
	if out, _, err := execute(t, append([]string{"schedule", "pause", "live", "--note", "maintenance"}, conn...)...); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(out, "schedule live: paused") {
		t.Errorf("schedule pause says %q", out)
	}
	if v := describe("live"); !v.Paused || v.Note != "maintenance" {
		t.Errorf("after pause: paused %v, note %q", v.Paused, v.Note)
	}
	if _, _, err := execute(t, append([]string{"schedule", "unpause", "live"}, conn...)...); err != nil {
		t.Fatal(err)
	}
	if v := describe("live"); v.Paused || v.Note != "unpaused with latentda schedule unpause" {
		t.Errorf("after unpause: paused %v, note %q", v.Paused, v.Note)
	}
	// The schedule's list is eventually consistent (visibility).
	for {
		out, _, err = execute(t, append([]string{"schedule", "list"}, conn...)...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "live") || ctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(out, "live") {
		t.Errorf("schedule list:\n%s", out)
	}
	if _, _, err := execute(t, append([]string{"schedule", "delete", "live"}, conn...)...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, append([]string{"schedule", "describe", "live"}, conn...)...); err == nil {
		t.Error("describe after delete succeeded")
	}

	// A worker whose state directory lacks the run, whose cycles have
	// run (here: the run's directory moved away), refuses to start it
	// over; the schedule pauses with the reason.
	if err := os.Rename(run.Root, run.Root+"-moved"); err != nil {
		t.Fatal(err)
	}
	again := time.Now().UTC().Truncate(time.Second).Add(-15 * time.Second)
	if _, _, err := execute(t, append([]string{"schedule", "create", "again", "--run-id", "live", "-c", cfgPath, "--obs-dir", obsDir,
		"--interval", "10s", "--start", again.Format(time.RFC3339)}, conn...)...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, append([]string{"schedule", "trigger", "again"}, conn...)...); err != nil {
		t.Fatal(err)
	}
	for {
		v := describe("again")
		if v.Paused {
			if !strings.Contains(v.Note, "is not the one the run is in") {
				t.Errorf("paused with note %q", v.Note)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the schedule did not pause: %+v", v)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if ok, err := store.Exists(run.Config()); err != nil || ok {
		t.Errorf("the refused cycle started the run over in %s (%v)", run.Root, err)
	}
}

// writeHistory records the history that workflows' replay test replays: a
// cycle that waited for its observations, polling, and ran forecast-only.
// Regenerate only after a deliberate, versioned change of the workflow:
//
//	LATENTDA_WRITE_HISTORY=1 go test ./cmd/latentda -run TestScheduleEndToEnd
func writeHistory(ctx context.Context, t *testing.T, c client.Client, wfID, runID string) {
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
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cycleHistoryFile, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d events", cycleHistoryFile, len(h.Events))
}
