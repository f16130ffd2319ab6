package experiment

import (
	"testing"

	"github.com/latentda/latentda/config"
)

var sinkStats CycleStats

// benchCycle measures one full cycle (nature run, observations, forecast,
// analysis and scoring) in steady state, after a spin-up of 50 cycles.
func benchCycle(b *testing.B, cfg config.Config) {
	s, err := Build(cfg)
	if err != nil {
		b.Fatal(err)
	}
	truth, E := initial(b, s)
	y := make([]float64, s.Op.OutDim())
	k := 0
	cycle := func() {
		k++
		s.AdvanceTruth(truth, k)
		s.Observe(y, truth, k)
		if err := s.Forecast(E, k); err != nil {
			b.Fatal(err)
		}
		st, err := s.Analyze(E, y, truth, k)
		if err != nil {
			b.Fatal(err)
		}
		sinkStats = st
	}
	for range 50 {
		cycle()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		k++
		s.AdvanceTruth(truth, k)
		s.Observe(y, truth, k)
		if err := s.Forecast(E, k); err != nil {
			b.Fatal(err)
		}
		st, err := s.Analyze(E, y, truth, k)
		if err != nil {
			b.Fatal(err)
		}
		sinkStats = st
	}
}

// BenchmarkCycle: go test -run '^$' -bench Cycle ./experiment
func BenchmarkCycle(b *testing.B) {
	cfgs := DapperConfigs(0)
	b.Run("L96-ETKF-N24", func(b *testing.B) { benchCycle(b, cfgs["l96-etkf"]) })
	b.Run("L96-LETKF-N7", func(b *testing.B) { benchCycle(b, cfgs["l96-letkf"]) })
	b.Run("KS-LETKF-N16", func(b *testing.B) { benchCycle(b, cfgs["ks-letkf"]) })
	b.Run("KS-ETKF-N20", func(b *testing.B) { benchCycle(b, cfgs["ks-etkf"]) })
}

// BenchmarkBuildWithCalibration times Build of a config with the manifold
// test's empirical calibration (2000 samples, PCA generator d = 20), the
// first time in a process and then from the worker's cache:
// go test -run '^$' -bench BuildWithCalibration ./experiment
func BenchmarkBuildWithCalibration(b *testing.B) {
	cfg := oodBase()
	cfg.OOD = &config.OODConfig{Tests: []string{config.TestProjection}, Generator: pcaFile(b, 20)}
	build := func(b *testing.B) {
		if _, err := Build(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("calibrating", func(b *testing.B) {
		for b.Loop() {
			calibrations.Clear()
			build(b)
		}
	})
	b.Run("cached", func(b *testing.B) {
		build(b)
		for b.Loop() {
			build(b)
		}
	})
}
