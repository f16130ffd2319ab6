package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/neural"
	"github.com/latentda/latentda/training"
)

// GeneratorInfo is one generator of the benchmark with its held-out
// reconstruction error.
type GeneratorInfo struct {
	Model string `json:"model"`
	Kind  string `json:"generator"`
	D     int    `json:"d"`
	// RMSE is √(mean over held-out states of ‖G(E(x)) − x‖²/n), in the
	// state's units; RelMSE the mean squared error over the held-out
	// states' variance (the fraction of the variance not represented).
	RMSE   float64 `json:"rmse"`
	RelMSE float64 `json:"rel_mse"`
	// ProjectedRMSE is √(mean ‖G(z*) − x‖²/n) with z* the Gauss–Newton
	// projection of x onto the manifold (latent.ProjectionError): the
	// distance from the held-out states to the generator's range, the
	// representation error of the `encoding: projection` filters. Absent
	// from reports made before it was measured.
	ProjectedRMSE float64 `json:"projected_rmse,omitempty"`
	// Used says whether a filter of the benchmark ran on it (the others
	// are the PCA reference curve).
	Used    bool    `json:"used"`
	Epochs  int     `json:"epochs,omitempty"`
	Seconds float64 `json:"seconds"`
}

// benchGenerator is a trained generator; filters run on clones of it.
type benchGenerator struct {
	gen   latent.Generator
	stats latent.Stats // Σ_clim and Σ_rep, estimated on the archive
	info  GeneratorInfo
}

// archive is a model's simulation archive, split for training.
type archive struct {
	train, valid *mat.Dense
	// clim is the RMSE of the climatological mean as an estimate, the
	// square root of the mean per-variable variance of the archive: a run
	// above it has lost the truth.
	clim     float64
	variance float64 // mean per-variable variance of the held-out states
	err      error
}

type genKey struct {
	model, kind string
	d           int
}

// generatorCache builds each model's archive and trains each generator
// once, on first use.
type generatorCache struct {
	log      func(string)
	mu       sync.Mutex
	archives map[string]*onceArchive
	gens     map[genKey]*onceGen
}

type onceArchive struct {
	once sync.Once
	a    archive
}

type onceGen struct {
	once sync.Once
	g    *benchGenerator
	err  error
}

func newGeneratorCache(log func(string)) *generatorCache {
	return &generatorCache{log: log, archives: map[string]*onceArchive{}, gens: map[genKey]*onceGen{}}
}

// archive returns model m's archive, built on first use.
func (c *generatorCache) archive(ctx context.Context, m *benchModel) archive {
	c.mu.Lock()
	e := c.archives[m.name]
	if e == nil {
		e = &onceArchive{}
		c.archives[m.name] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		start := time.Now()
		tc := m.train.WithDefaults()
		X, _, err := experiment.BuildArchive(ctx, config.Config{Model: tc.Model}, tc.Archive, nil)
		if err != nil {
			e.a.err = fmt.Errorf("bench latent: %s archive: %w", m.name, err)
			return
		}
		e.a.train, e.a.valid = tc.SplitArchive(X)
		e.a.clim = math.Sqrt(meanVariance(X))
		e.a.variance = meanVariance(e.a.valid)
		c.log(fmt.Sprintf("%s archive: %d snapshots (seed %d), climatological RMSE %.3f, in %.0fs",
			m.name, tc.Archive.Samples, tc.Archive.Seed, e.a.clim, time.Since(start).Seconds()))
	})
	return e.a
}

// climatology returns the climatological RMSE of model m.
func (c *generatorCache) climatology(ctx context.Context, m *benchModel) (float64, error) {
	a := c.archive(ctx, m)
	return a.clim, a.err
}

// get returns the generator of kind and dimension d for model m, trained
// on first use.
func (c *generatorCache) get(ctx context.Context, m *benchModel, kind string, d int) (*benchGenerator, error) {
	k := genKey{m.name, kind, d}
	c.mu.Lock()
	e := c.gens[k]
	if e == nil {
		e = &onceGen{}
		c.gens[k] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		a := c.archive(ctx, m)
		if a.err != nil {
			e.err = a.err
			return
		}
		e.g, e.err = c.train(ctx, m, a, kind, d)
		if e.err == nil {
			e.g.info.Used = true
			c.log(fmt.Sprintf("%s %s d=%d: held-out reconstruction RMSE %.4f (%.4f of the variance), %d epochs, %.0fs",
				m.name, kind, d, e.g.info.RMSE, e.g.info.RelMSE, e.g.info.Epochs, e.g.info.Seconds))
		}
	})
	return e.g, e.err
}

