package scale

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun runs the driver with cycles in this process (the child reports
// the GOMAXPROCS it was asked for): every size in order, the slope, the
// speed-up and the disk speed, and nothing that was not asked for.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	var calls []int
	o := Options{
		Sizes: []int{200, 800}, SpeedUpSize: 400, Cycle: DefaultCycle(0, dir),
		Child: func(_ context.Context, n, procs int) (CycleResult, error) {
			calls = append(calls, n)
			res, err := RunCycle(DefaultCycle(n, dir))
			if procs > 0 {
				res.GOMAXPROCS = procs
			}
			return res, err
		},
	}
	var logged []string
	o.Log = func(s string) { logged = append(logged, s) }
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{200, 800, 400, 400}; len(calls) != len(want) || calls[0] != 200 || calls[1] != 800 || calls[2] != 400 || calls[3] != 400 {
		t.Errorf("children %v, want %v", calls, want)
	}
	if len(logged) != 4 || !strings.HasPrefix(logged[0], "nx=200 ") {
		t.Errorf("log %q", logged)
	}
	if len(rep.Cycles) != 2 || rep.Cycles[0].Nx != 200 || rep.Cycles[1].Nx != 800 {
		t.Fatalf("cycles %+v", rep.Cycles)
	}
	// The times of such small cycles on a loaded machine need not grow
	// with nx; the slope must be the fit of the cycles' times.
	a0, a1 := rep.Cycles[0].Stage("analysis").Wall, rep.Cycles[1].Stage("analysis").Wall
	if want := math.Log(a1/a0) / math.Log(4); math.Abs(rep.AnalysisSlope-want) > 1e-12 {
		t.Errorf("slope %v, want %v", rep.AnalysisSlope, want)
	}
	if s := rep.SpeedUp; s == nil || s.Nx != 400 || !(s.Analysis > 0) {
		t.Errorf("speed-up %+v", s)
	}
	if rep.Disk == nil || rep.Disk.Bytes != 1<<20 || !(rep.Disk.GoWriteMBps > 0) {
		t.Errorf("disk %+v", rep.Disk)
	}
	if rep.Latent != nil || rep.Orchestration != nil || rep.Model != nil {
		t.Errorf("measured what was not asked for: %+v", rep)
	}
	o.Sizes = []int{200}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "two or more") {
		t.Errorf("one size: got %v", err)
	}
}

// sampleReport is a report of two sizes, with the disk speed and the
// orchestration cost.
func sampleReport() Report {
	return Report{
		Cycles: []CycleResult{
			{Nx: 1000, Members: 20, WriteMBps: 500, Stages: []Stage{{Name: "forecast", Wall: 1e-4, CPU: 1e-4}, {Name: "analysis", Wall: 0.04, CPU: 0.04}}},
			{Nx: 10000, Members: 20, WriteMBps: 500, Stages: []Stage{{Name: "forecast", Wall: 1e-3, CPU: 1e-3}, {Name: "analysis", Wall: 0.4, CPU: 0.4}}},
		},
		Disk:          &DiskSpeed{GoWriteMBps: 1000},
		Orchestration: &Orchestration{SequentialMillis: 30, FanOutMillis: 5},
	}
}

// TestLoadReport re-reads a saved report, adds its model and prints it.
func TestLoadReport(t *testing.T) {
	rep := sampleReport()
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model == nil || len(got.Predictions) != len(ModelWorkers) {
		t.Errorf("no model: %+v", got)
	}
	var b strings.Builder
	if err := got.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nx^1.000", "128 ", "shortest cycle at", "sequential 30.00 ms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	if _, err := LoadReport(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing report accepted")
	}
}

// TestReadReportMalformed: malformed JSON, keys no report has, data after
// the report and a report too small to fit are refused.
func TestReadReportMalformed(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"empty", "", "EOF"},
		{"truncated", `{"cycles": [{"nx": 1000`, "unexpected EOF"},
		{"unknown key", `{"cycles": [], "slope": 1}`, `unknown field "slope"`},
		{"wrong type", `{"cycles": [{"nx": "1000"}]}`, "cannot unmarshal string"},
		{"two reports", `{"cycles": []} {"cycles": []}`, "data after the JSON value"},
		{"no cycles to fit", `{"cycles": []}`, "two or more"},
	} {
		if _, err := ReadReport(strings.NewReader(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzReadReport: any input is read as a report (`bench scale --from`) or
// refused, and a report it reads prints without failing.
func FuzzReadReport(f *testing.F) {
	data, err := json.Marshal(sampleReport())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ReadReport(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		var b strings.Builder
		if err := rep.WriteText(&b); err != nil {
			t.Fatalf("WriteText of a report ReadReport accepted: %v", err)
		}
	})
}
