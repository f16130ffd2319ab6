// Package experiment builds the numerics that a twin assimilation
// experiment's [config.Config] names ([Build]): the model, the observing
// system, the filter, the latent space and the quality control, with every
// random stream derived from the run seed ([StreamSeed]). It holds the
// cycle step (observe, forecast, quality control, analyse, score), runs the
// cycles in process ([Run]), and builds the simulation archives generators
// are trained on ([BuildArchive]); package training fits the generators and
// package latent/genfile reads and writes their files. The Temporal
// activities call the same building blocks, so a run under Temporal and a
// run in process are bit-identical.
package experiment

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/experiment/anomaly"
	"github.com/latentda/latentda/external"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/observations"
)

// Random streams. Every draw of a run comes from a PCG seeded by
// (StreamSeed(seed, stream), index), so any cycle can be recomputed on its own
// and a re-run is bit-for-bit identical.
const (
	streamInit     = 1 // initial truth (index 0) and members (index 1+i)
	streamForecast = 2 // model noise of cycle k (index k)
	streamObs      = 3 // observation noise of cycle k
	streamAnalysis = 4 // perturbed observations and rotations of cycle k
)

// StreamSeed derives the seed of one random stream from the run seed
// (SplitMix64 finaliser of seed + stream·golden ratio).
func StreamSeed(seed, stream uint64) uint64 {
	z := seed + stream*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Setup holds the numerics an experiment names, with their work space. It
// is not safe for concurrent use.
type Setup struct {
	Config     config.Config
	Model      dynamics.Model
	Op         observations.Operator
	R          *observations.DiagR
	Forecaster *dynamics.Forecaster
	Filter     *enkf.Filter

	latent  *latentStep          // nil: the filter runs on the states
	gens    map[string]string    // Generators
	varEst  *varianceEstimator   // nil: R as given
	qc      *qualityControl      // nil: no quality control
	anomaly *anomaly.Anomaly     // nil: the nature run follows the model
	truth   *dynamics.Forecaster // the nature run: one member, no noise
	scorer  *Scorer
	he      *mat.Dense
	noise   []float64
	pcg     *rand.PCG
	rng     *rand.Rand
	ctx     context.Context // nil: the loops run to the end
}

// SetContext makes the long loops of s (the ensemble forecast and the
// nature run) stop with ctx's error once ctx ends, so that a cancelled
// activity or an interrupted command stops within milliseconds even
// inside a long forecast; the stored files of the cycles before stay as
// they are. Without it the loops run to the end.
func (s *Setup) SetContext(ctx context.Context) { s.ctx = ctx }

// context returns the context of SetContext, or the background.
func (s *Setup) context() context.Context {
	if s.ctx == nil {
		return context.Background()
	}
	return s.ctx
}

// Build validates cfg and constructs its model, observation operator, error
// model, forecaster, filter and, for a latent filter, loads its generator.
func Build(cfg config.Config) (*Setup, error) { return BuildPinned(cfg, nil) }

// BuildPinned is Build for a run that keeps its generators' digests
// (Setup.Generators, by config key): a generator file whose bytes are not
// the pinned ones is refused with a *GeneratorChangedError as soon as it
// is read, before anything is computed from it.
func BuildPinned(cfg config.Config, pinned map[string]string) (*Setup, error) {
	cfg, err := checked(cfg)
	if err != nil {
		return nil, err
	}
	var gen latent.Generator
	var stats latent.Stats
	digest := ""
	if l := cfg.Latent; l != nil && l.Generator != "" {
		if gen, stats, digest, err = loadGenerator("latent.generator", l.Generator, cfg.Model, pinned); err != nil {
			return nil, err
		}
	}
	return build(cfg, gen, stats, digest, pinned)
}

// GeneratorChangedError says that a generator file's bytes are not those
// its run pinned: a generator retrained under the same name mid-run would
// silently change the cycles after it.
type GeneratorChangedError struct {
	Key, File   string // the config key and the file it names
	Pinned, Now string // the SHA-256 digests, in hex
}

func (e *GeneratorChangedError) Error() string {
	return fmt.Sprintf("experiment: %s %s: the file is not the one this run started with (sha256 %s; now %s)", e.Key, e.File, e.Pinned, e.Now)
}

// oodGenerator returns the projection test's generator and its digest:
// the latent filter's (gen, digest) or the one in the file ood.generator
// names.
func oodGenerator(cfg config.Config, gen latent.Generator, digest string, pinned map[string]string) (latent.Generator, string, error) {
	o := cfg.OOD
	if o == nil || !o.Has(config.TestProjection) && !o.Has(config.TestManifold) {
		return nil, "", nil
	}
	if o.Generator == "latent" {
		return gen, digest, nil
	}
	g, _, d, err := loadGenerator("ood.generator", o.Generator, cfg.Model, pinned)
	return g, d, err
}

// BuildWithGenerator is Build with the latent filter's generator given
// (it must be nil unless cfg.Latent is set), for generators trained in
// process.
func BuildWithGenerator(cfg config.Config, gen latent.Generator) (*Setup, error) {
	return BuildWithGeneratorStats(cfg, gen, latent.Stats{})
}

// BuildWithGeneratorStats is BuildWithGenerator with the generator's
// statistics (latent.EstimateStats), which latent.alpha < 1 (for a
// generator other than a PCA) and latent.representation_error need.
func BuildWithGeneratorStats(cfg config.Config, gen latent.Generator, stats latent.Stats) (*Setup, error) {
	cfg, err := checked(cfg)
	if err != nil {
		return nil, err
	}
	return build(cfg, gen, stats, "", nil)
}

// Generators maps the config keys that name a generator file
// (latent.generator, ood.generator) to the SHA-256 of the bytes s was
// built from, in hex. A run keeps them (store.RunDir.Generators), so that
// a generator retrained under the same name cannot change its later
// cycles. A generator handed over in memory or identity has no entry.
func (s *Setup) Generators() map[string]string { return s.gens }

// checked returns cfg with its defaults, validated.
func checked(cfg config.Config) (config.Config, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("experiment: %w", err)
	}
	return cfg, nil
}

