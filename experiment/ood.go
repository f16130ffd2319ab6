package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/observations"
	"github.com/latentda/latentda/store"
)

// streamCalibration seeds the calibration archive and its observation
// noise, streamChart the manifold chart's calibration sequence.
const (
	streamCalibration = 6
	streamChart       = 7
)

// QCResult is the quality control of one cycle. Statistics that were not
// computed are NaN; the slices have one entry per observation and are owned
// by the Setup (overwritten by the next cycle).
type QCResult struct {
	// NIS and its χ² threshold, over the observations the analysis would
	// use after the per-observation decisions (all of them under warn).
	NIS, NISThreshold               float64
	Projection, ProjectionThreshold float64 // projection test (J*)
	// Manifold is the manifold test's statistic and threshold: the
	// two-sided score T of this batch, or with ood.manifold_memory the
	// chart statistic over cycles (threshold 1). ManifoldCycle is T and
	// its threshold, with the two-sided p-values of its residual and
	// code-distance parts.
	Manifold, ManifoldThreshold           float64
	ManifoldCycle, ManifoldCycleThreshold float64
	ManifoldResidualP, ManifoldCodeP      float64
	// InnovationChart is the innovation chart's statistic (flagged above
	// 1), NaN without ood.innovation_memory.
	InnovationChart float64
	// BatchFlag names the batch tests that failed, and
	// config.FlagInnovationChart for the innovation chart's alarm,
	// "+"-separated, or "".
	BatchFlag string
	// Skipped says that the policy rejected the whole batch: the analysis
	// is the forecast.
	Skipped     bool
	Flagged     []bool
	Reasons     []string
	InnovationZ []float64 // dᵢ/√(σᵢ² + vᵢ)
	ProjectionZ []float64 // (yᵢ − H(G(z*))ᵢ)/σᵢ
	Variances   []float64 // the error variances the analysis used (+Inf: rejected)
}

// NFlagged counts the flagged observations.
func (r *QCResult) NFlagged() int {
	n := 0
	for _, f := range r.Flagged {
		if f {
			n++
		}
	}
	return n
}

// qualityControl runs the tests of a [config.OODConfig].
type qualityControl struct {
	cfg             config.OODConfig
	inno            *observations.InnovationQC
	manifold        *latent.ManifoldTest          // nil without the projection and manifold tests
	twoSided        *latent.TwoSided              // nil without the manifold test
	chart           *latent.ManifoldChart         // nil without ood.manifold_memory
	inChart         *observations.InnovationChart // nil without ood.innovation_memory
	gen             latent.Generator              // the projection and manifold tests' generator
	z, zmean, shift []float64
	// zGiven are the scores of the observations given (NaN for those
	// given with infinite variance), outFlags the flags of the family-wise
	// per-observation test.
	zGiven   []float64
	outFlags []bool
	// nisThr is the innovation test's threshold for all p observations,
	// nisAlpha its χ² level (alpha, or the empirical calibration's).
	nisThr, nisAlpha float64
	projThr          float64
	res              QCResult
}

