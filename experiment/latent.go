package experiment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/observations"
)

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

	// The hybrid-local analysis (local): the states are analysed with the
	// static root hyb.B = bz Jᵀ (m × n), J the generator's Jacobian at the
	// mean code zm and bz (m × d) the root of Σ_clim; op is H.
	local bool
	op    observations.Operator
	bz    *mat.Dense
	jac   *mat.Dense
	zm    []float64
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
	// scale, if set, multiplies diag(H Σ_rep Hᵀ): one factor, or one per
	// observation (observations.variance_estimate.of: representation).
	scale []float64
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
		r.rVar[k] = v + scaleOf(r.scale, k)*r.obs[k]
	}
	return r.rVar
}

func newLatentStep(cfg config.LatentConfig, gen latent.Generator, stats latent.Stats, op observations.Operator, members int) (*latentStep, error) {
	l := &latentStep{
		gen:       gen,
		increment: cfg.Update == "increment",
		zf:        mat.NewDense(members, gen.LatentDim(), nil),
		za:        mat.NewDense(members, gen.LatentDim(), nil),
		gzf:       mat.NewDense(members, gen.StateDim(), nil),
		xa:        mat.NewDense(members, gen.StateDim(), nil),
		z0:        make([]float64, gen.LatentDim()),
		iterative: cfg.AnalysisOrDefault() == config.LatentIterative,
		hyb:       enkf.Hybrid{Alpha: cfg.AlphaOrDefault()},
		local:     cfg.AnalysisOrDefault() == config.LatentHybridLocal,
		op:        op,
	}
	if cfg.Encoding == "projection" {
		p, err := latent.NewProjector(gen, latent.ProjectOptions{MaxIter: cfg.ProjectionIters})
		if err != nil {
			return nil, err
		}
		l.proj = p
	}
	if !l.local && (l.iterative || l.hyb.Alpha < 1) {
		o, err := latent.NewObserved(gen.Clone(), op)
		if err != nil {
			return nil, err
		}
		l.obs = observedMap{o}
	}
	if l.iterative {
		l.iter = enkf.IterOptions{MaxIter: cfg.IterationsOrDefault()}
	}
	if l.hyb.Alpha < 1 || (l.local && cfg.AlphaEstimate != nil) {
		B, err := latent.ClimatologicalRoot(gen, stats)
		if err != nil {
			return nil, fmt.Errorf("latent.alpha: %w", err)
		}
		l.hyb.B = B
		if l.local {
			m, _ := B.Dims()
			l.bz, l.jac, l.zm = B, mat.NewDense(gen.StateDim(), gen.LatentDim(), nil), make([]float64, gen.LatentDim())
			l.hyb.B = mat.NewDense(m, gen.StateDim(), nil)
		}
	}
	if cfg.RepresentationError {
		if _, ok := gen.(*latent.Identity); ok {
			return nil, fmt.Errorf("latent.representation_error: the identity generator reconstructs every state exactly, so it has no representation error to add")
		}
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
	case l.local:
		if l.bz != nil {
			l.staticRoot()
		}
		return f.AnalyzeHybridLocal(E, HE, l.op, y, rVar, l.hyb, rng)
	case l.iterative:
		inno, _, err := f.AnalyzeIterative(l.za, l.obs, y, rVar, l.hyb, l.iter, rng)
		return inno, err
	case l.hyb.Alpha < 1:
		return f.AnalyzeHybrid(l.za, HE, l.obs, y, rVar, l.hyb, rng)
	}
	return f.Analyze(l.za, HE, y, rVar, rng)
}

// hybridWeight returns the weight α of the ensemble's covariance that the
// last analysis used: with latent.alpha_estimate the posterior mean the
// filter carries after it (enkf.EstimatedAlpha), else latent.alpha for a
// hybrid analysis (hybrid-local at any α, the others below 1); 0 without
// a hybrid covariance.
func (l *latentStep) hybridWeight(f *enkf.Filter) float64 {
	if w := f.HybridWeightState(); w != nil {
		return enkf.EstimatedAlpha(w)
	}
	if l.local || l.hyb.Alpha < 1 {
		return l.hyb.Alpha
	}
	return 0
}

// staticRoot sets hyb.B = bz Jᵀ with J the generator's Jacobian at the
// mean of the forecast codes zf: B_G = J Σ_clim Jᵀ = hyb.Bᵀhyb.B.
func (l *latentStep) staticRoot() {
	N, _ := l.zf.Dims()
	clear(l.zm)
	for i := 0; i < N; i++ {
		floats.Add(l.zm, l.zf.RawRowView(i))
	}
	floats.Scale(1/float64(N), l.zm)
	l.gen.Jacobian(l.jac, l.zm)
	l.hyb.B.Mul(l.bz, l.jac.T())
}

// encode writes the codes of the members of E into zf and, for a filter
// on the codes, their decoded states into gzf and H(G(zᶠᵢ)) into HE; for
// the hybrid-local analysis of the states, H(xᶠᵢ) into HE.
func (l *latentStep) encode(E, HE *mat.Dense, apply func(y, x []float64)) {
	N, _ := E.Dims()
	for i := 0; i < N; i++ {
		z := l.zf.RawRowView(i)
		l.code(z, E.RawRowView(i))
		if l.local {
			apply(HE.RawRowView(i), E.RawRowView(i))
			continue
		}
		l.gen.Decode(l.gzf.RawRowView(i), z)
		apply(HE.RawRowView(i), l.gzf.RawRowView(i))
	}
	l.za.Copy(l.zf)
}

// code sets z to the code of the state x.
func (l *latentStep) code(z, x []float64) {
	l.gen.Encode(z, x)
	if l.proj != nil {
		copy(l.z0, z)
		l.proj.Project(z, x, l.z0)
	}
}

// decode replaces E by the analysis decoded from the codes za; E is left
// unchanged if the decoded analysis diverged. After a hybrid-local
// analysis E is the analysis already, and decode records its codes in za.
func (l *latentStep) decode(E *mat.Dense) error {
	N, n := E.Dims()
	if l.local {
		for i := 0; i < N; i++ {
			l.code(l.za.RawRowView(i), E.RawRowView(i))
		}
		return nil
	}
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
