package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/training"
)

// LatentCostOptions set up the cost comparison of `latentda bench scale`:
// Kuramoto–Sivashinsky on Nx points (the domain grows with Nx so that the
// grid spacing is the benchmark's 32π/128), every point observed, N members,
// the full-space LETKF of the benchmark (radius 28 grid points, batches of
// 4) against the latent ETKF on the codes of an autoencoder trained
// briefly on an archive of the model.
type LatentCostOptions struct {
	Nx        int // default 1024
	Members   int // default 20
	LatentDim int // default 32
	Samples   int // archive snapshots (default 1000)
	Epochs    int // autoencoder epochs (default 20)
	Cycles    int // timed cycles per filter (default 20)
}

func (o *LatentCostOptions) withDefaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Nx, 1024)
	def(&o.Members, 20)
	def(&o.LatentDim, 32)
	def(&o.Samples, 1000)
	def(&o.Epochs, 20)
	def(&o.Cycles, 20)
}

// RunLatentCost trains the autoencoder, then runs both filters for Cycles
// cycles and returns the generator and one row per filter, with the mean
// analysis time (for the latent filter: encoding, the ETKF on the codes,
// decoding).
func RunLatentCost(ctx context.Context, o LatentCostOptions) (GeneratorRow, []LatentBenchRow, error) {
	o.withDefaults()
	if o.Nx < 16 || o.Members < 2 || o.LatentDim < 1 || o.Samples < 10 || o.Epochs < 1 || o.Cycles < 1 {
		return GeneratorRow{}, nil, fmt.Errorf("bench: latent cost: need nx >= 16, members >= 2, latent dim, samples >= 10, epochs and cycles >= 1; got %+v", o)
	}
	base := experiment.DapperConfigs(o.Cycles)["ks-letkf"] // loc 28, batches of 4
	base.Model.Nx = o.Nx
	base.Model.Length = 32 * math.Pi * float64(o.Nx) / 128
	base.Filter.Members = o.Members
	base.BurnIn = 0
	tc := training.TrainConfig{
		Name: "ks-scale", Model: base.Model, Validation: 0.1,
		Archive: experiment.ArchiveOptions{Samples: o.Samples, Every: 2, SpinUp: 100, Seed: 11},
		Generator: training.GeneratorConfig{Type: "autoencoder", LatentDim: o.LatentDim, Hidden: []int{256, 128}, Activation: "tanh",
			Epochs: o.Epochs, BatchSize: 64, LearningRate: 1e-3, Patience: o.Epochs, Seed: 1},
	}
	start := time.Now()
	X, _, err := experiment.BuildArchive(ctx, config.Config{Model: tc.Model}, tc.Archive, nil)
	if err != nil {
		return GeneratorRow{}, nil, err
	}
	train, valid := tc.SplitArchive(X)
	res, err := training.TrainAutoencoderGenerator(ctx, tc, train, valid, nil, nil)
	if err != nil {
		return GeneratorRow{}, nil, err
	}
	gen := GeneratorRow{Model: "ks", Type: "autoencoder", LatentDim: res.Model.LatentDim(), Epochs: len(res.Curve),
		Variance: meanVariance(valid), Seconds: time.Since(start).Seconds()}
	gen.HeldOutMSE = latent.ReconstructionError(res.Model, valid)

	latentCfg := base
	latentCfg.Filter.Method, latentCfg.Filter.LocRadius, latentCfg.Filter.BatchSize = "etkf", 0, 0
	latentCfg.Latent = &config.LatentConfig{Generator: "autoencoder", Encoding: "amortised", Update: "increment"}
	var rows []LatentBenchRow
	for _, run := range []struct {
		cfg config.Config
		row LatentBenchRow
	}{
		{base, LatentBenchRow{Model: "ks", Obs: "all", Filter: "letkf", N: o.Members, Cycles: o.Cycles}},
		{latentCfg, LatentBenchRow{Model: "ks", Obs: "all", Filter: "latent-etkf", Generator: "autoencoder", D: gen.LatentDim,
			N: o.Members, Encoding: "amortised", Update: "increment", Cycles: o.Cycles}},
	} {
		var g latent.Generator
		if run.cfg.Latent != nil {
			g = res.Model.Clone()
		}
		s, err := experiment.BuildWithGenerator(run.cfg, g)
		if err != nil {
			return gen, nil, err
		}
		r := timedCycles(ctx, s, nil, nil)
		if r.fail != nil {
			return gen, nil, r.fail
		}
		sum, us, err := r.sum, 0.0, r.err
		if r.cycles > 0 {
			us = float64(r.analysis.Microseconds()) / float64(r.cycles)
		}
		if err != nil {
			// A short training may not track the truth; the cost is what
			// is measured, so a divergence is reported in the row.
			run.row.Error = err.Error()
		}
		run.row.RMSEa, run.row.SpreadA, run.row.AnalysisMicros = sum.RMSEa, sum.SpreadA, us
		rows = append(rows, run.row)
	}
	return gen, rows, nil
}

// GeneratorRow describes the generator of the latent cost comparison.
type GeneratorRow struct {
	Model      string  `json:"model"`
	Type       string  `json:"generator"`
	LatentDim  int     `json:"d"`
	HeldOutMSE float64 `json:"heldout_mse"`
	Variance   float64 `json:"variance"` // of the held-out states, for scale
	Epochs     int     `json:"epochs"`
	Seconds    float64 `json:"seconds"`
}

// LatentBenchRow is one filter run of the latent cost comparison.
type LatentBenchRow struct {
	Model     string  `json:"model"`
	Obs       string  `json:"obs"` // all, or every-4
	Filter    string  `json:"filter"`
	Generator string  `json:"generator,omitempty"`
	D         int     `json:"d,omitempty"`
	N         int     `json:"n"`
	Encoding  string  `json:"encoding,omitempty"`
	Update    string  `json:"update,omitempty"`
	Cycles    int     `json:"cycles"`
	RMSEa     float64 `json:"rmse_a"`
	SpreadA   float64 `json:"spread_a"`
	// AnalysisMicros is the mean wall time of one analysis (encoding,
	// filter, decoding) in µs.
	AnalysisMicros float64 `json:"analysis_us"`
	Error          string  `json:"error,omitempty"`
}
