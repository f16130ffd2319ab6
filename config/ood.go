package config

import (
	"fmt"
	"math"
	"slices"

	"github.com/latentda/latentda/observations"
)

// Quality-control tests and policies (OODConfig).
const (
	TestOutlier    = "outlier"    // per observation: |dᵢ| > k·√(σᵢ² + vᵢ), or by p-value under OutlierControl
	TestInnovation = "innovation" // per batch: NIS > χ²(p) quantile
	TestProjection = "projection" // per batch: generator-manifold residual J* > threshold
	TestManifold   = "manifold"   // per batch: two-sided residual-plus-code score T > threshold

	// FlagInnovationChart names the innovation chart's alarm
	// (InnovationMemory) in a cycle's batch flag, beside the tests'.
	FlagInnovationChart = "innovation_chart"

	PolicyWarn    = "warn"    // record the flags, assimilate everything
	PolicyReject  = "reject"  // ignore flagged observations; a flagged batch skips the analysis
	PolicyInflate = "inflate" // raise the error variance of flagged observations

	CalibrationChi2      = "chi2"      // χ²(p) quantile: exact for a linear generator with N(0, I/λ) codes
	CalibrationEmpirical = "empirical" // quantile of J* on simulated in-distribution observations
)

// OODConfig tests each cycle's observations before the analysis and says
// what to do with those that fail (see docs/results-ood.md).
type OODConfig struct {
	// Tests to run: outlier, innovation, projection, manifold (default
	// outlier and innovation, plus projection when Generator is set).
	// projection is one-sided on J*; manifold is the two-sided score of
	// latent.TwoSided on the same projection: the off-manifold residual
	// and the code's Mahalanobis distance under the code climatology, each
	// flagged when too small as well as too large, calibrated empirically
	// (always) on projections started from forecast-like codes.
	Tests []string `yaml:"tests" json:"tests"`
	// Alpha is the false-alarm rate of each batch test (innovation,
	// projection, manifold) and of the outlier test under a family-wise
	// OutlierControl (default 0.01); only with one of them.
	Alpha float64 `yaml:"alpha" json:"alpha"`
	// OutlierK is k of the per-observation test |zᵢ| > k (default 3, when
	// OutlierControl is none); only with the outlier test. Each
	// observation is tested on its own, so an in-distribution batch of p
	// has some flag far more often than alpha (10% for k = 3, p = 40).
	OutlierK float64 `yaml:"outlier_k" json:"outlier_k"`
	// OutlierControl gives the per-observation test family-wise control
	// at level Alpha: none (default: |zᵢ| > OutlierK), bonferroni (flag
	// pᵢ ≤ α/m, pᵢ = 2Φ(−|zᵢ|) over the m observations given) or bh
	// (Benjamini–Hochberg at α). Under either, an in-distribution batch has
	// some flag with probability ≤ α; see observations.FamilywiseOutliers.
	// With a control, Alpha sets the threshold and outlier_k must be unset.
	// Only with the outlier test.
	OutlierControl string `yaml:"outlier_control,omitempty" json:"outlier_control,omitempty"`
	// Generator for the projection and manifold tests: "latent" (the latent filter's) or
	// the path of a generator file written by `latentda train`, relative
	// to the state directory as latent.generator is (generators/NAME.arrow).
	Generator string `yaml:"generator" json:"generator"`
	// Lambda weighs the code prior λ‖z‖² of the projection (default 1, the
	// N(0, I) prior of whitened codes); only with the projection or
	// manifold test.
	Lambda float64 `yaml:"lambda" json:"lambda"`
	// MaxIter bounds the Levenberg–Marquardt iterations (default 20); only
	// with the projection or manifold test.
	MaxIter int `yaml:"max_iter" json:"max_iter"`
	// Calibration of the projection threshold: empirical (default) or chi2;
	// only with the projection test (the manifold test's is always empirical).
	// The empirical threshold is calibrated with the config's R and all p
	// observations; a cycle whose observations carry other variances, or
	// leave some out (infinite variance), is tested against it as it is
	// (conservative when fewer are given). chi2 follows the number given.
	Calibration string `yaml:"calibration" json:"calibration"`
	// InnovationCalibration is the innovation test's threshold: chi2
	// (the default), the χ²(p) quantile, exact when forecast and
	// observation errors are Gaussian with the covariances the filter
	// assumes; or empirical, the NIS's (1 − alpha) quantile over an
	// in-distribution twin of the config (10000 cycles after 100 to
	// settle, once per config and worker), for filters whose
	// localisation, inflation or model error make the NIS depart from
	// χ²(p). A cycle that leaves some observations out is tested at the χ²
	// level of the calibrated threshold, on the observations it keeps. Only
	// with the innovation test.
	InnovationCalibration string `yaml:"innovation_calibration,omitempty" json:"innovation_calibration,omitempty"`
	// InnovationMemory, if set (≥ 2 cycles), adds the innovation chart
	// (observations.InnovationChart): an exponentially weighted average,
	// weight 1/memory, of each cycle's innovation scores zᵢ, flagged
	// (batch flag innovation_chart) when its squared norm exceeds its
	// (1 − alpha) quantile over the in-distribution twin that
	// innovation_calibration empirical also runs. A model error the filter
	// keeps correcting gives the innovations a persistent mean, which adds
	// up there before one cycle's NIS sees it. 0 (default): no chart.
	InnovationMemory int `yaml:"innovation_memory,omitempty" json:"innovation_memory,omitempty"`
	// CalibrationSamples is the number of simulated in-distribution
	// observation batches for the empirical thresholds (default 2000); only
	// with the manifold test or the projection test calibrated empirically.
	CalibrationSamples int `yaml:"calibration_samples" json:"calibration_samples"`
	// ManifoldMemory, if set (≥ 2 cycles), makes the manifold test a
	// chart over cycles (latent.ManifoldChart): each cycle's evidence
	// enters an exponentially weighted average with weight 1/memory, so a
	// persistent anomaly too weak for one batch adds up. It is calibrated
	// on an in-distribution sequence of max(calibration_samples,
	// 1000·memory) batches one cycle apart. 0 (default) tests each batch on
	// its own.
	ManifoldMemory int `yaml:"manifold_memory,omitempty" json:"manifold_memory,omitempty"`
	// Policy is warn (default), reject or inflate. It acts on the
	// per-observation test and on the batch tests of the cycle; an alarm
	// of a chart (manifold_memory, innovation_memory) judges the cycles
	// before it and is recorded only, under every policy. reject skips
	// the analysis of a flagged batch, so an anomaly that persists lets
	// the filter run free (docs/results-ood.md, the policy table).
	Policy string `yaml:"policy" json:"policy"`
	// PauseOnBatch pauses a Temporal run after a cycle whose whole batch
	// was flagged, until it is resumed or stopped; a chart's alarm pauses
	// it at the first cycle of a run of them, not at the cycles that go on
	// from it. Only with a batch test.
	PauseOnBatch bool `yaml:"pause_on_batch" json:"pause_on_batch"`
}