// build constructs a Setup from a checked config; digest is the SHA-256
// of the latent generator's file ("" for one handed over in memory), and
// pinned the digests the run keeps (BuildPinned).
func build(cfg config.Config, gen latent.Generator, stats latent.Stats, digest string, pinned map[string]string) (*Setup, error) {
	model, err := NewModel(cfg.Model)
	if err != nil {
		return nil, fmt.Errorf("experiment: model: %w", err)
	}
	op, err := newOperator(cfg.Observations, model.Dim())
	if err != nil {
		return nil, fmt.Errorf("experiment: observations: %w", err)
	}
	r, err := observations.NewScalarR(op.OutDim(), cfg.Observations.Variance)
	if err != nil {
		return nil, fmt.Errorf("experiment: observations: %w", err)
	}
	fc, err := dynamics.NewForecaster(model, cfg.Filter.Members, dynamics.WithNoise(cfg.Model.Noise))
	if err != nil {
		return nil, fmt.Errorf("experiment: forecaster: %w", err)
	}
	if (gen == nil) != (cfg.Latent == nil) {
		return nil, fmt.Errorf("experiment: a generator is needed exactly when latent is configured")
	}
	filterDim := model.Dim()
	var ls *latentStep
	if gen != nil {
		if gen.StateDim() != model.Dim() {
			return nil, fmt.Errorf("experiment: latent.generator: generator maps to %d variables, the model has %d", gen.StateDim(), model.Dim())
		}
		if ls, err = newLatentStep(*cfg.Latent, gen, stats, op, cfg.Filter.Members); err != nil {
			return nil, fmt.Errorf("experiment: latent: %w", err)
		}
		if !ls.local {
			filterDim = gen.LatentDim()
		}
	}
	fcfg, obsPos := localisation(cfg.Filter.EnKF(), model, op, gen != nil)
	if e := cfg.Latent; e != nil && e.AlphaEstimate != nil {
		fcfg.HybridWeight = &enkf.HybridWeightEstimate{Memory: e.AlphaEstimate.Memory}
	}
	filter, err := enkf.New(fcfg, cfg.Filter.Members, filterDim, obsPos)
	if err != nil {
		return nil, fmt.Errorf("experiment: filter: %w", err)
	}
	truthFc, err := dynamics.NewForecaster(model, 1)
	if err != nil {
		return nil, fmt.Errorf("experiment: nature run: %w", err)
	}
	pcg := rand.NewPCG(0, 0)
	s := &Setup{
		Config: cfg, Model: model, Op: op, R: r, Forecaster: fc, Filter: filter,
		latent: ls,
		gens:   map[string]string{},
		truth:  truthFc,
		scorer: NewScorer(model.Dim()),
		he:     mat.NewDense(cfg.Filter.Members, op.OutDim(), nil),
		noise:  make([]float64, op.OutDim()),
		pcg:    pcg, rng: rand.New(pcg),
	}
	if v := cfg.Observations.VarianceEstimate; v != nil {
		s.varEst = newVarianceEstimator(*v, op.OutDim())
		if v.Of == config.EstimateRepresentation { // validated: the latent step has rep
			s.varEst.rep = ls.rep
			ls.rep.scale = s.varEst.scale
		}
	}
	if a := cfg.Anomaly; a != nil {
		if a.BiasIndex < 0 || a.BiasIndex >= op.OutDim() {
			return nil, fmt.Errorf("experiment: anomaly.bias_index: %d is not an observation index in [0, %d)", a.BiasIndex, op.OutDim())
		}
		noise := 1.0
		if a.NoiseVariance > 0 {
			noise = math.Sqrt(a.NoiseVariance / cfg.Observations.Variance)
		}
		if s.anomaly, err = anomaly.New(*a, cfg.Model, op.Positions(), noise); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
	}
	if digest != "" {
		s.gens["latent.generator"] = digest
	}
	if cfg.OOD != nil {
		og, oodDigest, err := oodGenerator(cfg, gen, digest, pinned)
		if err != nil {
			return nil, err
		}
		if oodDigest != "" && cfg.OOD.Generator != "latent" {
			s.gens["ood.generator"] = oodDigest
		}
		if s.qc, err = newQualityControl(s, og, oodDigest, digest); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
	}
	return s, nil
}

