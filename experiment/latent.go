package experiment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/observations"
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
	// Analysis is etkf (the default: filter.method's analysis of the codes
	// with the observed members H(G(zᵢ))) or iterative: Gauss–Newton
	// iterations in z, with the exact Jacobians of G and H, for the MAP of
	// ½‖z − z̄ᶠ‖²(P_z⁻¹) + ½‖y − H(G(z))‖²(R⁻¹), then the ETKF square-root
	// transform of the last linearisation (enkf.Filter.AnalyzeIterative;
	// Sakov et al. 2012, Bocquet and Sakov 2014). iterative needs
	// filter.method etkf.
	Analysis string `yaml:"analysis,omitempty" json:"analysis,omitempty"`
	// Alpha is the weight of the ensemble in the hybrid code covariance
	// P_z = α P_ens + (1 − α) Σ_clim, in (0, 1]; Σ_clim is the generator's
	// climatological code covariance (the identity for the whitened codes
	// of a PCA, estimated on the archive for the others). Unset: 1, the
	// ensemble's covariance alone. Below 1 it needs filter.method etkf
	// (enkf.Filter.AnalyzeHybrid, or the iterative analysis).
	Alpha *float64 `yaml:"alpha,omitempty" json:"alpha,omitempty"`
	// Iterations bounds the Gauss–Newton linearisations of the iterative
	// analysis per cycle (unset: 10, at least 1; 1 linearises once, at the
	// forecast mean). Only with analysis iterative.
	Iterations *int `yaml:"iterations,omitempty" json:"iterations,omitempty"`
	// RepresentationError, if true, adds the generator's representation
	// error to the observation error: R + diag(H Σ_rep Hᵀ), with Σ_rep the
	// diagonal of the held-out reconstruction error stored with the
	// generator and H's Jacobian at the forecast mean (only the diagonal
	// of H Σ_rep Hᵀ is kept; it is exact for observations of single
	// variables). The analysis, its spread and the NIS then know what the
	// generator cannot represent. The quality control, if any, tests the
	// observations with R alone.
	RepresentationError bool `yaml:"representation_error,omitempty" json:"representation_error,omitempty"`
}

// The fields added with the hybrid and iterative analyses keep their
// defaults implicit (empty or nil, and omitted when the config is written
// out), so that the config a run directory already holds still matches.

// analysis returns Analysis with its default.
func (l *LatentConfig) analysis() string {
	if l.Analysis == "" {
		return latentETKF
	}
	return l.Analysis
}

// alpha returns Alpha with its default, 1.
func (l *LatentConfig) alpha() float64 {
	if l.Alpha == nil {
		return 1
	}
	return *l.Alpha
}

// iterations returns Iterations with its default.
func (l *LatentConfig) iterations() int {
	if l.Iterations == nil {
		return enkf.DefaultMaxIter
	}
	return *l.Iterations
}

// The latent analyses.
const (
	latentETKF      = "etkf"
	latentIterative = "iterative"
)

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
	analysis := l.analysis()
	switch analysis {
	case latentETKF, latentIterative:
	default:
		return fmt.Errorf("latent.analysis: want etkf or iterative, got %q", l.Analysis)
	}
	if analysis == latentIterative && method != "etkf" {
		return fmt.Errorf("latent.analysis: iterative uses the ETKF transform; set filter.method etkf, not %s", method)
	}
	if a := l.alpha(); !(a > 0 && a <= 1) {
		return fmt.Errorf("latent.alpha: the ensemble's weight in the hybrid covariance must be in (0, 1], got %v", a)
	}
	if l.alpha() < 1 && method != "etkf" {
		return fmt.Errorf("latent.alpha: a hybrid covariance (alpha < 1) uses the ETKF transform; set filter.method etkf, not %s", method)
	}
	if l.Iterations != nil {
		if analysis != latentIterative {
			return fmt.Errorf("latent.iterations: only for analysis iterative (analysis is %s)", analysis)
		}
		if *l.Iterations < 1 {
			return fmt.Errorf("latent.iterations: must be >= 1, got %d", *l.Iterations)
		}
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

	iterative bool
	hyb       enkf.Hybrid
	iter      enkf.IterOptions
	obs       observedMap
	rep       *representation // nil: R alone
}

// observedMap is H∘G as the enkf package's observation map.
type observedMap struct{ *latent.Observed }

// Apply sets y = H(G(z)).
func (o observedMap) Apply(y, z []float64) { o.Decode(y, z) }

