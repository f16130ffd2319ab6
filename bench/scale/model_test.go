package scale

import (
	"math"
	"testing"
)

func TestFanOutModel(t *testing.T) {
	// C = nx(N f + a) = 1000·(10·1e-6 + 1e-3) = 1.01 s; the ensemble is
	// 80 kB, so with 1 MB/s and no halo the I/O is 0.24 s; orchestration
	// is 2(0.1 + W·0.01).
	m := FanOutModel{Nx: 1000, Members: 10, F: 1e-6, A: 1e-3, DiskBps: 1e6, L: 0.1, D: 0.01}
	for _, tc := range []struct {
		w                  int
		compute, io, orchv float64
	}{
		{1, 1.01, 0.24, 0.22},
		{10, 0.101, 0.24, 0.4},
	} {
		p := m.Predict(tc.w)
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"compute", p.Compute, tc.compute}, {"io", p.IO, tc.io}, {"orchestration", p.Orchestration, tc.orchv},
			{"total", p.Total, tc.compute + tc.io + tc.orchv}} {
			if math.Abs(c.got-c.want) > 1e-12 {
				t.Errorf("W=%d %s: %v, want %v", tc.w, c.name, c.got, c.want)
			}
		}
		if want := (1.01 + 0.24 + 0.22) / p.Total; math.Abs(p.SpeedUp-want) > 1e-12 || math.Abs(p.Efficiency-want/float64(tc.w)) > 1e-12 {
			t.Errorf("W=%d: speed-up %v efficiency %v", tc.w, p.SpeedUp, p.Efficiency)
		}
	}
	// dT/dW = -C/W² + 2d vanishes at W = √(C/2d) ≈ 7.1.
	if got := m.BestWorkers(100); got != 7 {
		t.Errorf("best workers %d, want 7", got)
	}
}

func TestModelFrom(t *testing.T) {
	rep := Report{
		Cycles: []CycleResult{{Nx: 100, Members: 2}, {Nx: 1000, Members: 10, WriteMBps: 800,
			Stages: []Stage{{Name: "forecast", CPU: 0.01}, {Name: "analysis", CPU: 2}}}},
		Disk:          &DiskSpeed{GoWriteMBps: 1000},
		Orchestration: &Orchestration{SequentialMillis: 30, FanOutMillis: 3},
	}
	m, err := ModelFrom(rep, 5000)
	if err != nil {
		t.Fatal(err)
	}
	want := FanOutModel{Nx: 5000, Members: 10, Halo: 40, F: 1e-6, A: 2e-3, DiskBps: 800e6, L: 0.03, D: 0.003}
	if m != want {
		t.Errorf("model %+v, want %+v", m, want)
	}
	if err := rep.AddModel(); err != nil || len(rep.Predictions) != len(ModelWorkers) || rep.BestWorkers < 1 {
		t.Errorf("AddModel: %v, %+v", err, rep.Predictions)
	}
	rep.Orchestration = nil
	if _, err := ModelFrom(rep, 5000); err == nil {
		t.Error("a report without orchestration accepted")
	}
	rep.Orchestration = &Orchestration{}
	if _, err := ModelFrom(rep, 5000); err == nil {
		t.Error("zero constants accepted")
	}
}
