package experiment

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/dynamics"
)

// streamArchive seeds the archive's starting perturbation.
const streamArchive = 5

// ArchiveOptions describe a simulation archive: a long model run from the
// reference state, with the spin-up discarded and a snapshot every Every
// model steps.
type ArchiveOptions struct {
	Samples int     `yaml:"samples" json:"samples"` // snapshots kept
	Every   int     `yaml:"every" json:"every"`     // model steps between snapshots (default 10)
	SpinUp  float64 `yaml:"spin_up" json:"spin_up"` // model time discarded first (default 100)
	// Seed perturbs the start, so archives differ from the twin's truth.
	Seed uint64 `yaml:"seed" json:"seed"`
}

// WithDefaults fills in the documented defaults.
func (o *ArchiveOptions) WithDefaults() {
	if o.Every == 0 {
		o.Every = 10
	}
	if o.SpinUp == 0 {
		o.SpinUp = 100
	}
}

// BuildArchive runs the config's model and returns the snapshots (Samples ×
// n, one per row) and their model times. progress, if not nil, is called
// with the number of snapshots taken, and may stop the run by returning an
// error.
func BuildArchive(ctx context.Context, cfg config.Config, opts ArchiveOptions, progress func(done int) error) (*mat.Dense, []float64, error) {
	opts.WithDefaults()
	var (
		X     *mat.Dense
		times []float64
	)
	err := WalkArchive(ctx, cfg, opts, func(k int, t float64, x []float64) error {
		if X == nil {
			X, times = mat.NewDense(opts.Samples, len(x), nil), make([]float64, opts.Samples)
		}
		X.SetRow(k, x)
		times[k] = t
		if progress != nil && (k+1)%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			return progress(k + 1)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return X, times, nil
}

// WalkArchive runs the config's model as BuildArchive does and calls
// visit with each snapshot k (0 … Samples−1), its model time and its state,
// which is valid until visit returns, instead of keeping them; an error
// from visit stops the run.
func WalkArchive(ctx context.Context, cfg config.Config, opts ArchiveOptions, visit func(k int, t float64, x []float64) error) error {
	opts.WithDefaults()
	if opts.Samples < 2 || opts.Every < 1 || !(opts.SpinUp >= 0) || math.IsInf(opts.SpinUp, 0) {
		return fmt.Errorf("experiment: archive: need samples >= 2, every >= 1, finite spin_up >= 0; got %+v", opts)
	}
	cfg = cfg.WithDefaults()
	model, err := NewModel(cfg.Model)
	if err != nil {
		return fmt.Errorf("experiment: archive: %w", err)
	}
	s := &Setup{Config: cfg, Model: model}
	x, err := s.referenceState()
	if err != nil {
		return fmt.Errorf("experiment: archive: %w", err)
	}
	rng := rand.New(rand.NewPCG(StreamSeed(opts.Seed, streamArchive), 0))
	for i := range x {
		x[i] += 1e-3 * rng.NormFloat64()
	}
	// One member, no noise: an external model advances it in one request
	// per snapshot.
	fc, err := dynamics.NewForecaster(model, 1)
	if err != nil {
		return fmt.Errorf("experiment: archive: %w", err)
	}
	state := mat.NewDense(1, len(x), x)
	dt := model.Dt()
	spin := int(math.Round(opts.SpinUp / dt))
	if err := fc.ForecastContext(ctx, state, spin, 0); err != nil {
		return fmt.Errorf("experiment: archive: spin-up: %w", err)
	}
	for k := 0; k < opts.Samples; k++ {
		if err := fc.ForecastContext(ctx, state, opts.Every, 0); err != nil {
			return fmt.Errorf("experiment: archive: snapshot %d: %w", k, err)
		}
		for _, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("experiment: archive: model state is %v at snapshot %d", v, k)
			}
		}
		if err := visit(k, float64(spin+(k+1)*opts.Every)*dt, x); err != nil {
			return err
		}
	}
	return nil
}
