package main

import (
	"encoding/json"
	"errors"
	"math"
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
		{[]string{"--weight-stride", "-2"}, "weight stride"},
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
	t.Setenv(reexecEnv, "1") // bench scale runs each size in a child process of this binary
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