// localisation returns the filter's config and the observation positions
// for its localisation: the grid index, or, for an external model that
// sent coordinates in its handshake (and no latent filter, whose variables
// have no place), the coordinates of the state variables and of the
// observed ones.
func localisation(fcfg enkf.Config, model dynamics.Model, op observations.Operator, latent bool) (enkf.Config, []float64) {
	pos := op.Positions()
	m, ok := model.(*external.Model)
	if !ok || latent {
		return fcfg, pos
	}
	coords, period := m.Coordinates()
	if coords == nil {
		return fcfg, pos
	}
	fcfg.Coords = &enkf.Coordinates{Of: coords, Period: period}
	at := make([]float64, len(pos))
	for k, x := range pos {
		at[k] = coords[int(x)] // the operators observe state variables: x is an index
	}
	return fcfg, at
}

// NewModel builds the dynamical model a model section names.
func NewModel(m config.ModelConfig) (dynamics.Model, error) {
	switch m.Name {
	case "lorenz63":
		return dynamics.NewLorenz63(m.Sigma, m.Rho, m.Beta, m.Dt)
	case "lorenz96":
		return dynamics.NewLorenz96(m.Nx, m.Forcing, m.Dt)
	case "ks":
		return dynamics.NewKS(m.Nx, m.Length, m.Dt)
	case "external":
		return external.Open(m.External())
	}
	return nil, fmt.Errorf("unknown model %q", m.Name)
}

func newOperator(o config.ObsConfig, n int) (observations.Operator, error) {
	switch o.Operator {
	case "identity":
		return observations.NewIdentity(n)
	case "every-k":
		return observations.NewEveryKth(n, o.Every, o.Offset)
	case "subset":
		return observations.NewSubset(n, o.Indices)
	case "square":
		return observations.NewSquare(n, o.Indices)
	case "abs":
		return observations.NewAbs(n, o.Indices)
	}
	return nil, fmt.Errorf("unknown operator %q", o.Operator)
}

