package devserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latentda/latentda/internal/cputime"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func quietSDKLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

const taskQueue = "devserver-test"

var (
	keyRun   = temporal.NewSearchAttributeKeyKeyword("LatentRunID")
	keySkill = temporal.NewSearchAttributeKeyFloat64("LatentSkill")
	keyExtra = temporal.NewSearchAttributeKeyKeyword("LatentExtra")
)

// runGreeting starts a worker with an inline workflow and activity, runs one
// workflow to completion and returns its run ID.
func runGreeting(t *testing.T, c client.Client, id string, sa temporal.SearchAttributes) string {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterActivityWithOptions(func(_ context.Context, name string) (string, error) {
		return "hello " + name, nil
	}, activity.RegisterOptions{Name: "greetActivity"})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, name string) (string, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
		var out string
		err := workflow.ExecuteActivity(ctx, "greetActivity", name).Get(ctx, &out)
		return out, err
	}, workflow.RegisterOptions{Name: "greet"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	t0 := time.Now()
	defer func() { t.Logf("workflow %s: %v", id, time.Since(t0).Round(time.Millisecond)) }()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             taskQueue,
		TypedSearchAttributes: sa,
	}, "greet", "world")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if got != "hello world" {
		t.Fatalf("workflow returned %q", got)
	}
	return run.GetRunID()
}

// rssMiB returns the resident set size from /proc (Linux), or 0.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func TestInMemoryServer(t *testing.T) {
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rssBefore := rssMiB()
	goroutinesBefore := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	srv, err := Start(ctx, Options{
		FrontendPort: freePort(t),
		UIPort:       freePort(t),
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"LatentRunID": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			"LatentSkill": enumspb.INDEXED_VALUE_TYPE_DOUBLE,
		},
		Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	startup := time.Since(t0)

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("start-to-ready %v; heap in use %+.1f MiB (now %.1f MiB), Go runtime Sys %.1f MiB, RSS %.0f -> %.0f MiB, goroutines %d",
		startup.Round(time.Millisecond),
		float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20),
		float64(after.HeapInuse)/(1<<20), float64(after.Sys)/(1<<20),
		rssBefore, rssMiB(), runtime.NumGoroutine())

	if srv.Namespace() != "default" {
		t.Errorf("namespace %q", srv.Namespace())
	}
	if srv.UIAddress() == "" {
		t.Fatal("UI disabled")
	}

	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: quietSDKLogger()})
	if err != nil {
		t.Fatal(err)
	}

	t1 := time.Now()
	runGreeting(t, c, "wf-mem", temporal.NewSearchAttributes(keyRun.ValueSet("run-1"), keySkill.ValueSet(0.75)))
	t.Logf("first workflow round trip %v", time.Since(t1).Round(time.Millisecond))

	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]enumspb.IndexedValueType{
		"LatentRunID": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"LatentSkill": enumspb.INDEXED_VALUE_TYPE_DOUBLE,
	} {
		if got := list.GetCustomAttributes()[name]; got != want {
			t.Errorf("search attribute %s: got %v, want %v", name, got, want)
		}
	}
	// Visibility is written asynchronously: poll a query on both attributes.
	query := `LatentRunID = "run-1" AND LatentSkill > 0.5`
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("visibility query %q: %v", query, err)
		}
		if n := len(resp.GetExecutions()); n == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == "wf-mem" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("visibility query %q returned %d executions", query, n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != DefaultRetention {
		t.Errorf("retention %v, want %v", got, DefaultRetention)
	}

	resp, err := http.Get(srv.UIAddress())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("UI %s answered %s", srv.UIAddress(), resp.Status)
	}

	c.Close()
	t2 := time.Now()
	if err := srv.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	t.Logf("stop %v", time.Since(t2).Round(time.Millisecond))
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := http.Get(srv.UIAddress()); err == nil {
		t.Errorf("UI still answers after Stop")
	}
	if conn, err := net.DialTimeout("tcp", srv.FrontendAddress(), time.Second); err == nil {
		conn.Close()
		t.Errorf("frontend still accepts connections after Stop")
	}

	// Nothing keeps spinning: over one idle second the process uses little
	// CPU and the goroutine count does not grow.
	time.Sleep(500 * time.Millisecond)
	g0, cpu0 := runtime.NumGoroutine(), cputime.Process()
	time.Sleep(time.Second)
	g1, cpu1 := runtime.NumGoroutine(), cputime.Process()
	t.Logf("after Stop: goroutines %d (before Start %d), idle CPU %v/s", g1, goroutinesBefore, (cpu1 - cpu0).Round(time.Millisecond))
	if g1 > g0+5 {
		t.Errorf("goroutines grow after Stop: %d -> %d", g0, g1)
	}
	if cpu1-cpu0 > 300*time.Millisecond {
		t.Errorf("process burns %v CPU per idle second after Stop", cpu1-cpu0)
	}
}