// newQualityControl builds the tests and calibrates their thresholds:
// the projection test's on observations of the model's own climatology,
// the in-distribution data by construction; the manifold test's and, with
// ood.innovation_calibration empirical, the innovation test's on an
// in-distribution twin of the config too. gen is the projection and
// manifold tests' generator, genDigest the SHA-256 of its file,
// latentDigest that of the latent filter's generator file ("" for one
// handed over in memory).
func newQualityControl(s *Setup, gen latent.Generator, genDigest, latentDigest string) (*qualityControl, error) {
	cfg := *s.Config.OOD
	p := s.Op.OutDim()
	inno, err := observations.NewInnovationQC(s.Config.Filter.Members, p)
	if err != nil {
		return nil, err
	}
	q := &qualityControl{cfg: cfg, inno: inno, nisThr: math.NaN(), projThr: math.NaN(),
		zGiven: make([]float64, p), outFlags: make([]bool, p),
		res: QCResult{Flagged: make([]bool, p), Reasons: make([]string, p), InnovationZ: make([]float64, p),
			ProjectionZ: make([]float64, p), Variances: make([]float64, p)}}
	digests := []string{}
	if cfg.Has(config.TestProjection) || cfg.Has(config.TestManifold) {
		digests = append(digests, genDigest)
	}
	if s.Config.Latent != nil {
		digests = append(digests, latentDigest)
	}
	key, cacheable := calibrationKey(s.Config, digests...)
	var tw *twinRun // the in-distribution twin, run once for all the tests
	twin := func() (*twinRun, error) {
		var err error
		if tw == nil {
			tw, err = runTwin(s.Config)
		}
		return tw, err
	}
	if cfg.Has(config.TestInnovation) {
		q.nisAlpha = cfg.Alpha
		if cfg.InnovationCalibration == config.CalibrationEmpirical {
			if q.nisAlpha, err = calibrated(key+"/innovation", cacheable, func() (float64, error) {
				return calibrateInnovation(twin, p, cfg.Alpha)
			}); err != nil {
				return nil, err
			}
		}
		q.nisThr = observations.ChiSquareThreshold(p, q.nisAlpha)
	}
	if m := cfg.InnovationMemory; m > 0 {
		c, err := calibrated(key+"/innovation-chart", cacheable, func() (*observations.InnovationChart, error) {
			tw, err := twin()
			if err != nil {
				return nil, err
			}
			c, err := observations.CalibrateInnovationChart(m, cfg.Alpha, tw.scores)
			if err != nil {
				return nil, fmt.Errorf("ood: calibration: %w", err)
			}
			return c, nil
		})
		if err != nil {
			return nil, err
		}
		q.inChart = c.Fresh()
	}
	if !cfg.Has(config.TestProjection) && !cfg.Has(config.TestManifold) {
		return q, nil
	}
	if gen.StateDim() != s.Model.Dim() {
		return nil, fmt.Errorf("ood.generator: generator maps to %d variables, the model has %d", gen.StateDim(), s.Model.Dim())
	}
	q.gen = gen
	q.z, q.zmean, q.shift = make([]float64, gen.LatentDim()), make([]float64, gen.LatentDim()), make([]float64, gen.LatentDim())
	if q.manifold, err = latent.NewManifoldTest(gen, s.Op, s.R.Variances(), cfg.Lambda, cfg.MaxIter); err != nil {
		return nil, fmt.Errorf("ood: %w", err)
	}
	var X *mat.Dense // the calibration archive, built once for both tests
	archive := func() (*mat.Dense, error) {
		if X != nil {
			return X, nil
		}
		var err error
		X, _, err = BuildArchive(context.Background(), s.Config, ArchiveOptions{Samples: cfg.CalibrationSamples, Seed: StreamSeed(s.Config.Seed, streamCalibration)}, nil)
		if err != nil {
			return nil, fmt.Errorf("ood: calibration: %w", err)
		}
		return X, nil
	}
	if cfg.Has(config.TestManifold) {
		mc, err := calibrated(key+"/manifold", cacheable, func() (*manifoldCalibration, error) {
			return q.calibrateManifold(s, archive, twin)
		})
		if err != nil {
			return nil, err
		}
		q.twoSided = mc.test
		if mc.chart != nil {
			q.chart = mc.chart.Fresh()
		}
		if err := q.manifold.SetCodeClimatology(mc.codeMean, mc.codeCov); err != nil {
			return nil, fmt.Errorf("ood: %w", err)
		}
	}
	switch {
	case !cfg.Has(config.TestProjection):
	case cfg.Calibration == config.CalibrationChi2:
		q.projThr = observations.ChiSquareThreshold(p, cfg.Alpha)
	default:
		if q.projThr, err = calibrated(key, cacheable, func() (float64, error) {
			X, err := archive()
			if err != nil {
				return 0, err
			}
			thr, err := observations.EmpiricalThreshold(q.calibrationStats(s, X), cfg.Alpha)
			if err != nil {
				return 0, fmt.Errorf("ood: calibration: %w", err)
			}
			return thr, nil
		}); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// calibrated returns the calibration calibrations holds under key, or
// computes it and, if cacheable, keeps it there.
func calibrated[T any](key string, cacheable bool, compute func() (T, error)) (T, error) {
	if c, ok := calibrations.Load(key); cacheable && ok {
		return c.(T), nil
	}
	v, err := compute()
	if err == nil && cacheable {
		calibrations.Store(key, v)
	}
	return v, err
}

// calibrateInnovation returns the χ² level of the innovation test's
// empirical threshold: the NIS's (1 − alpha) quantile over the
// in-distribution twin's cycles is the χ²(p) quantile of level
// 1 − F_χ²(p)(quantile), at which a cycle that leaves observations out is
// tested on those it keeps.
func calibrateInnovation(twin func() (*twinRun, error), p int, alpha float64) (float64, error) {
	tw, err := twin()
	if err != nil {
		return 0, err
	}
	thr, err := observations.EmpiricalThreshold(slices.Clone(tw.nis), alpha)
	if err != nil {
		return 0, fmt.Errorf("ood: calibration: innovation: %w", err)
	}
	level := 1 - distuv.ChiSquared{K: float64(p)}.CDF(thr)
	if !(level > 0 && level < 1) {
		return 0, fmt.Errorf("ood: calibration: innovation: the twin run's NIS quantile %.4g is at χ²(%d) level %v, outside (0, 1): its NIS on in-distribution data is %.3g times the %d observations at that quantile, so the filter is far from consistent and no threshold can be set from it; tune the filter (filter.inflation) first, or use ood.innovation_calibration chi2", thr, p, level, thr/float64(p), p)
	}
	return level, nil
}

// calibrations holds this process's empirical projection thresholds by
// calibrationKey, and its manifold calibrations, innovation test levels
// and innovation charts by the key + "/manifold", "/innovation" and
// "/innovation-chart".
// Every batch of cycles builds its Setup again, and the calibration
// (simulating CalibrationSamples states and projecting each) would
// otherwise be repeated for each; a worker keeps one calibration per
// config it has served.
var calibrations sync.Map

// calibrationKey identifies an empirical calibration: the config (which
// fixes the model, the observations, R, the seed and the test) and the
// SHA-256 digests of the generator files the calibration depends on (a
// retrained generator may keep the name, the size and, to the file
// system's resolution, the time). A generator handed over in memory (a
// digest "", from BuildWithGenerator) has no such identity, so its
// calibrations are not cached.
//
// The parts of the config that the calibrations do not read are left out
// of the key (the name, the cycles, the anomaly, the policy and pausing),
// so that the twins of a benchmark share them.
func calibrationKey(cfg config.Config, digests ...string) (string, bool) {
	if slices.Contains(digests, "") {
		return "", false
	}
	cfg.Name, cfg.Cycles, cfg.BurnIn, cfg.Anomaly = "", 0, 0, nil
	if cfg.OOD != nil {
		o := *cfg.OOD
		o.Policy, o.PauseOnBatch = "", false
		cfg.OOD = &o
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return "", false
	}
	h := sha256.New()
	h.Write(js)
	for _, d := range digests {
		h.Write([]byte{0})
		h.Write([]byte(d))
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// calibrationStats returns J* for observations y = H(x) + ε of the states
// x of the calibration archive X (a run of the configured model from a
// perturbed reference state, independent of the twin's truth), projected
// from E(x).
func (q *qualityControl) calibrationStats(s *Setup, X *mat.Dense) []float64 {
	n := q.cfg.CalibrationSamples
	rng := rand.New(rand.NewPCG(StreamSeed(s.Config.Seed, streamCalibration), 1))
	y := make([]float64, s.Op.OutDim())
	noise := make([]float64, len(y))
	stats := make([]float64, n)
	for i := 0; i < n; i++ {
		x := X.RawRowView(i)
		s.observeWithNoise(y, noise, x, rng)
		q.gen.Encode(q.z, x)
		stats[i] = q.manifold.Test(y, q.z).Statistic
	}
	return stats
}

// manifoldCalibration is what the manifold test learns before the run: the
// code climatology and the calibrated two-sided test.
type manifoldCalibration struct {
	codeMean, codeCov []float64
	test              *latent.TwoSided
	chart             *latent.ManifoldChart // at its start; nil without ood.manifold_memory
}

// The cycles of the in-distribution twin, and how many of them are left
// out as the ensemble settles (twinBurn). Its innovations calibrate the
// innovation chart and the empirical NIS threshold, whose 1% tails need
// twinCycles: the chart's cycles are correlated over a few memories.
// Without them it runs manifoldTwinCycles, for the forecast errors the
// manifold calibration draws from.
const (
	twinCycles         = 10100
	manifoldTwinCycles = 2100
	twinBurn           = 100
)

// twinLength returns the cycles of the in-distribution twin of an ood
// config.
func twinLength(cfg *config.OODConfig) int {
	if cfg.InnovationMemory > 0 || cfg.InnovationCalibration == config.CalibrationEmpirical {
		return twinCycles
	}
	return manifoldTwinCycles
}

// calibrateManifold calibrates the manifold test on what it sees in
// cycling. The code climatology (mean μ and Σ_clim) is that of the codes
// E(x) of the calibration archive's states x. Each calibration batch is
// y = H(x) + ε projected, as check does, from the code of a forecast:
// E(x + e), e one of the forecast ensemble mean's errors, drawn at random,
// on a twin of the same config without the anomaly (runTwin). It sets the
// test's code climatology and q.twoSided as it goes, for its own probes;
// the caller applies the returned calibration, computed or cached.
func (q *qualityControl) calibrateManifold(s *Setup, archive func() (*mat.Dense, error), twin func() (*twinRun, error)) (*manifoldCalibration, error) {
	X, err := archive()
	if err != nil {
		return nil, err
	}
	n, _ := X.Dims()
	d := q.gen.LatentDim()
	Z := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		q.gen.Encode(Z.RawRowView(i), X.RawRowView(i))
	}
	mc := &manifoldCalibration{codeMean: make([]float64, d), codeCov: make([]float64, d*d)}
	for k := range mc.codeMean {
		mc.codeMean[k] = stat.Mean(mat.Col(nil, k, Z), nil)
	}
	var cov mat.SymDense
	stat.CovarianceMatrix(&cov, Z, nil)
	for a := 0; a < d; a++ {
		for b := 0; b < d; b++ {
			mc.codeCov[a*d+b] = cov.At(a, b)
		}
	}
	if err := q.manifold.SetCodeClimatology(mc.codeMean, mc.codeCov); err != nil {
		return nil, fmt.Errorf("ood: calibration: %w", err)
	}
	tw, err := twin()
	if err != nil {
		return nil, err
	}
	probe := q.calibrationProbe(s, tw.errs, rand.New(rand.NewPCG(StreamSeed(s.Config.Seed, streamCalibration), 2)))
	res, code := make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		m := probe(X.RawRowView(i))
		res[i], code[i] = m.Residual, m.CodeDistance
	}
	if mc.test, err = latent.CalibrateTwoSided(res, code, q.cfg.Alpha); err != nil {
		return nil, fmt.Errorf("ood: calibration: %w", err)
	}
	q.twoSided = mc.test
	if q.cfg.ManifoldMemory == 0 {
		return mc, nil
	}
	if mc.chart, err = q.calibrateChart(s, tw.errs, mc.codeMean); err != nil {
		return nil, fmt.Errorf("ood: calibration: %w", err)
	}
	return mc, nil
}

// calibrationProbe returns a function that projects a synthetic batch
// y = H(x) + ε of a state x from the code of a forecast-like state
// E(x + e), e one of the forecast errors errs drawn at random, as check
// projects from the forecast's mean code; noise and draws from rng. Its
// result is valid until the next call; q.z holds the forecast-like code.
func (q *qualityControl) calibrationProbe(s *Setup, errs [][]float64, rng *rand.Rand) func(x []float64) latent.ManifoldResult {
	y, noise, xf := make([]float64, s.Op.OutDim()), make([]float64, s.Op.OutDim()), make([]float64, len(errs[0]))
	return func(x []float64) latent.ManifoldResult {
		s.observeWithNoise(y, noise, x, rng)
		floats.AddTo(xf, x, errs[rng.IntN(len(errs))])
		q.gen.Encode(q.z, xf)
		return q.manifold.Test(y, q.z)
	}
}

// calibrateChart calibrates the manifold chart on a sequence of batches
// one cycle apart: a run of the model (steps_between steps per batch, from
// a seed of the calibration stream), each state observed and projected as
// calibrationProbe does, its code shift from the forecast's that of the
// projection from the forecast-like code. A forecast error drawn at random
// each batch makes the shifts white from cycle to cycle, as a well-tuned
// filter's innovations are. Its location patterns are the projection's
// response to localised bumps at the climatological mean code codeMean.
func (q *qualityControl) calibrateChart(s *Setup, errs [][]float64, codeMean []float64) (*latent.ManifoldChart, error) {
	patterns, err := q.manifold.LocalisedPatterns(codeMean)
	if err != nil {
		return nil, err
	}
	n := q.cfg.ChartCalibrationLength()
	probe := q.calibrationProbe(s, errs, rand.New(rand.NewPCG(StreamSeed(s.Config.Seed, streamChart), 1)))
	p, d := s.Op.OutDim(), q.gen.LatentDim()
	scores, residuals, codes, shifts := make([]float64, n), make([][]float64, n), make([][]float64, n), make([][]float64, n)
	buf, codeBuf, shiftBuf := make([]float64, n*p), make([]float64, n*d), make([]float64, n*d)
	// The run's states are projected as they come, not kept.
	err = WalkArchive(context.Background(), s.Config, ArchiveOptions{Samples: n, Every: max(1, s.Config.Observations.StepsBetween),
		Seed: StreamSeed(s.Config.Seed, streamChart)}, func(k int, _ float64, x []float64) error {
		m := probe(x)
		scores[k], _, _ = q.twoSided.Score(m.Residual, m.CodeDistance)
		residuals[k], codes[k] = buf[k*p:(k+1)*p:(k+1)*p], codeBuf[k*d:(k+1)*d:(k+1)*d]
		copy(residuals[k], m.Scores)
		copy(codes[k], m.Code)
		shifts[k] = shiftBuf[k*d : (k+1)*d : (k+1)*d]
		floats.SubTo(shifts[k], m.Code, q.z)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return latent.CalibrateManifoldChart(q.cfg.ManifoldMemory, q.cfg.Alpha, scores, residuals, codes, shifts, patterns)
}

// twinRun is what an in-distribution twin of a config tells the
// calibrations: over its cycles after twinBurn (twinLength), the forecast
// ensemble mean's errors x̄_f − x about their mean (that of an unbiased
// filter, 0, but for the sampling error of a few hundred independent
// errors, which the location chart's matched filters would add up as a
// bias), and the NIS and innovation scores of each cycle's observations.
type twinRun struct {
	errs   [][]float64
	nis    []float64
	scores [][]float64
}

// runTwin runs the in-distribution twin of cfg: no anomaly, a seed of the
// calibration stream, and the innovation test alone under the warn policy,
// which leaves the analyses as they are without quality control.
func runTwin(cfg config.Config) (*twinRun, error) {
	alpha, cycles := cfg.OOD.Alpha, twinLength(cfg.OOD)
	cfg.Name, cfg.Cycles, cfg.Anomaly = cfg.Name+"-twin", cycles, nil
	cfg.OOD = &config.OODConfig{Tests: []string{config.TestInnovation}, Alpha: alpha, Policy: config.PolicyWarn}
	cfg.Seed = StreamSeed(cfg.Seed, streamCalibration)
	s, err := Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("ood: calibration: twin: %w", err)
	}
	truth, E, err := s.Initial()
	if err != nil {
		return nil, fmt.Errorf("ood: calibration: twin: %w", err)
	}
	y := make([]float64, s.Op.OutDim())
	n := cycles - twinBurn
	tw := &twinRun{errs: make([][]float64, 0, n), nis: make([]float64, 0, n), scores: make([][]float64, 0, n)}
	for k := 1; k <= cycles; k++ {
		s.AdvanceTruth(truth, k)
		s.Observe(y, truth, k)
		if err := s.Forecast(E, k); err != nil {
			return nil, fmt.Errorf("ood: calibration: twin: %w", err)
		}
		if k > twinBurn {
			e := store.EnsembleMean(E)
			floats.Sub(e, truth)
			tw.errs = append(tw.errs, e)
		}
		if _, err := s.Analyze(E, y, truth, k); err != nil {
			return nil, fmt.Errorf("ood: calibration: twin: %w", err)
		}
		if k > twinBurn {
			qc := s.QC()
			tw.nis, tw.scores = append(tw.nis, qc.NIS), append(tw.scores, slices.Clone(qc.InnovationZ))
		}
	}
	mean := make([]float64, len(truth))
	for _, e := range tw.errs {
		floats.AddScaled(mean, 1/float64(len(tw.errs)), e)
	}
	for _, e := range tw.errs {
		floats.Sub(e, mean)
	}
	return tw, nil
}

// check tests y against the forecast (E its states, HE the observed
// ensemble the filter will use) and applies the policy to a copy of rVar.
func (q *qualityControl) check(E, HE *mat.Dense, y, rVar []float64, inflation float64) (*QCResult, error) {
	r := &q.res
	r.NIS, r.NISThreshold, r.Projection, r.ProjectionThreshold = math.NaN(), math.NaN(), math.NaN(), q.projThr
	r.Manifold, r.ManifoldThreshold, r.ManifoldResidualP, r.ManifoldCodeP = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	r.ManifoldCycle, r.ManifoldCycleThreshold, r.InnovationChart = math.NaN(), math.NaN(), math.NaN()
	if q.twoSided != nil {
		r.ManifoldThreshold, r.ManifoldCycleThreshold = q.twoSided.Threshold(), q.twoSided.Threshold()
	}
	if q.chart != nil {
		r.Manifold, r.ManifoldThreshold = q.chart.Statistic(), 1
	}
	r.BatchFlag, r.Skipped = "", false
	copy(r.Variances, rVar)
	for i := range r.Flagged {
		r.Flagged[i], r.Reasons[i], r.ProjectionZ[i] = false, "", math.NaN()
	}
	rep, err := q.inno.Test(HE, y, rVar, inflation)
	if err != nil {
		return nil, fmt.Errorf("ood: %w", err)
	}
	copy(r.InnovationZ, rep.Scores)
	// The scores of the observations given: those given with infinite
	// variance are not tested, and leave their part of the innovation
	// chart as it was.
	for i, v := range rVar {
		q.zGiven[i] = r.InnovationZ[i]
		if math.IsInf(v, 1) {
			q.zGiven[i] = math.NaN()
		}
	}
	if q.inChart != nil {
		r.InnovationChart = q.inChart.Update(q.zGiven)
	}

	// Per observation first, as operational background checks do.
	k := q.cfg.OutlierK
	if q.cfg.Has(config.TestOutlier) && q.cfg.Familywise() {
		if _, k, err = observations.FamilywiseOutliers(q.outFlags, q.zGiven, q.cfg.Alpha, q.cfg.OutlierControl); err != nil {
			return nil, fmt.Errorf("ood: %w", err)
		}
	}
	changed := false
	for i := range y {
		if !q.cfg.Has(config.TestOutlier) || !q.outlier(i, k) {
			continue
		}
		r.Flagged[i], r.Reasons[i] = true, fmt.Sprintf("outlier: |z| = %.3g > %g", math.Abs(r.InnovationZ[i]), k)
		if q.cfg.Familywise() {
			r.Reasons[i] = fmt.Sprintf("outlier: |z| = %.3g >= %.3g (%s at %g)", math.Abs(r.InnovationZ[i]), k, q.cfg.OutlierControl, q.cfg.Alpha)
		}
		switch q.cfg.Policy {
		case config.PolicyReject:
			r.Variances[i], changed = math.Inf(1), true
		case config.PolicyInflate:
			// Raise σᵢ² so that the observation sits on the threshold:
			// dᵢ²/(σᵢ'² + vᵢ) = k².
			v := rep.EnsVar[i]
			d2 := r.InnovationZ[i] * r.InnovationZ[i] * (rVar[i] + v)
			r.Variances[i], changed = max(rVar[i], d2/(k*k)-v), true
		}
	}

	// Then the batch, as the analysis would use it. The policy acts on
	// the tests of this batch; a chart's alarm (config.OODConfig.IsChart)
	// judges the cycles of about a memory before it, not this batch, and is
	// only recorded:
	// rejecting batches while it stays up would let the filter lose the
	// truth and the chart see its own drift.
	var batch []string
	factor := 1.0 // variance inflation of a flagged batch, by the tests that act
	if q.cfg.Has(config.TestInnovation) {
		if changed {
			if rep, err = q.inno.Test(HE, y, r.Variances, inflation); err != nil {
				return nil, fmt.Errorf("ood: %w", err)
			}
		}
		used := countUsed(r.Variances)
		r.NIS = rep.NIS
		if used > 0 {
			r.NISThreshold = q.nisThr
			if used != len(y) {
				r.NISThreshold = observations.ChiSquareThreshold(used, q.nisAlpha)
			}
			if r.NIS > r.NISThreshold {
				batch = append(batch, config.TestInnovation)
				factor = max(factor, r.NIS/r.NISThreshold)
			}
		}
	}
	// The manifold test asks whether the generator explains the
	// observations as they came, so it weighs them by the cycle's own
	// variances (an observation file may give them) before the
	// per-observation policy: an outlier the policy rejected still counts
	// against the batch. Only observations given with infinite variance
	// drop out.
	given := countUsed(rVar)
	if q.manifold != nil && given > 0 {
		if err := q.manifold.SetVariances(rVar); err != nil {
			return nil, fmt.Errorf("ood: %w", err)
		}
		if q.cfg.Calibration == config.CalibrationChi2 && given != len(y) {
			r.ProjectionThreshold = observations.ChiSquareThreshold(given, q.cfg.Alpha)
		}
		// Start from the ensemble mean code.
		for k := range q.zmean {
			q.zmean[k] = 0
		}
		N, _ := E.Dims()
		for i := 0; i < N; i++ {
			q.gen.Encode(q.z, E.RawRowView(i))
			for k, v := range q.z {
				q.zmean[k] += v / float64(N)
			}
		}
		m := q.manifold.Test(y, q.zmean)
		copy(r.ProjectionZ, m.Scores)
		if q.cfg.Has(config.TestProjection) {
			r.Projection = m.Statistic
			if m.Statistic > r.ProjectionThreshold {
				batch = append(batch, config.TestProjection)
				factor = max(factor, m.Statistic/r.ProjectionThreshold)
			}
		}
		// The manifold test's calibration holds for all p observations
		// with the config's R: a cycle that leaves some out is not tested
		// (its residual would look too small), and leaves the chart as
		// it is.
		if q.twoSided != nil && given == len(y) {
			r.ManifoldCycle, r.ManifoldResidualP, r.ManifoldCodeP = q.twoSided.Score(m.Residual, m.CodeDistance)
			r.Manifold = r.ManifoldCycle
			if q.chart != nil {
				floats.SubTo(q.shift, m.Code, q.zmean)
				r.Manifold = q.chart.Update(r.ManifoldCycle, m.Scores, m.Code, q.shift)
			}
			if r.Manifold > r.ManifoldThreshold {
				batch = append(batch, config.TestManifold)
				if !q.cfg.IsChart(config.TestManifold) {
					factor = max(factor, r.Manifold/r.ManifoldThreshold)
				}
			}
		}
	}
	if r.InnovationChart > 1 {
		batch = append(batch, config.FlagInnovationChart)
	}
	if len(batch) > 0 {
		r.BatchFlag = strings.Join(batch, "+")
		why := "batch: " + q.batchReason(batch)
		for i := range r.Flagged {
			if r.Flagged[i] {
				r.Reasons[i] += "; " + why
			} else {
				r.Flagged[i], r.Reasons[i] = true, why
			}
		}
		switch {
		case !slices.ContainsFunc(batch, func(f string) bool { return !q.cfg.IsChart(f) }):
		case q.cfg.Policy == config.PolicyReject:
			r.Skipped = true
		case q.cfg.Policy == config.PolicyInflate:
			for i := range r.Variances {
				if !math.IsInf(r.Variances[i], 1) {
					r.Variances[i] = max(r.Variances[i], rVar[i]*factor)
				}
			}
		}
	}
	if countUsed(r.Variances) == 0 {
		r.Skipped = true // nothing left to assimilate
	}
	return r, nil
}

// outlier says whether observation i fails the per-observation test, whose
// threshold on |z| is k.
func (q *qualityControl) outlier(i int, k float64) bool {
	if q.cfg.Familywise() {
		return q.outFlags[i]
	}
	return math.Abs(q.res.InnovationZ[i]) > k
}

// countUsed counts the observations whose error variance is finite: those
// an analysis uses (+Inf leaves one out).
func countUsed(rVar []float64) int {
	n := 0
	for _, v := range rVar {
		if !math.IsInf(v, 1) {
			n++
		}
	}
	return n
}

func (q *qualityControl) batchReason(batch []string) string {
	var parts []string
	for _, b := range batch {
		switch b {
		case config.TestInnovation:
			parts = append(parts, fmt.Sprintf("NIS %.4g > %.4g", q.res.NIS, q.res.NISThreshold))
		case config.TestProjection:
			parts = append(parts, fmt.Sprintf("manifold residual %.4g > %.4g", q.res.Projection, q.res.ProjectionThreshold))
		case config.FlagInnovationChart:
			i, e := q.inChart.Largest()
			parts = append(parts, fmt.Sprintf("innovation chart %.4g > 1 over about %d cycles (the largest mean score: observation %d's, %.3g)", q.res.InnovationChart, q.cfg.InnovationMemory, i, e))
		case config.TestManifold:
			if q.chart != nil {
				c := q.chart.Parts()
				parts = append(parts, fmt.Sprintf("manifold chart %.4g > 1 over about %d cycles (the score's chart %.3g, observation %d's residual chart %.3g, the code spectrum's chart %.3g, the location chart %.3g; this batch: two-sided score %.4g, residual p %.2g, code p %.2g)",
					q.res.Manifold, q.cfg.ManifoldMemory, c.Score, c.Observation, c.Residual, c.Spectrum, c.Location, q.res.ManifoldCycle, q.res.ManifoldResidualP, q.res.ManifoldCodeP))
				break
			}
			parts = append(parts, fmt.Sprintf("two-sided manifold score %.4g > %.4g (residual p %.2g, code p %.2g)", q.res.Manifold, q.res.ManifoldThreshold, q.res.ManifoldResidualP, q.res.ManifoldCodeP))
		}
	}
	return strings.Join(parts, ", ")
}

// observeWithNoise writes y = H(x) + ε, ε ~ N(0, R) drawn from rng into
// noise: a synthetic observation of a climatological state for the
// calibrations.
func (s *Setup) observeWithNoise(y, noise, x []float64, rng *rand.Rand) {
	s.Op.Apply(y, x)
	s.R.Sample(noise, rng)
	for j := range y {
		y[j] += noise[j]
	}
}
