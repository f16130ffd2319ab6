package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentda/latentda/bench/scale"
)

func TestBenchScaleUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sizes", "1000"}, "two sizes"},
		{[]string{"--sizes", "1000,2"}, "nx must be >= 4"},
		{[]string{"--speedup-size", "3"}, "nx must be >= 4"},
		{[]string{"--radius", "0"}, "radius"},
		{[]string{"--latent-nx", "5"}, "--latent-nx"},
		{[]string{"--activities", "-1"}, "--activities"},
		{[]string{"-o", "yaml"}, "--output"},
	} {
		_, _, err := execute(t, append([]string{"bench", "scale"}, tc.args...)...)
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ue) {
			t.Errorf("%v: got %v, want a usage error about %q", tc.args, err, tc.want)
		}
	}
}

func TestBenchScaleSmall(t *testing.T) {
	out, _, err := execute(t, "bench", "scale", "--sizes", "200,800", "--speedup-size", "400", "--latent-nx", "0",
		"--activities", "0", "--dir", t.TempDir(), "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rep scale.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(rep.Cycles) != 2 || rep.Cycles[0].Nx != 200 || rep.Cycles[1].Nx != 800 {
		t.Fatalf("cycles %+v", rep.Cycles)
	}
	if math.IsNaN(rep.AnalysisSlope) || rep.AnalysisSlope <= 0 {
		t.Errorf("slope %v", rep.AnalysisSlope)
	}
	if s := rep.SpeedUp; s == nil || s.One.GOMAXPROCS != 1 || s.Two.GOMAXPROCS != 2 || !(s.Analysis > 0) {
		t.Errorf("speed-up %+v", s)
	}
	if rep.Disk == nil || !(rep.Disk.GoWriteMBps > 0) {
		t.Errorf("disk %+v", rep.Disk)
	}
}

// TestBenchScaleFrom re-prints a saved report with its model.
func TestBenchScaleFrom(t *testing.T) {
	rep := scale.Report{
		Cycles: []scale.CycleResult{
			{Nx: 1000, Members: 20, WriteMBps: 500, Stages: []scale.Stage{{Name: "forecast", Wall: 1e-4, CPU: 1e-4}, {Name: "analysis", Wall: 0.04, CPU: 0.04}}},
			{Nx: 10000, Members: 20, WriteMBps: 500, Stages: []scale.Stage{{Name: "forecast", Wall: 1e-3, CPU: 1e-3}, {Name: "analysis", Wall: 0.4, CPU: 0.4}}},
		},
		Disk:          &scale.DiskSpeed{GoWriteMBps: 1000},
		Orchestration: &scale.Orchestration{SequentialMillis: 30, FanOutMillis: 5},
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := execute(t, "bench", "scale", "--from", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nx^1.000", "128 ", "shortest cycle at", "sequential 30.00 ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := execute(t, "bench", "scale", "--from", filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing report accepted")
	}
}
