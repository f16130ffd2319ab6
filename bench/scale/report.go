package scale

import (
	"fmt"

	"github.com/latentda/latentda/bench"
)

// Report gathers the cycles of `latentda bench scale` and what follows
// from them.
type Report struct {
	Cycles []CycleResult `json:"cycles"` // at the default GOMAXPROCS, by size
	// AnalysisSlope is the least-squares slope of log(analysis wall time)
	// against log(nx) over Cycles (1: linear cost).
	AnalysisSlope float64 `json:"analysis_slope"`
	// AnalysisCPUSlope is the same for the analysis CPU time, which other
	// load on the machine disturbs less.
	AnalysisCPUSlope float64 `json:"analysis_cpu_slope"`
	// SpeedUp compares one cycle at one size run with GOMAXPROCS = 1 and
	// 2: wall-time ratios of the forecast and the analysis.
	SpeedUp *SpeedUp `json:"speedup,omitempty"`
	// Disk is the raw speed of the directory the files went to.
	Disk *DiskSpeed `json:"disk,omitempty"`
	// Latent compares latent and full-space analysis cost on KS with the
	// autoencoder LatentGenerator, on LatentNx points.
	LatentNx        int                    `json:"latent_nx,omitempty"`
	Latent          []bench.LatentBenchRow `json:"latent,omitempty"`
	LatentGenerator *bench.GeneratorRow    `json:"latent_generator,omitempty"`
	// Orchestration is the measured cost of one Temporal activity.
	Orchestration *Orchestration `json:"orchestration,omitempty"`
	// Model is the block fan-out model with the constants measured here,
	// and Predictions its cycle times at some worker counts.
	Model       *FanOutModel `json:"model,omitempty"`
	Predictions []Prediction `json:"predictions,omitempty"`
	BestWorkers int          `json:"best_workers,omitempty"`
}

// ModelNx and ModelWorkers are the cycle the report models: 10⁷ variables
// on 8, 32 and 128 workers (1: the serial baseline).
var (
	ModelNx      = 10_000_000
	ModelWorkers = []int{1, 8, 32, 128}
)

// AddModel sets Model, Predictions and BestWorkers (up to 4096) from the
// measurements in r.
func (r *Report) AddModel() error {
	m, err := ModelFrom(*r, ModelNx)
	if err != nil {
		return err
	}
	r.Model, r.Predictions = &m, nil
	for _, w := range ModelWorkers {
		r.Predictions = append(r.Predictions, m.Predict(w))
	}
	r.BestWorkers = m.BestWorkers(4096)
	return nil
}

// SpeedUp is the wall-time ratio of one core to two.
type SpeedUp struct {
	Nx       int         `json:"nx"`
	One      CycleResult `json:"one_core"`
	Two      CycleResult `json:"two_cores"`
	Forecast float64     `json:"forecast"`
	Analysis float64     `json:"analysis"`
}

// NewSpeedUp compares a cycle run with one core to the same run with two.
func NewSpeedUp(one, two CycleResult) (*SpeedUp, error) {
	if one.Nx != two.Nx || one.GOMAXPROCS != 1 || two.GOMAXPROCS != 2 {
		return nil, fmt.Errorf("scale: speed-up needs the same size at GOMAXPROCS 1 and 2, got nx %d at %d and nx %d at %d",
			one.Nx, one.GOMAXPROCS, two.Nx, two.GOMAXPROCS)
	}
	ratio := func(name string) float64 { return one.Stage(name).Wall / two.Stage(name).Wall }
	return &SpeedUp{Nx: one.Nx, One: one, Two: two, Forecast: ratio("forecast"), Analysis: ratio("analysis")}, nil
}

// FitAnalysis sets AnalysisSlope and AnalysisCPUSlope from the cycles.
func (r *Report) FitAnalysis() error {
	var x, wall, cpu []float64
	for _, c := range r.Cycles {
		x = append(x, float64(c.Nx))
		wall = append(wall, c.Stage("analysis").Wall)
		cpu = append(cpu, c.Stage("analysis").CPU)
	}
	var err error
	if r.AnalysisSlope, err = LogLogSlope(x, wall); err != nil {
		return err
	}
	r.AnalysisCPUSlope, err = LogLogSlope(x, cpu)
	return err
}
