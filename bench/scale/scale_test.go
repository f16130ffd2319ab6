package scale

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLogLogSlope(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y []float64
		want float64
		err  string
	}{
		{"linear", []float64{1e3, 1e4, 1e5, 1e6}, []float64{2, 20, 200, 2000}, 1, ""},
		{"quadratic", []float64{1, 2, 4}, []float64{3, 12, 48}, 2, ""},
		{"constant", []float64{10, 100}, []float64{5, 5}, 0, ""},
		// Reference slope from numpy-free Python over the same logs.
		{"noisy sqrt", []float64{1, 4, 16, 64}, []float64{1.1, 1.9, 4.2, 7.9}, 0.48387, ""},
		{"one point", []float64{1}, []float64{1}, 0, "two or more"},
		{"mismatch", []float64{1, 2}, []float64{1}, 0, "two or more"},
		{"zero", []float64{0, 2}, []float64{1, 1}, 0, "not positive"},
		{"NaN", []float64{1, 2}, []float64{math.NaN(), 1}, 0, "not positive"},
		{"same x", []float64{3, 3}, []float64{1, 2}, 0, "all x are equal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LogLogSlope(tc.x, tc.y)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error about %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > 1e-3 {
				t.Errorf("slope %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCycleOptionsValidate(t *testing.T) {
	good := DefaultCycle(100, "dir")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(*CycleOptions)
		want   string
	}{
		{func(o *CycleOptions) { o.Nx = 3 }, "nx"},
		{func(o *CycleOptions) { o.Members = 1 }, "members"},
		{func(o *CycleOptions) { o.Every = 0 }, "every"},
		{func(o *CycleOptions) { o.Every = 101 }, "every"},
		{func(o *CycleOptions) { o.Radius = math.Inf(1) }, "radius"},
		{func(o *CycleOptions) { o.BatchSize = -1 }, "batch"},
		{func(o *CycleOptions) { o.WeightStride = -1 }, "weight stride"},
		{func(o *CycleOptions) { o.Dir = "" }, "directory"},
	} {
		o := good
		tc.change(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error about %q", o, err, tc.want)
		}
	}
}

// TestRunCycle runs a small cycle: every stage is timed, the analysis
// reduces the error, the file is written, read back and removed.
func TestRunCycle(t *testing.T) {
	dir := t.TempDir()
	o := DefaultCycle(400, dir)
	res, err := RunCycle(o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Obs != 200 || res.Members != 20 || res.GOMAXPROCS != runtime.GOMAXPROCS(0) {
		t.Errorf("result %+v", res)
	}
	for _, name := range []string{"forecast", "obs_operator", "analysis", "write"} {
		if !(res.Stage(name).Wall > 0) {
			t.Errorf("stage %s not timed: %+v", name, res.Stages)
		}
	}
	if !(res.RMSEa < res.RMSEf) {
		t.Errorf("analysis RMSE %v, forecast %v: the analysis did not help", res.RMSEa, res.RMSEf)
	}
	if res.FileBytes < int64(20*400*8) || !(res.WriteMBps > 0) || !(res.ReadMBps > 0) {
		t.Errorf("file %d bytes, write %v MB/s, read %v MB/s", res.FileBytes, res.WriteMBps, res.ReadMBps)
	}
	if runtime.GOOS == "linux" && res.PeakBytes < int64(20*400*8) {
		t.Errorf("peak memory %d bytes", res.PeakBytes)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
	o.Dir = filepath.Join(dir, "missing")
	if _, err := RunCycle(o); err == nil || !strings.Contains(err.Error(), "write") {
		t.Errorf("missing directory: got %v", err)
	}
}

// TestRunCycleWeightStride: the cycle's LETKF takes the weight stride and
// still assimilates; its analysis RMSE is within 2% of the per-point
// LETKF's (one cycle at nx = 2000: radius 10, stride 4 puts the analysed
// points 4 apart).
func TestRunCycleWeightStride(t *testing.T) {
	var rmse [2]float64
	for i, stride := range []int{0, 4} {
		o := DefaultCycle(2000, t.TempDir())
		o.WeightStride = stride
		res, err := RunCycle(o)
		if err != nil {
			t.Fatal(err)
		}
		if res.WeightStride != stride || !(res.RMSEa < res.RMSEf) {
			t.Errorf("stride %d: result %+v", stride, res)
		}
		rmse[i] = res.RMSEa
	}
	if rmse[0] == rmse[1] || math.Abs(rmse[1]/rmse[0]-1) > 0.02 {
		t.Errorf("rmse_a %v with stride 4, %v per point", rmse[1], rmse[0])
	}
}

func TestNewSpeedUp(t *testing.T) {
	one := CycleResult{Nx: 10, GOMAXPROCS: 1, Stages: []Stage{{Name: "forecast", Wall: 2}, {Name: "analysis", Wall: 6}}}
	two := CycleResult{Nx: 10, GOMAXPROCS: 2, Stages: []Stage{{Name: "forecast", Wall: 1}, {Name: "analysis", Wall: 4}}}
	s, err := NewSpeedUp(one, two)
	if err != nil {
		t.Fatal(err)
	}
	if s.Forecast != 2 || s.Analysis != 1.5 {
		t.Errorf("speed-up %+v", s)
	}
	if _, err := NewSpeedUp(two, one); err == nil {
		t.Error("swapped runs accepted")
	}
}

func TestMeasureDisk(t *testing.T) {
	dir := t.TempDir()
	d, err := MeasureDisk(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if d.Bytes != 1<<20 || !(d.GoWriteMBps > 0) || !(d.GoReadMBps > 0) {
		t.Errorf("%+v", d)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
	if _, err := MeasureDisk(filepath.Join(dir, "missing"), 1000); err == nil {
		t.Error("missing directory accepted")
	}
}
