package experiment

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/latent"
)

// LatentConfig runs the ensemble filter on the codes of a generator
// G: z → x instead of on the states (the latent EnKF): the forecast members
// are encoded, the filter updates the codes with the observation operator
// H∘G, and the analysis is decoded.
type LatentConfig struct {
	// Generator is "identity" (the full-space filter, as a check) or the
	// path of a generator file written by `latentda train`.
	Generator string `yaml:"generator" json:"generator"`
	// Encoding is amortised (z = E(x), the default) or projection
	// (Gauss–Newton on ‖x − G(z)‖² started from E(x)).
	Encoding string `yaml:"encoding" json:"encoding"`
	// Update is decode (xᵃ = G(zᵃ), on the generator's manifold, the
	// default) or increment (xᵃ = xᶠ + G(zᵃ) − G(zᶠ): the latent increment
	// added to the forecast, keeping what the generator cannot represent).
	Update string `yaml:"update" json:"update"`
	// ProjectionIters bounds the Gauss–Newton iterations of the projection
	// encoding per member and cycle (default 3: each costs a Jacobian of G).
	ProjectionIters int `yaml:"projection_iters" json:"projection_iters"`
}

func (l *LatentConfig) withDefaults() {
	if l.Encoding == "" {
		l.Encoding = "amortised"
	}
	if l.Update == "" {
		l.Update = "decode"
	}
	if l.ProjectionIters == 0 {
		l.ProjectionIters = 3
	}
}

func (l *LatentConfig) validate(method string) error {
	if l.Generator == "" {
		return fmt.Errorf("latent.generator: required: identity or the path of a generator file")
	}
	if l.Encoding != "amortised" && l.Encoding != "projection" {
		return fmt.Errorf("latent.encoding: want amortised or projection, got %q", l.Encoding)
	}
	if l.Update != "decode" && l.Update != "increment" {
		return fmt.Errorf("latent.update: want decode or increment, got %q", l.Update)
	}
	if l.ProjectionIters < 1 {
		return fmt.Errorf("latent.projection_iters: must be >= 1, got %d", l.ProjectionIters)
	}
	if method == "letkf" {
		return fmt.Errorf("filter.method: letkf localises on the model grid and latent codes have no grid; use etkf, enkf or denkf with latent")
	}
	return nil
}

// latentStep holds the latent filter's generator and work space.
type latentStep struct {
	gen       latent.Generator
	proj      *latent.Projector // nil for amortised encoding
	increment bool
	zf        *mat.Dense // forecast codes (N × d)
	za        *mat.Dense // analysis codes (N × d)
	gzf       *mat.Dense // G(zᶠ) (N × n)
	xa        *mat.Dense // decoded analysis (N × n)
	z0        []float64  // projection start
}

func newLatentStep(cfg LatentConfig, gen latent.Generator, members int) (*latentStep, error) {
	l := &latentStep{
		gen:       gen,
		increment: cfg.Update == "increment",
		zf:        mat.NewDense(members, gen.LatentDim(), nil),
		za:        mat.NewDense(members, gen.LatentDim(), nil),
		gzf:       mat.NewDense(members, gen.StateDim(), nil),
		xa:        mat.NewDense(members, gen.StateDim(), nil),
		z0:        make([]float64, gen.LatentDim()),
	}
	if cfg.Encoding == "projection" {
		p, err := latent.NewProjector(gen, latent.ProjectOptions{MaxIter: cfg.ProjectionIters})
		if err != nil {
			return nil, err
		}
		l.proj = p
	}
	return l, nil
}

// encode writes the codes of the members of E into zf, their decoded
// states into gzf, and H(G(zᶠᵢ)) into HE.
func (l *latentStep) encode(E, HE *mat.Dense, apply func(y, x []float64)) {
	N, _ := E.Dims()
	for i := 0; i < N; i++ {
		z := l.zf.RawRowView(i)
		l.gen.Encode(z, E.RawRowView(i))
		if l.proj != nil {
			copy(l.z0, z)
			l.proj.Project(z, E.RawRowView(i), l.z0)
		}
		l.gen.Decode(l.gzf.RawRowView(i), z)
		apply(HE.RawRowView(i), l.gzf.RawRowView(i))
	}
	l.za.Copy(l.zf)
}

// decode replaces E by the analysis decoded from the codes za; E is left
// unchanged if the decoded analysis diverged.
func (l *latentStep) decode(E *mat.Dense) error {
	N, n := E.Dims()
	for i := 0; i < N; i++ {
		x := l.xa.RawRowView(i)
		l.gen.Decode(x, l.za.RawRowView(i))
		if l.increment {
			for j := 0; j < n; j++ {
				x[j] += E.At(i, j) - l.gzf.At(i, j)
			}
		}
	}
	if err := enkf.CheckEnsemble(l.xa, "decoded analysis", enkf.DefaultBlowUp); err != nil {
		return err
	}
	E.Copy(l.xa)
	return nil
}