// referenceState is the model's reference state x₀ on its attractor (the
// DAPPER choices: a fixed Lorenz-63 point, a spun-up perturbed Lorenz-96
// rest state, the Kassam–Trefethen KS profile spun up 150 time units; an
// external model's from its handshake).
// A spin-up that diverges (a KS grid too coarse for its step, a huge
// forcing) is an error naming the model's settings, before anything is
// stored.
func (s *Setup) referenceState() ([]float64, error) {
	var x []float64
	switch m := s.Model.(type) {
	case *dynamics.Lorenz63:
		return []float64{1.509, -1.531, 25.46}, nil
	case *dynamics.KS:
		x = m.InitialCondition()
	case *external.Model:
		x = m.Reference()
	default:
		x = make([]float64, s.Model.Dim())
		for i := range x {
			x[i] = s.Config.Model.Forcing
		}
		x[0] += 0.01
		st := s.Model.NewStepper()
		for range int(dynamics.Lorenz96SpinUp / s.Model.Dt()) {
			st.Step(x)
		}
	}
	for j, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			mc := s.Config.Model
			return nil, fmt.Errorf("model: the reference state diverged in its spin-up (variable %d is %v): %s does not integrate stably with nx %d and dt %g", j, v, mc.Name, s.Model.Dim(), s.Model.Dt())
		}
	}
	return x, nil
}

// Initial returns the cycle-0 truth and ensemble: both drawn from
// N(x₀, Init.Variance·I) from the run seed.
func (s *Setup) Initial() (truth []float64, E *mat.Dense, err error) {
	x0, err := s.referenceState()
	if err != nil {
		return nil, nil, err
	}
	n, N := len(x0), s.Config.Filter.Members
	std := math.Sqrt(s.Config.Init.Variance)
	draw := func(dst []float64, index uint64) {
		s.pcg.Seed(StreamSeed(s.Config.Seed, streamInit), index)
		for j := range dst {
			dst[j] = x0[j] + std*s.rng.NormFloat64()
		}
	}
	truth = make([]float64, n)
	draw(truth, 0)
	E = mat.NewDense(N, n, nil)
	for i := 0; i < N; i++ {
		draw(E.RawRowView(i), uint64(1+i))
	}
	return truth, E, nil
}

// AdvanceTruth moves the nature run from cycle k-1 to cycle k
// (StepsBetween model steps), adding a dynamical anomaly's forcing after
// every step. Only an external model can fail.
func (s *Setup) AdvanceTruth(truth []float64, k int) error {
	steps := s.Config.Observations.StepsBetween
	ctx := s.context()
	if st := s.anomaly.NatureStepper(k); st != nil {
		for i := range steps {
			if i%dynamics.CancelCheckWork == 0 && ctx.Err() != nil {
				return fmt.Errorf("experiment: cycle %d: nature run stopped: %w", k, ctx.Err())
			}
			st.Step(truth)
			s.anomaly.Force(truth, k)
		}
		return nil
	}
	x := mat.NewDense(1, len(truth), truth)
	if !s.anomaly.Forces(k) {
		if err := s.truth.ForecastContext(ctx, x, steps, 0); err != nil {
			return fmt.Errorf("experiment: cycle %d: nature run: %w", k, err)
		}
		return nil
	}
	for range steps {
		if err := s.truth.ForecastContext(ctx, x, 1, 0); err != nil {
			return fmt.Errorf("experiment: cycle %d: nature run: %w", k, err)
		}
		s.anomaly.Force(truth, k)
	}
	return nil
}

// Observe writes the synthetic observations of cycle k,
// y = H(truth) + ε with ε ~ N(0, R) from the cycle's own stream (plus the
// configured anomaly, if any).
func (s *Setup) Observe(y, truth []float64, k int) {
	s.Op.Apply(y, s.anomaly.SeenState(truth, k))
	// ε_i = σ_i · NormFloat64 of a PCG seeded (StreamSeed(seed, streamObs), k),
	// re-seeding one generator rather than allocating one per cycle.
	s.pcg.Seed(StreamSeed(s.Config.Seed, streamObs), uint64(k))
	s.R.Sample(s.noise, s.rng)
	sd := s.anomaly.NoiseScale(k)
	for i := range y {
		y[i] += s.noise[i]*sd + s.anomaly.Bias(i, k)
	}
}

