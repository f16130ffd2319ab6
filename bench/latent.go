package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/neural"
)

// LatentBenchOptions set the grid of `latentda bench latent`.
type LatentBenchOptions struct {
	Models     []string // lorenz96, ks
	Dims       []int    // latent dimensions; the full state dimension is always added
	Members    []int    // ensemble sizes
	Generators []string // pca, autoencoder
	Encodings  []string // amortised, projection
	Updates    []string // decode, increment
	// Cycles per run for L96 and KS (0: 1000 and 600).
	CyclesL96, CyclesKS int
	// Archive size and autoencoder training for each model.
	Samples int // default 10000
	Epochs  int // default 40
	// Parallel runs at once (default 2).
	Parallel int
	// Log receives progress lines.
	Log func(string)
}

func (o *LatentBenchOptions) withDefaults() {
	if len(o.Models) == 0 {
		o.Models = []string{"lorenz96", "ks"}
	}
	if len(o.Dims) == 0 {
		o.Dims = []int{8, 16, 24, 32}
	}
	if len(o.Members) == 0 {
		o.Members = []int{8, 16, 24}
	}
	if len(o.Generators) == 0 {
		o.Generators = []string{"pca", "autoencoder"}
	}
	if len(o.Encodings) == 0 {
		o.Encodings = []string{"amortised", "projection"}
	}
	if len(o.Updates) == 0 {
		o.Updates = []string{"decode", "increment"}
	}
	if o.CyclesL96 == 0 {
		o.CyclesL96 = 1000
	}
	if o.CyclesKS == 0 {
		o.CyclesKS = 600
	}
	if o.Samples == 0 {
		o.Samples = 10000
	}
	if o.Epochs == 0 {
		o.Epochs = 40
	}
	if o.Parallel == 0 {
		o.Parallel = 2
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
}

// GeneratorRow describes one generator trained for the benchmark.
type GeneratorRow struct {
	Model      string  `json:"model"`
	Type       string  `json:"generator"`
	LatentDim  int     `json:"d"`
	HeldOutMSE float64 `json:"heldout_mse"`
	Variance   float64 `json:"variance"` // of the held-out states, for scale
	Epochs     int     `json:"epochs"`
	Seconds    float64 `json:"seconds"`
}

// LatentBenchRow is one filter run of the benchmark.
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

// latentBaseline names, for each model and full-space method, the DAPPER
// set-up (experiment.DapperConfigs) the latent benchmark starts from, and
// the burn-in (model time) of its shorter runs.
var latentBaseline = map[string]struct {
	etkf, letkf string
	burnIn      float64
}{
	"lorenz96": {"l96-etkf", "l96-letkf", 10},
	"ks":       {"ks-etkf", "ks-letkf", 100},
}

// benchBase returns the full-space config of a model's benchmark row at
// ensemble size N: the DAPPER set-up of method (the ETKF's for any other
// method) with N members. model is a key of latentBaseline.
func benchBase(model string, method string, N, cycles int) experiment.Config {
	b := latentBaseline[model]
	name := b.etkf
	if method == "letkf" {
		name = b.letkf
	}
	c := experiment.DapperConfigs(cycles)[name]
	c.BurnIn = b.burnIn
	c.Filter.Members = N
	c.Filter.Method = method
	// One inflation per model for every N and scheme, the benchmark's
	// tuned values for the ETKF.
	c.Name = fmt.Sprintf("%s-%s-N%d", model, method, N)
	return c
}

// RunLatentBench trains the generators and runs the grid. Runs that
// diverge are reported with their error, not dropped.
func RunLatentBench(ctx context.Context, o LatentBenchOptions) ([]GeneratorRow, []LatentBenchRow, error) {
	o.withDefaults()
	for _, m := range o.Models {
		if _, ok := latentBaseline[m]; !ok {
			return nil, nil, fmt.Errorf("bench latent: unknown model %q (want lorenz96 or ks)", m)
		}
	}
	var gens []GeneratorRow
	type job struct {
		cfg experiment.Config
		gen latent.Generator
		row LatentBenchRow
	}
	var jobs []job
	for _, model := range o.Models {
		cycles := o.CyclesL96
		if model == "ks" {
			cycles = o.CyclesKS
		}
		tc := experiment.TrainConfig{
			Name:       model + "-bench",
			Model:      benchBase(model, "etkf", 8, cycles).Model,
			Archive:    experiment.ArchiveOptions{Samples: o.Samples, Every: 5, SpinUp: 100, Seed: 11},
			Validation: 0.1,
		}
		if model == "ks" {
			tc.Archive.Every = 2
		}
		X, _, err := experiment.BuildArchive(ctx, experiment.Config{Model: tc.Model}, tc.Archive, nil)
		if err != nil {
			return nil, nil, err
		}
		train, valid := tc.SplitArchive(X)
		n := tc.Model.WithDefaultsNx()
		validVar := variance(valid)
		trained := map[string]latent.Generator{}
		for _, typ := range o.Generators {
			for _, d := range fullToo(o.Dims, n) {
				start := time.Now()
				row := GeneratorRow{Model: model, Type: typ, Variance: validVar}
				var g latent.Generator
				if typ == "pca" {
					opts := latent.PCAOptions{Dim: d}
					if d == n {
						// Full rank: KS has rank n-2 (the mean and the
						// Nyquist mode are conserved), so ask for all of it.
						opts = latent.PCAOptions{Variance: 1}
					}
					p, err := latent.FitPCA(train, opts)
					if err != nil {
						return nil, nil, fmt.Errorf("bench latent: %s pca d=%d: %w", model, d, err)
					}
					g = p
				} else {
					hidden := []int{128, 128}
					if model == "ks" {
						hidden = []int{256, 128}
					}
					tc.Generator = experiment.GeneratorConfig{Type: "autoencoder", LatentDim: d, Hidden: hidden, Activation: "tanh",
						Epochs: o.Epochs, BatchSize: 64, LearningRate: 1e-3, Patience: 6, Seed: 1}
					res, err := experiment.TrainAutoencoderGenerator(ctx, tc, train, valid, func(st neural.EpochStats) error {
						if st.Epoch%10 == 0 {
							o.Log(fmt.Sprintf("  %s autoencoder d=%d epoch %d valid %.4g", model, d, st.Epoch, st.ValidLoss))
						}
						return nil
					}, nil)
					if err != nil {
						return nil, nil, fmt.Errorf("bench latent: %s autoencoder d=%d: %w", model, d, err)
					}
					g = res.Model
					row.Epochs = len(res.Curve)
				}
				row.LatentDim = g.LatentDim()
				row.HeldOutMSE = latent.ReconstructionError(g, valid)
				row.Seconds = time.Since(start).Seconds()
				gens = append(gens, row)
				trained[fmt.Sprint(typ, d)] = g
				o.Log(fmt.Sprintf("trained %s %s d=%d: held-out MSE %.4g (state variance %.3g) in %.0fs", model, typ, d, row.HeldOutMSE, validVar, row.Seconds))
			}
		}
		for _, N := range o.Members {
			for _, method := range []string{"etkf", "letkf"} {
				c := benchBase(model, method, N, cycles)
				jobs = append(jobs, job{cfg: c, row: LatentBenchRow{Model: model, Obs: "all", Filter: method, N: N, Cycles: cycles}})
			}
			for _, typ := range o.Generators {
				for _, d := range fullToo(o.Dims, n) {
					for _, enc := range o.Encodings {
						for _, upd := range o.Updates {
							c := benchBase(model, "etkf", N, cycles)
							c.Latent = &experiment.LatentConfig{Generator: typ, Encoding: enc, Update: upd}
							g := trained[fmt.Sprint(typ, d)]
							jobs = append(jobs, job{cfg: c, gen: g, row: LatentBenchRow{
								Model: model, Obs: "all", Filter: "latent-etkf", Generator: typ, D: g.LatentDim(), N: N, Encoding: enc, Update: upd, Cycles: cycles}})
						}
					}
				}
			}
		}
		// Brittleness: generators trained on the full state, used when only
		// every 4th variable is observed.
		for _, method := range []string{"etkf", "letkf"} {
			c := benchBase(model, method, 16, cycles)
			c.Observations.Operator, c.Observations.Every = "every-k", 4
			jobs = append(jobs, job{cfg: c, row: LatentBenchRow{Model: model, Obs: "every-4", Filter: method, N: 16, Cycles: cycles}})
		}
		for _, typ := range o.Generators {
			for _, upd := range o.Updates {
				d := o.Dims[len(o.Dims)-1]
				c := benchBase(model, "etkf", 16, cycles)
				c.Observations.Operator, c.Observations.Every = "every-k", 4
				c.Latent = &experiment.LatentConfig{Generator: typ, Encoding: "amortised", Update: upd}
				jobs = append(jobs, job{cfg: c, gen: trained[fmt.Sprint(typ, d)], row: LatentBenchRow{
					Model: model, Obs: "every-4", Filter: "latent-etkf", Generator: typ, D: d, N: 16, Encoding: "amortised", Update: upd, Cycles: cycles}})
			}
		}
	}

	rows := make([]LatentBenchRow, len(jobs))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			gen := j.gen
			if gen != nil {
				gen = gen.Clone()
			}
			r := j.row
			s, err := experiment.BuildWithGenerator(j.cfg, gen)
			if err == nil {
				var sum experiment.Summary
				var us float64
				sum, us, err = timedRun(ctx, s)
				r.RMSEa, r.SpreadA, r.AnalysisMicros = sum.RMSEa, sum.SpreadA, us
			}
			if err != nil {
				r.Error = err.Error()
				r.RMSEa, r.SpreadA, r.AnalysisMicros = 0, 0, 0
			}
			rows[i] = r
			mu.Lock()
			done++
			outcome := fmt.Sprintf("rmse_a %.4f", r.RMSEa)
			if r.Error != "" {
				outcome = "failed: " + r.Error
			}
			o.Log(fmt.Sprintf("[%d/%d] %s %s %s %s d=%d N=%d %s %s: %s", done, len(jobs), r.Model, r.Obs, r.Filter, r.Generator, r.D, r.N, r.Encoding, r.Update, outcome))
			mu.Unlock()
		}()
	}
	wg.Wait()
	return gens, rows, ctx.Err()
}