// representation adds diag(H Σ_rep Hᵀ) to the observation-error variances.
type representation struct {
	op     observations.Operator
	v      []float64  // diag Σ_rep (n)
	jh     *mat.Dense // H's Jacobian (p × n)
	xm     []float64  // forecast mean state
	obs    []float64  // diag(H Σ_rep Hᵀ) (p)
	linear bool       // obs is computed once
	rVar   []float64  // R + diag(H Σ_rep Hᵀ)
}

func newRepresentation(op observations.Operator, v []float64) (*representation, error) {
	if v == nil {
		return nil, fmt.Errorf("latent.representation_error: the generator has no representation-error estimate (run latentda train on its config again: it adds the estimate to the file)")
	}
	if len(v) != op.InDim() {
		return nil, fmt.Errorf("latent.representation_error: %d variances for %d state variables", len(v), op.InDim())
	}
	for j, x := range v {
		if !(x >= 0) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("latent.representation_error: variance %d is %v", j, x)
		}
	}
	p, n := op.OutDim(), op.InDim()
	r := &representation{op: op, v: v, jh: mat.NewDense(p, n, nil), xm: make([]float64, n), obs: make([]float64, p),
		linear: observations.Linear(op), rVar: make([]float64, p)}
	if r.linear {
		op.Jacobian(r.jh, r.xm)
		latent.ObservedVariance(r.obs, r.jh, r.v)
	}
	return r, nil
}

// variances returns R + diag(H Σ_rep Hᵀ), H linearised at the mean of the
// forecast E for a nonlinear operator. A rejected observation (+Inf) stays
// rejected.
func (r *representation) variances(E *mat.Dense, rVar []float64) []float64 {
	if !r.linear {
		N, _ := E.Dims()
		clear(r.xm)
		for i := 0; i < N; i++ {
			floats.Add(r.xm, E.RawRowView(i))
		}
		floats.Scale(1/float64(N), r.xm)
		r.op.Jacobian(r.jh, r.xm)
		latent.ObservedVariance(r.obs, r.jh, r.v)
	}
	for k, v := range rVar {
		r.rVar[k] = v + r.obs[k]
	}
	return r.rVar
}

func newLatentStep(cfg LatentConfig, gen latent.Generator, stats latent.Stats, op observations.Operator, members int) (*latentStep, error) {
	l := &latentStep{
		gen:       gen,
		increment: cfg.Update == "increment",
		zf:        mat.NewDense(members, gen.LatentDim(), nil),
		za:        mat.NewDense(members, gen.LatentDim(), nil),
		gzf:       mat.NewDense(members, gen.StateDim(), nil),
		xa:        mat.NewDense(members, gen.StateDim(), nil),
		z0:        make([]float64, gen.LatentDim()),
		iterative: cfg.analysis() == latentIterative,
		hyb:       enkf.Hybrid{Alpha: cfg.alpha()},
	}
	if cfg.Encoding == "projection" {
		p, err := latent.NewProjector(gen, latent.ProjectOptions{MaxIter: cfg.ProjectionIters})
		if err != nil {
			return nil, err
		}
		l.proj = p
	}
	if l.iterative || l.hyb.Alpha < 1 {
		o, err := latent.NewObserved(gen.Clone(), op)
		if err != nil {
			return nil, err
		}
		l.obs = observedMap{o}
	}
	if l.iterative {
		l.iter = enkf.IterOptions{MaxIter: cfg.iterations()}
	}
	if l.hyb.Alpha < 1 {
		B, err := latent.ClimatologicalRoot(gen, stats)
		if err != nil {
			return nil, fmt.Errorf("latent.alpha: %w", err)
		}
		l.hyb.B = B
	}
	if cfg.RepresentationError {
		r, err := newRepresentation(op, stats.RepVar)
		if err != nil {
			return nil, err
		}
		l.rep = r
	}
	return l, nil
}

// analyze updates the codes za (encode has set them to the forecast's)
// given the forecast states E, the observed members HE, the observations
// and their error variances.
func (l *latentStep) analyze(f *enkf.Filter, E, HE *mat.Dense, y, rVar []float64, rng *rand.Rand) (enkf.Innovation, error) {
	if l.rep != nil {
		rVar = l.rep.variances(E, rVar)
	}
	switch {
	case l.iterative:
		inno, _, err := f.AnalyzeIterative(l.za, l.obs, y, rVar, l.hyb, l.iter, rng)
		return inno, err
	case l.hyb.Alpha < 1:
		return f.AnalyzeHybrid(l.za, HE, l.obs, y, rVar, l.hyb, rng)
	}
	return f.Analyze(l.za, HE, y, rVar, rng)
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