// Forecast advances the ensemble from the analysis of cycle k-1 to cycle k.
func (s *Setup) Forecast(E *mat.Dense, k int) error {
	seed := StreamSeed(StreamSeed(s.Config.Seed, streamForecast), uint64(k))
	if err := s.Forecaster.ForecastContext(s.context(), E, s.Config.Observations.StepsBetween, seed); err != nil {
		return fmt.Errorf("experiment: cycle %d: forecast: %w", k, err)
	}
	return nil
}

// ForecastMembers advances members lo..hi−1 of E as Forecast does; the
// rows are bit-identical to Forecast's, so a forecast fanned out over
// several workers equals one run in a single activity.
func (s *Setup) ForecastMembers(E *mat.Dense, lo, hi, k int) error {
	seed := StreamSeed(StreamSeed(s.Config.Seed, streamForecast), uint64(k))
	if err := s.Forecaster.ForecastMembersContext(s.context(), E, lo, hi, s.Config.Observations.StepsBetween, seed); err != nil {
		return fmt.Errorf("experiment: cycle %d: forecast of members %d..%d: %w", k, lo, hi-1, err)
	}
	return nil
}

// Analyze assimilates y into the forecast ensemble E of cycle k and scores
// forecast and analysis against the truth. With quality control the
// observations are tested first and the policy decides which the analysis
// uses (QC reports the decision). On error (bad data, divergence) E is
// unchanged and the error names the cycle.
func (s *Setup) Analyze(E *mat.Dense, y, truth []float64, k int) (CycleStats, error) {
	return s.AnalyzeWith(E, y, s.R.Variances(), truth, k)
}

// AnalyzeWith is Analyze with the observation-error variances (the
// diagonal of R, one per observation) given, as an observation file holds
// them, instead of the config's. With observations.variance_estimate the
// analysis uses them times the current estimate, and updates the estimate.
func (s *Setup) AnalyzeWith(E *mat.Dense, y, variances, truth []float64, k int) (CycleStats, error) {
	st := CycleStats{Cycle: k, Time: s.Config.CycleTime(k), NObs: len(y)}
	nominal := variances
	if s.varEst != nil {
		if s.varEst.rep == nil { // else the latent step scales the representation error
			variances = s.varEst.variances(nominal)
		}
		st.ObsVariance = s.varEst.mean(nominal, variances)
		st.VarianceScale = s.varEst.meanScale()
	}
	st.RMSEf, st.SpreadF = s.scorer.Score(E, truth)
	s.pcg.Seed(StreamSeed(s.Config.Seed, streamAnalysis), uint64(k))
	if s.latent != nil || s.qc != nil { // the filter checks its own input
		if err := enkf.CheckEnsemble(E, "forecast", enkf.DefaultBlowUp); err != nil {
			return st, fmt.Errorf("experiment: cycle %d: %w", k, err)
		}
	}
	// The filter's ensemble: the states, or their codes (s.latent.za).
	if s.latent == nil {
		s.ObserveEnsemble(E)
	} else {
		s.latent.encode(E, s.he, s.Op.Apply)
	}
	rVar := variances
	if s.qc != nil {
		qc, err := s.qc.check(E, s.he, y, rVar, s.qcInflation())
		if err != nil {
			return st, fmt.Errorf("experiment: cycle %d: %w", k, err)
		}
		st.NFlagged, st.BatchFlag = qc.NFlagged(), qc.BatchFlag
		st.Manifold, st.ManifoldThreshold, st.InnovationChart = zeroIfNaN(qc.Manifold), zeroIfNaN(qc.ManifoldThreshold), zeroIfNaN(qc.InnovationChart)
		if qc.Skipped {
			// The whole batch is rejected: the analysis is the forecast.
			st.RMSEa, st.SpreadA = st.RMSEf, st.SpreadF
			return st, nil
		}
		rVar = qc.Variances
	}
	if s.varEst != nil {
		meanH(s.varEst.fm, s.varEst.row, s.he, func(dst, x []float64) { copy(dst, x) })
	}
	var inno enkf.Innovation
	var err error
	if s.latent == nil {
		inno, err = s.Filter.Analyze(E, s.he, y, rVar, s.rng)
	} else if inno, err = s.latent.analyze(s.Filter, E, s.he, y, rVar, s.rng); err == nil {
		err = s.latent.decode(E)
	}
	if err != nil {
		return st, fmt.Errorf("experiment: cycle %d: %w", k, err)
	}
	st.NIS, st.NISExpected = inno.NIS, inno.Expected
	st.Inflation = float64(s.Config.Filter.Inflation)
	if s.Config.Filter.Inflation.Adaptive() {
		st.Inflation = inno.Inflation
	}
	if s.latent != nil {
		st.HybridWeight = s.latent.hybridWeight(s.Filter)
	}
	if s.varEst != nil {
		meanH(s.varEst.am, s.varEst.row, E, s.Op.Apply)
		s.varEst.update(k, y, nominal, rVar)
		st.ObsVariance = s.varEst.mean(nominal, rVar)
		st.VarianceScale = s.varEst.meanScale()
	}
	st.RMSEa, st.SpreadA = s.scorer.Score(E, truth)
	return st, nil
}

