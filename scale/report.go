package scale

import "fmt"

// Report gathers the cycles of `latentda bench scale` and what follows
// from them.
type Report struct {
	Cycles []CycleResult `json:"cycles"` // at the default GOMAXPROCS, by size
	// AnalysisSlope is the least-squares slope of log(analysis wall time)
	// against log(nx) over Cycles (1: linear cost).
	AnalysisSlope float64 `json:"analysis_slope"`
	// SpeedUp compares one cycle at one size run with GOMAXPROCS = 1 and
	// 2: wall-time ratios of the forecast and the analysis.
	SpeedUp *SpeedUp `json:"speedup,omitempty"`
	// Disk is the raw speed of the directory the files went to.
	Disk *DiskSpeed `json:"disk,omitempty"`
	// Latent compares latent and full-space analysis cost on KS.
	Latent []LatentCost `json:"latent,omitempty"`
	// Orchestration is the measured cost of one Temporal activity.
	Orchestration *Orchestration `json:"orchestration,omitempty"`
}

// SpeedUp is the wall-time ratio of one core to two.
type SpeedUp struct {
	Nx       int         `json:"nx"`
	One, Two CycleResult `json:"-"`
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

// FitAnalysis sets AnalysisSlope from the cycles.
func (r *Report) FitAnalysis() error {
	var x, y []float64
	for _, c := range r.Cycles {
		x = append(x, float64(c.Nx))
		y = append(y, c.Stage("analysis").Wall)
	}
	s, err := LogLogSlope(x, y)
	r.AnalysisSlope = s
	return err
}

// LatentCost is the mean analysis cost of one filter on one model.
type LatentCost struct {
	Model  string `json:"model"`
	Nx     int    `json:"nx"`
	N      int    `json:"n"`
	Filter string `json:"filter"` // letkf, or latent-etkf
	// LatentDim is the code size of the latent filter's autoencoder.
	LatentDim int `json:"d,omitempty"`
	// AnalysisMicros is the mean wall time of one analysis (for the latent
	// filter: encoding, the ETKF on the codes and decoding) in µs.
	AnalysisMicros float64 `json:"analysis_us"`
	Cycles         int     `json:"cycles"`
	RMSEa          float64 `json:"rmse_a"`
}

// Orchestration is the measured cost of Temporal activities on the
// embedded dev server.
type Orchestration struct {
	Activities int `json:"activities"`
	// PerActivityMillis is the mean wall time per regular activity that
	// does nothing, run back to back from one workflow, and per local one.
	PerActivityMillis      float64 `json:"per_activity_ms"`
	PerLocalActivityMillis float64 `json:"per_local_activity_ms"`
}