func TestPersistentRestart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "state", "temporal.db") // parent dir created by Start
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var retention time.Duration // 0: DefaultRetention at creation
	start := func(sas map[string]enumspb.IndexedValueType) *Server {
		t.Helper()
		t0 := time.Now()
		srv, err := Start(ctx, Options{
			DBPath:           dbPath,
			FrontendPort:     freePort(t),
			UIPort:           -1,
			Namespace:        "latentda-test",
			Retention:        retention,
			SearchAttributes: sas,
			Logger:           testLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("start-to-ready %v", time.Since(t0).Round(time.Millisecond))
		if srv.UIAddress() != "" {
			t.Errorf("UI address %q with UI disabled", srv.UIAddress())
		}
		return srv
	}
	dial := func(srv *Server) client.Client {
		t.Helper()
		c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: quietSDKLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	srv := start(map[string]enumspb.IndexedValueType{"LatentRunID": enumspb.INDEXED_VALUE_TYPE_KEYWORD})
	c := dial(srv)

	// The database is locked while the server runs.
	if _, err := Start(ctx, Options{DBPath: dbPath, UIPort: -1, Logger: testLogger()}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second server on the same database: err = %v, want 'in use'", err)
	}

	runID := runGreeting(t, c, "wf-persist", temporal.NewSearchAttributes(keyRun.ValueSet("run-1")))
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("database file: %v", err)
	}

	// Restart on the same file, on another port, with one more search
	// attribute: the namespace exists, so it goes through the operator API.
	retention = 48 * time.Hour
	srv = start(map[string]enumspb.IndexedValueType{
		"LatentRunID": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"LatentExtra": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	})
	defer srv.Stop()
	c = dial(srv)

	desc, err := c.DescribeWorkflowExecution(ctx, "wf-persist", runID)
	if err != nil {
		t.Fatalf("describe workflow from before the restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("workflow status %v", st)
	}
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != retention {
		t.Errorf("retention after restart %v, want %v", got, retention)
	}
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"LatentRunID", "LatentExtra"} {
		if list.GetCustomAttributes()[name] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s missing after restart: %v", name, list.GetCustomAttributes())
		}
	}
	// The attribute added on restart is usable right away.
	runGreeting(t, c, "wf-after-restart", temporal.NewSearchAttributes(keyRun.ValueSet("run-2"), keyExtra.ValueSet("x")))

	// A type clash with an existing attribute is reported, not ignored.
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctx, Options{
		DBPath:           dbPath,
		FrontendPort:     freePort(t),
		UIPort:           -1,
		Namespace:        "latentda-test",
		SearchAttributes: map[string]enumspb.IndexedValueType{"LatentRunID": enumspb.INDEXED_VALUE_TYPE_INT},
		Logger:           testLogger(),
	})
	if err == nil {
		t.Fatal("expected an error for a search attribute type clash")
	}
	t.Logf("type clash: %v", err)
}

func TestPortPicker(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	var pp portPicker
	defer pp.release()
	p1, err := pp.pick("127.0.0.1", 0, busyPort)
	if err != nil || p1 == busyPort || p1 == 0 {
		t.Fatalf("busy default: got %d, %v; want another free port", p1, err)
	}
	p2, err := pp.pick("127.0.0.1", 0, 0)
	if err != nil || p2 == p1 {
		t.Fatalf("second free port %d (first %d), %v", p2, p1, err)
	}
	if _, err := pp.pick("127.0.0.1", busyPort, 0); err == nil {
		t.Fatal("explicit busy port accepted")
	}
	free := freePort(t)
	if p, err := pp.pick("127.0.0.1", 0, free); err != nil || p != free {
		t.Fatalf("free default: got %d, %v; want %d", p, err, free)
	}
	if got := dialHost("0.0.0.0"); got != "127.0.0.1" {
		t.Errorf("dialHost(0.0.0.0) = %q", got)
	}
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	ctx := context.Background()

	for name, opts := range map[string]Options{
		"busy UI port":       {FrontendPort: freePort(t), UIPort: busyPort},
		"busy frontend port": {FrontendPort: busyPort, UIPort: -1},
		"bad UI port":        {UIPort: -2},
		"short retention":    {Retention: time.Minute},
		"bad search attribute type": {SearchAttributes: map[string]enumspb.IndexedValueType{
			"X": enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED,
		}},
		"too many doubles": {FrontendPort: freePort(t), UIPort: -1, SearchAttributes: map[string]enumspb.IndexedValueType{
			"D1": enumspb.INDEXED_VALUE_TYPE_DOUBLE, "D2": enumspb.INDEXED_VALUE_TYPE_DOUBLE,
			"D3": enumspb.INDEXED_VALUE_TYPE_DOUBLE, "D4": enumspb.INDEXED_VALUE_TYPE_DOUBLE,
		}},
	} {
		opts.Logger = testLogger()
		if srv, err := Start(ctx, opts); err == nil {
			_ = srv.Stop()
			t.Errorf("%s: Start succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}

	// A cancelled context aborts the start and leaves nothing running.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	port := freePort(t)
	if srv, err := Start(cctx, Options{FrontendPort: port, UIPort: -1, Logger: testLogger()}); err == nil {
		_ = srv.Stop()
		t.Fatal("Start with a cancelled context succeeded")
	}
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
		conn.Close()
		t.Error("frontend left listening after a cancelled Start")
	}
}