// MaxManifoldMemory bounds ood.manifold_memory: its calibration sequence
// has 1000 batches per cycle of memory.
const MaxManifoldMemory = 200

// MaxInnovationMemory bounds ood.innovation_memory: the twin that
// calibrates the chart has 10000 cycles, 100 memories of 100.
const MaxInnovationMemory = 100

// ChartCalibrationLength is the number of batches, one cycle apart, that
// calibrate the manifold chart: max(calibration_samples, 1000·memory).
func (o *OODConfig) ChartCalibrationLength() int {
	return max(o.CalibrationSamples, 1000*o.ManifoldMemory)
}

func (o *OODConfig) withDefaults() {
	if o.Tests == nil {
		o.Tests = []string{TestOutlier, TestInnovation}
		if o.Generator != "" {
			o.Tests = append(o.Tests, TestProjection)
		}
	}
	def(&o.Alpha, 0.01)
	if o.OutlierControl == "" || o.OutlierControl == observations.ControlNone {
		def(&o.OutlierK, 3)
	}
	def(&o.Lambda, 1)
	if o.MaxIter == 0 {
		o.MaxIter = 20
	}
	if o.Calibration == "" {
		o.Calibration = CalibrationEmpirical
	}
	if o.CalibrationSamples == 0 {
		o.CalibrationSamples = 2000
	}
	if o.Policy == "" {
		o.Policy = PolicyWarn
	}
}