// ObserveEnsemble applies H to every member of E and returns the N×p
// result, the Setup's work space (owned by s, overwritten by the next call
// or analysis).
func (s *Setup) ObserveEnsemble(E *mat.Dense) *mat.Dense {
	for i := range s.Config.Filter.Members {
		s.Op.Apply(s.he.RawRowView(i), E.RawRowView(i))
	}
	return s.he
}

// qcInflation is the factor on the forecast covariance that quality
// control tests the observations against: 1, or, when the filter carries
// an innovation inflation Λ (filter.adaptive.scheme innovation or
// local-innovation, which inflates the forecast inside the analysis), Λ̄,
// the mean of the local estimates. That is the spread the analysis will
// use (exactly, for one global Λ), so the NIS and the per-observation
// scores are not too large by Λ. The EnKF-N's λ on top comes from the
// same observations inside the analysis, so the tests cannot use it.
func (s *Setup) qcInflation() float64 {
	lam := s.InflationEstimate()
	if lam == nil {
		return 1
	}
	return floats.Sum(lam) / float64(len(lam))
}

// ManifoldDegreesOfFreedom returns the calibrated χ² degrees of freedom of
// the manifold test's residual and code-distance parts
// (latent.TwoSided.DegreesOfFreedom), NaN without the test.
func (s *Setup) ManifoldDegreesOfFreedom() (res, code float64) {
	if s.qc == nil || s.qc.twoSided == nil {
		return math.NaN(), math.NaN()
	}
	return s.qc.twoSided.DegreesOfFreedom()
}

// QC returns the quality control of the last analysis, or nil without
// quality control. It is owned by s.
func (s *Setup) QC() *QCResult {
	if s.qc == nil {
		return nil
	}
	return &s.qc.res
}

// LatentCodes returns the forecast and analysis codes of the last analysis
// (nil, nil for a filter on the states). They are owned by s.
func (s *Setup) LatentCodes() (forecast, analysis *mat.Dense) {
	if s.latent == nil {
		return nil, nil
	}
	return s.latent.zf, s.latent.za
}

// loadGenerator returns the generator that config key names (file name),
// with the statistics its file stores and the SHA-256 of the bytes parsed,
// in hex (none and "" for identity). A digest other than pinned[key] is a
// *GeneratorChangedError.
func loadGenerator(key, name string, m config.ModelConfig, pinned map[string]string) (latent.Generator, latent.Stats, string, error) {
	if name == "identity" {
		return latent.NewIdentity(m.Nx), latent.Stats{}, "", nil
	}
	g, info, err := genfile.Load(name)
	if err != nil {
		return nil, latent.Stats{}, "", fmt.Errorf("experiment: %s: %w", key, err)
	}
	if want, ok := pinned[key]; ok && info.Digest != want {
		return nil, latent.Stats{}, "", &GeneratorChangedError{Key: key, File: name, Pinned: want, Now: info.Digest}
	}
	if info.Model != "" && info.Model != m.Name {
		return nil, latent.Stats{}, "", fmt.Errorf("experiment: %s: %s: the generator was trained on model %s, this run's model is %s", key, name, info.Model, m.Name)
	}
	return g, info.Stats, info.Digest, nil
}
