package config

import "fmt"

// VarianceEstimateConfig is observations.variance_estimate: the diagonal of
// R learned online from the innovations, by the diagnostic of Desroziers,
// Berre, Chapnik and Poli (2005, eq. 3),
//
//	E[(y − H(xᵃ)) ∘ (y − H(xᶠ))] = diag(R)
//
// for a filter whose gain uses the true R and forecast error covariance;
// used as a fixed-point iteration (the estimate enters the next cycle's
// analysis) it converges to R from a wrong starting guess (their sec. 3).
// The estimate is a factor φ on the given variances (observations.variance,
// or an observation file's), one for all observations or one per
// observation (per_channel), updated after every analysis from cycle
// warmup+1 on by
//
//	φ ← (1 − α) φ + α D,  D = (y − ȳᵃ) ∘ (y − ȳᶠ) / ν,
//
// with ν the given variances, ȳᶠ and ȳᵃ the means of H over the forecast
// and analysis members, D averaged over the observations for a single
// factor, and α = max(1/(m+1), 1/memory) at the m-th update: the mean of
// the starting guess and the m diagnostics while m < memory, then an
// exponential moving average over about memory cycles. φ never goes below
// 1e-3 (a single product can be negative). Observations that quality
// control rejects do not update it; forecast-only cycles and rejected
// batches leave it unchanged. The factor after cycle k is a function of
// the stored state, kept in the cycle's variance-scales.arrow, so that a
// run resumes from any cycle bit for bit.
type VarianceEstimateConfig struct {
	// Method is desroziers (required: the only method so far).
	Method string `yaml:"method" json:"method"`
	// PerChannel estimates one variance per observation instead of one
	// factor for all of them.
	PerChannel bool `yaml:"per_channel" json:"per_channel"`
	// Memory is the time scale of the moving average, in cycles
	// (0: 100).
	Memory int `yaml:"memory" json:"memory"`
	// Warmup is the number of cycles before the first update (the spin-up
	// of the filter from its initial ensemble); default 0.
	Warmup int `yaml:"warmup" json:"warmup"`
	// Of is what φ multiplies: observation (the default, empty when not
	// written) for the given variances ν, or representation for the
	// generator's representation error that latent.representation_error
	// adds, so that the variances used are ν + φ ∘ diag(HΣ_repHᵀ) with ν
	// kept as given, and the diagnostic gives
	// D = ((y − ȳᵃ) ∘ (y − ȳᶠ) − ν) / diag(HΣ_repHᵀ): what the generator
	// cannot represent, learned online.
	Of string `yaml:"of,omitempty" json:"of,omitempty"`
}

// Ofs of VarianceEstimateConfig.
const (
	EstimateObservation    = "observation"
	EstimateRepresentation = "representation"
)

// DefaultVarianceMemory is VarianceEstimateConfig.Memory's default.
const DefaultVarianceMemory = 100

func (v *VarianceEstimateConfig) withDefaults() {
	if v.Memory == 0 {
		v.Memory = DefaultVarianceMemory
	}
}

func (v *VarianceEstimateConfig) validate(c Config) error {
	switch {
	case v.Method != "desroziers":
		return fmt.Errorf("observations.variance_estimate.method: want desroziers, got %q", v.Method)
	case v.Memory < 1:
		return fmt.Errorf("observations.variance_estimate.memory: must be >= 1 cycle, got %d", v.Memory)
	case v.Warmup < 0 || v.Warmup >= c.Cycles:
		return fmt.Errorf("observations.variance_estimate.warmup: must be in [0, %d) (cycles), got %d", c.Cycles, v.Warmup)
	case v.Of != "" && v.Of != EstimateObservation && v.Of != EstimateRepresentation:
		return fmt.Errorf("observations.variance_estimate.of: want observation or representation, got %q", v.Of)
	case v.Of == EstimateRepresentation && (c.Latent == nil || !c.Latent.RepresentationError):
		return fmt.Errorf("observations.variance_estimate.of: representation scales the generator's representation error; set latent.representation_error: true")
	case c.AnalysisBlocks() != nil:
		return fmt.Errorf("observations.variance_estimate: not available with orchestration.blocks (the block-wise analysis does not update the estimate)")
	}
	return nil
}