func (o *OODConfig) validate(l *LatentConfig) error {
	seen := map[string]bool{}
	for _, t := range o.Tests {
		switch t {
		case TestOutlier, TestInnovation, TestProjection, TestManifold:
		default:
			return fmt.Errorf("ood.tests: unknown test %q (want outlier, innovation, projection or manifold)", t)
		}
		if seen[t] {
			return fmt.Errorf("ood.tests: %q listed twice", t)
		}
		seen[t] = true
	}
	switch {
	case len(o.Tests) == 0:
		return fmt.Errorf("ood.tests: empty; list at least one of outlier, innovation, projection, manifold (or drop the ood section)")
	case (seen[TestProjection] || seen[TestManifold]) && o.Generator == "":
		return fmt.Errorf("ood.generator: the projection and manifold tests need a generator: latent or the path of a generator file")
	case o.Generator == "latent" && l == nil:
		return fmt.Errorf("ood.generator: latent names the latent filter's generator, but the run has no latent section")
	case !(o.Alpha > 0 && o.Alpha < 0.5):
		return fmt.Errorf("ood.alpha: false-alarm rate must be in (0, 0.5), got %v", o.Alpha)
	case seen[TestManifold] && float64(o.CalibrationSamples) < math.Ceil(1/o.Alpha):
		return fmt.Errorf("ood.calibration_samples: %d is too few for alpha %v (need >= %.0f)", o.CalibrationSamples, o.Alpha, math.Ceil(1/o.Alpha))
	case o.ManifoldMemory != 0 && !seen[TestManifold]:
		return fmt.Errorf("ood.manifold_memory: %d is set, but ood.tests does not list manifold", o.ManifoldMemory)
	case o.ManifoldMemory < 0 || o.ManifoldMemory == 1 || o.ManifoldMemory > MaxManifoldMemory:
		return fmt.Errorf("ood.manifold_memory: want 0 (each batch on its own) or 2 to %d cycles, got %d", MaxManifoldMemory, o.ManifoldMemory)
	case o.InnovationMemory != 0 && !seen[TestInnovation]:
		return fmt.Errorf("ood.innovation_memory: %d is set, but ood.tests does not list innovation", o.InnovationMemory)
	case o.InnovationMemory < 0 || o.InnovationMemory == 1 || o.InnovationMemory > MaxInnovationMemory:
		return fmt.Errorf("ood.innovation_memory: want 0 (no chart) or 2 to %d cycles, got %d", MaxInnovationMemory, o.InnovationMemory)
	case o.OutlierControl != "" && o.OutlierControl != observations.ControlNone && o.OutlierControl != observations.ControlBonferroni && o.OutlierControl != observations.ControlBH:
		return fmt.Errorf("ood.outlier_control: want none, bonferroni or bh, got %q", o.OutlierControl)
	case o.Familywise() && o.OutlierK != 0:
		return fmt.Errorf("ood.outlier_k: %v is unused with outlier_control %s (alpha sets the threshold); drop one of them", o.OutlierK, o.OutlierControl)
	case !o.Familywise() && (!(o.OutlierK > 0) || math.IsInf(o.OutlierK, 0)):
		return fmt.Errorf("ood.outlier_k: must be finite and > 0, got %v", o.OutlierK)
	case !(o.Lambda >= 0) || math.IsInf(o.Lambda, 0):
		return fmt.Errorf("ood.lambda: must be finite and >= 0, got %v", o.Lambda)
	case o.MaxIter < 1:
		return fmt.Errorf("ood.max_iter: must be >= 1, got %d", o.MaxIter)
	case o.Calibration != CalibrationChi2 && o.Calibration != CalibrationEmpirical:
		return fmt.Errorf("ood.calibration: want chi2 or empirical, got %q", o.Calibration)
	case o.InnovationCalibration != "" && o.InnovationCalibration != CalibrationChi2 && o.InnovationCalibration != CalibrationEmpirical:
		return fmt.Errorf("ood.innovation_calibration: want chi2 or empirical, got %q", o.InnovationCalibration)
	case o.InnovationCalibration == CalibrationEmpirical && !seen[TestInnovation]:
		return fmt.Errorf("ood.innovation_calibration: empirical is set, but ood.tests does not list innovation")
	case o.Calibration == CalibrationEmpirical && seen[TestProjection] && float64(o.CalibrationSamples) < math.Ceil(1/o.Alpha):
		return fmt.Errorf("ood.calibration_samples: %d is too few for alpha %v (need >= %.0f)", o.CalibrationSamples, o.Alpha, math.Ceil(1/o.Alpha))
	case o.Policy != PolicyWarn && o.Policy != PolicyReject && o.Policy != PolicyInflate:
		return fmt.Errorf("ood.policy: want warn, reject or inflate, got %q", o.Policy)
	}
	return nil
}

// IsChart reports whether a batch flag's name (a test's, or
// FlagInnovationChart) is a chart's alarm, which judges the cycles before
// the batch rather than the batch.
func (o *OODConfig) IsChart(flag string) bool {
	return flag == FlagInnovationChart || flag == TestManifold && o.ManifoldMemory > 0
}

// Has reports whether the test is one of Tests.
func (o *OODConfig) Has(test string) bool { return slices.Contains(o.Tests, test) }

// Familywise says whether the per-observation test has family-wise control.
func (o *OODConfig) Familywise() bool {
	return o.OutlierControl == observations.ControlBonferroni || o.OutlierControl == observations.ControlBH
}