// generatorConfig is the training set-up of a generator of the benchmark:
// the model's archive and the kind's settings at dimension d.
func generatorConfig(m *benchModel, kind string, d int) training.TrainConfig {
	tc := m.train
	tc.Name = fmt.Sprintf("%s-%s-%d", m.name, kind, d)
	g := training.GeneratorConfig{Type: kind, LatentDim: d}
	switch kind {
	case "autoencoder", "conv":
		// Adam with a cosine schedule, stopped early on the held-out part
		// after a patience of a quarter of the epochs (8 at least): a
		// fixed one would stop long schedules while their rate is high.
		g.Activation, g.Epochs, g.BatchSize, g.LearningRate, g.Schedule, g.Patience, g.Seed = "tanh", m.epochs, 64, 2e-3, "cosine", max(8, m.epochs/4), 1
		if kind == "autoencoder" {
			g.Hidden = m.hidden
		} else {
			g.Channels, g.Strides, g.Kernel = m.channels, m.strides, 5
		}
	}
	tc.Generator = g
	return tc.WithDefaults()
}

// train fits one generator on the archive a.
func (c *generatorCache) train(ctx context.Context, m *benchModel, a archive, kind string, d int) (*benchGenerator, error) {
	start := time.Now()
	tc := generatorConfig(m, kind, d)
	if err := tc.Validate(); err != nil {
		return nil, fmt.Errorf("bench latent: %s: %w", tc.Name, err)
	}
	out := &benchGenerator{info: GeneratorInfo{Model: m.name, Kind: kind, D: d}}
	switch kind {
	case "pca":
		p, err := training.FitPCAGenerator(tc, a.train)
		if err != nil {
			return nil, fmt.Errorf("bench latent: %s: %w", tc.Name, err)
		}
		out.gen = p
	case "quadratic":
		q, err := training.FitQuadraticGenerator(tc, a.train, a.valid)
		if err != nil {
			return nil, fmt.Errorf("bench latent: %s: %w", tc.Name, err)
		}
		out.gen = q
	case "autoencoder", "conv":
		g, rec, err := training.TrainNetworkGenerator(ctx, tc, a.train, a.valid, func(st neural.EpochStats) error {
			if st.Epoch%10 == 0 {
				c.log(fmt.Sprintf("  %s epoch %d: held-out loss %.4g", tc.Name, st.Epoch, st.ValidLoss))
			}
			return nil
		}, nil)
		if err != nil {
			return nil, fmt.Errorf("bench latent: %s: %w", tc.Name, err)
		}
		out.gen, out.info.Epochs = g, len(rec.Curve)
	default:
		return nil, fmt.Errorf("bench latent: unknown generator kind %q", kind)
	}
	out.stats = latent.EstimateStats(out.gen, a.train, a.valid)
	out.info.Seconds = time.Since(start).Seconds()
	mse := latent.ReconstructionError(out.gen, a.valid)
	out.info.RMSE, out.info.RelMSE = math.Sqrt(mse), mse/a.variance
	out.info.ProjectedRMSE = math.Sqrt(latent.ProjectionError(out.gen, a.valid))
	return out, nil
}

// pcaCurveDims are the PCA dimensions of the reference curve of the
// generators table.
var pcaCurveDims = []int{8, 16, 24, 32, 48, 64}

// infos returns the trained generators, with (if curve) the PCA
// reference curve of every model whose archive was built, by model, kind
// and dimension.
func (c *generatorCache) infos(curve bool) []GeneratorInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []GeneratorInfo
	have := map[genKey]bool{}
	for k, e := range c.gens {
		if e.g != nil {
			out = append(out, e.g.info)
			have[k] = true
		}
	}
	for name, e := range c.archives {
		if !curve || e.a.err != nil || e.a.train == nil {
			continue
		}
		m := benchModels[name]
		for _, d := range pcaCurveDims {
			if d > m.model.Nx || have[genKey{name, "pca", d}] {
				continue
			}
			g, err := c.train(context.Background(), m, e.a, "pca", d)
			if err == nil {
				out = append(out, g.info)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Model != b.Model {
			return a.Model > b.Model // ks before lorenz96
		}
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		}
		return a.D < b.D
	})
	return out
}

// generatorKinds are the generator kinds in report order.
var generatorKinds = []string{"pca", "quadratic", "autoencoder", "conv"}

func kindOrder(k string) int {
	for i, g := range generatorKinds {
		if g == k {
			return i
		}
	}
	return len(generatorKinds)
}

// runBuilt builds cfg with a clone of gen's generator (none for a
// full-space filter) and runs it, with a clone of probe's if it is set,
// writing its trace to trace if that is not nil.
func (c *generatorCache) runBuilt(ctx context.Context, cfg config.Config, gen, probe *benchGenerator, trace io.Writer) runResult {
	var g, pg latent.Generator
	var stats latent.Stats
	if gen != nil {
		g, stats = gen.gen.Clone(), gen.stats
	}
	if probe != nil {
		pg = probe.gen.Clone()
	}
	s, err := experiment.BuildWithGeneratorStats(cfg, g, stats)
	if err != nil {
		return failed(err)
	}
	return timedCycles(ctx, s, pg, trace)
}

// meanVariance is the mean per-variable variance of the rows of X.
func meanVariance(X *mat.Dense) float64 {
	m, n := X.Dims()
	var v float64
	col := make([]float64, m)
	for j := 0; j < n; j++ {
		mat.Col(col, j, X)
		var s, s2 float64
		for _, x := range col {
			s += x
			s2 += x * x
		}
		mean := s / float64(m)
		v += s2/float64(m) - mean*mean
	}
	return v / float64(n)
}
