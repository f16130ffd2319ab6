package activities_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an activities.Recorder that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	cycles   int
	seconds  float64
	rmse     map[string]float64
	flagged  int
	bytesOut int64
}

func (r *recorder) CycleDone(runID string, d time.Duration, rmseA, spreadA float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cycles++
	r.seconds += d.Seconds()
	if r.rmse == nil {
		r.rmse = map[string]float64{}
	}
	r.rmse[runID] = rmseA
}

func (r *recorder) ObservationsFlagged(n int) { r.mu.Lock(); r.flagged += n; r.mu.Unlock() }
func (r *recorder) BytesWritten(n int64)      { r.mu.Lock(); r.bytesOut += n; r.mu.Unlock() }

// TestRunCyclesRecordsMetricsAndLogs checks what a batch reports to the
// injected recorder and logger against the files and diagnostics it wrote.
func TestRunCyclesRecordsMetricsAndLogs(t *testing.T) {
	a := newActivities(t)
	rec := &recorder{}
	var logs bytes.Buffer
	a.Metrics = rec
	a.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := shortL63(12)
	initialize(t, a, cfg)
	before := dirBytes(t, runDir(a).Root)
	out, err := runCycles(a, cfg, 1, 12)
	if err != nil {
		t.Fatal(err)
	}
	if rec.cycles != 12 || rec.seconds <= 0 {
		t.Errorf("recorded %d cycles in %g s, want 12 in > 0 s", rec.cycles, rec.seconds)
	}
	if rec.rmse[runID] != out.Last.RMSEa {
		t.Errorf("recorded rmse_a %g, last cycle has %g", rec.rmse[runID], out.Last.RMSEa)
	}
	if rec.flagged != 0 {
		t.Errorf("%d flagged observations, the run has no quality control", rec.flagged)
	}
	// Every byte now in the run directory beyond cycle 0 and the config was
	// counted once (each file is written once in a fresh run).
	if want := dirBytes(t, runDir(a).Root) - before; rec.bytesOut != want {
		t.Errorf("recorded %d bytes written, the run directory grew by %d", rec.bytesOut, want)
	}
	var debug, info int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["run_id"] != runID {
			t.Errorf("log line without run_id: %s", line)
		}
		switch r["msg"] {
		case "cycle done":
			debug++
			if r["cycle"] == nil {
				t.Errorf("cycle line without cycle: %s", line)
			}
		case "cycles done":
			info++
		}
	}
	if debug != 12 || info != 1 {
		t.Errorf("%d cycle lines and %d batch lines, want 12 and 1:\n%s", debug, info, logs.String())
	}

	// When the caller prints the progress (run --in-process), the batch's
	// line is DEBUG, so that a batch is not reported twice.
	quiet := newActivities(t)
	quiet.CallerPrints = true
	logs.Reset()
	quiet.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	initialize(t, quiet, cfg)
	if _, err := runCycles(quiet, cfg, 1, 3); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("INFO lines with CallerPrints:\n%s", logs.String())
	}
}

func dirBytes(t *testing.T, root string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
