package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latentda/latentda/devserver"
	"github.com/latentda/latentda/internal/temporalclient"
)

// syncBuffer is a bytes.Buffer safe for the worker's goroutines to write
// while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// scrape returns the samples of the Prometheus text at url, by series
// (name and labels as printed).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestClusterWorkerMetricsAndLogs is the cluster path in one process: a
// Temporal server (the embedded one, reached only through --address),
// `latentda setup` registering a new namespace, `latentda worker` with
// --metrics-addr and JSON logs, and `latentda run --no-worker`. It then
// scrapes the worker's metrics and reads its log lines.
func TestClusterWorkerMetricsAndLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{
		FrontendPort: freePort(t),
		UIPort:       -1,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	}()
	addr := srv.FrontendAddress()
	state := t.TempDir()
	common := []string{"--address", addr, "--namespace", "science", "--state-dir", state}

	if _, errOut, err := execute(t, append([]string{"setup", "--retention", "24h", "--wait", "1m"}, common...)...); err != nil {
		t.Fatalf("setup: %v\n%s", err, errOut)
	}

	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	var workerErr syncBuffer
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(&workerErr)
		root.SetArgs(append([]string{"worker", "--log-format", "json", "--metrics-addr", metricsAddr}, common...))
		workerDone <- root.ExecuteContext(wctx)
	}()
	defer func() {
		stopWorker()
		if err := <-workerDone; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()

	// In one process the commands share slog's default logger: let the
	// worker take its JSON logger before `run` sets its own.
	for !strings.Contains(workerErr.String(), "worker serving") {
		select {
		case err := <-workerDone:
			workerDone <- err // for the deferred stop
			t.Fatalf("worker stopped: %v\n%s", err, workerErr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	src, err := os.ReadFile("../../examples/l63-etkf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "l63.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(src), "cycles: 4000", "cycles: 80", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := execute(t, append([]string{"run", "-c", cfg, "--run-id", "m1", "--no-worker",
		"--activity", "regular", "--batch-cycles", "20", "-o", "json"}, common...)...)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut)
	}
	var sum temporalclient.RunSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if sum.Cycles != 80 {
		t.Fatalf("summary %+v", sum)
	}

	m := scrape(t, "http://"+metricsAddr+"/metrics")
	fi, err := os.Stat(sum.Diagnostics)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		series string
		ok     func(v float64) bool
		want   string
	}{
		{"latentda_cycles_total", func(v float64) bool { return v == 80 }, "80"},
		{"latentda_cycle_duration_seconds_count", func(v float64) bool { return v == 80 }, "80"},
		{"latentda_cycle_duration_seconds_sum", func(v float64) bool { return v > 0 && v < 80 }, "in (0, 80) s"},
		{`latentda_analysis_rmse{run_id="m1"}`, func(v float64) bool { return v > 0 && v < 5 }, "in (0, 5)"},
		{`latentda_analysis_spread{run_id="m1"}`, func(v float64) bool { return v > 0 && v < 5 }, "in (0, 5)"},
		{"latentda_observations_flagged_total", func(v float64) bool { return v == 0 }, "0 (no QC yet)"},
		// 80 cycles of truth, observations, forecast and analysis files, plus
		// the diagnostics table four times.
		{"latentda_bytes_written_total", func(v float64) bool { return v > 80*4*200 && v > float64(fi.Size()) }, "more than 80×4 files of 200 B and the diagnostics"},
	} {
		v, ok := m[c.series]
		if !ok {
			t.Errorf("no series %s", c.series)
			continue
		}
		if !c.ok(v) {
			t.Errorf("%s = %g, want %s", c.series, v, c.want)
		}
	}
	// The Temporal SDK's own worker metrics are on the same endpoint.
	var sdk int
	for k := range m {
		if strings.HasPrefix(k, "temporal_activity_execution_latency") || strings.HasPrefix(k, "temporal_workflow_completed") {
			sdk++
		}
	}
	if sdk == 0 {
		t.Errorf("no temporal_* SDK metrics among %d series", len(m))
	}

	// JSON logs: every line parses, and the batch lines carry the run ID.
	var batches int
	for _, line := range strings.Split(strings.TrimSpace(workerErr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("worker log line is not JSON: %q", line)
			continue
		}
		if rec["msg"] == "cycles done" {
			batches++
			if rec["run_id"] != "m1" || rec["to"] == nil {
				t.Errorf("batch log line without run_id/to: %q", line)
			}
		}
	}
	if batches != 4 {
		t.Errorf("%d batch log lines, want 4:\n%s", batches, workerErr.String())
	}
}