// fullToo returns dims with the full state dimension n appended (for PCA
// it becomes the rank of the data; for the autoencoder, a code as long as
// the state).
func fullToo(dims []int, n int) []int {
	return append(append([]int(nil), dims...), n)
}

// timedRun runs a built experiment and also returns the mean wall time of
// the analysis step in µs.
func timedRun(ctx context.Context, s *experiment.Setup) (experiment.Summary, float64, error) {
	truth, E := s.Initial()
	y := make([]float64, s.Op.OutDim())
	var sums experiment.Sums
	var analysis time.Duration
	for k := 1; k <= s.Config.Cycles; k++ {
		if err := ctx.Err(); err != nil {
			return sums.Summary(), 0, err
		}
		if err := s.AdvanceTruth(truth, k); err != nil {
			return sums.Summary(), 0, err
		}
		s.Observe(y, truth, k)
		if err := s.Forecast(E, k); err != nil {
			return sums.Summary(), 0, err
		}
		t0 := time.Now()
		st, err := s.Analyze(E, y, truth, k)
		analysis += time.Since(t0)
		if err != nil {
			return sums.Summary(), 0, err
		}
		sums.Add(st, s.Config.Scored(k))
	}
	return sums.Summary(), float64(analysis.Microseconds()) / float64(s.Config.Cycles), nil
}

// variance is the mean per-variable variance of the rows of X.
func variance(X interface {
	Dims() (int, int)
	At(int, int) float64
}) float64 {
	m, n := X.Dims()
	var v float64
	for j := 0; j < n; j++ {
		var s, s2 float64
		for i := 0; i < m; i++ {
			x := X.At(i, j)
			s += x
			s2 += x * x
		}
		mean := s / float64(m)
		v += s2/float64(m) - mean*mean
	}
	return v / float64(n)
}
