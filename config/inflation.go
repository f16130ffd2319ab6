package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/latentda/latentda/enkf"
)

// Inflation is filter.inflation: a fixed factor > 0 that multiplies the
// analysis anomalies, or AdaptiveInflation, written "adaptive" in YAML and
// JSON. The zero value is unset (default 1); an explicit 0 in YAML is an
// error.
type Inflation float64

// AdaptiveInflation selects an adaptive inflation (filter.adaptive chooses
// and tunes it: FilterConfig.AdaptiveScheme).
const AdaptiveInflation Inflation = -1

// inflationWord is AdaptiveInflation's spelling in configs.
const inflationWord = "adaptive"

// Adaptive reports whether v is AdaptiveInflation.
func (v Inflation) Adaptive() bool { return v == AdaptiveInflation }

// String returns "adaptive" or the factor.
func (v Inflation) String() string {
	if v.Adaptive() {
		return inflationWord
	}
	return strconv.FormatFloat(float64(v), 'g', -1, 64)
}

// parseInflation reads "adaptive" or a finite number > 0.
func parseInflation(s string) (Inflation, error) {
	if s == inflationWord {
		return AdaptiveInflation, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("filter.inflation: want a finite number > 0 or %s, got %q", inflationWord, s)
	}
	return Inflation(f), nil
}

// UnmarshalYAML accepts a number > 0 or the word adaptive.
func (v *Inflation) UnmarshalYAML(n *yaml.Node) error {
	// A number is written as one: "1.05" in quotes is a string.
	if n.Kind != yaml.ScalarNode || n.Value != inflationWord && n.ShortTag() != "!!float" && n.ShortTag() != "!!int" {
		return fmt.Errorf("filter.inflation: want a number > 0 or %s, got %s", inflationWord, strconv.Quote(n.Value))
	}
	p, err := parseInflation(n.Value)
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// MarshalYAML writes the word adaptive or the number.
func (v Inflation) MarshalYAML() (any, error) {
	if v.Adaptive() {
		return inflationWord, nil
	}
	return float64(v), nil
}

// MarshalJSON writes "adaptive" or the number.
func (v Inflation) MarshalJSON() ([]byte, error) {
	if v.Adaptive() {
		return json.Marshal(inflationWord)
	}
	return json.Marshal(float64(v))
}

// UnmarshalJSON reads what MarshalJSON writes (0 is unset, as in a Go
// literal).
func (v *Inflation) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		p, err := parseInflation(s)
		if err != nil {
			return err
		}
		*v = p
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("filter.inflation: want a number or %q: %w", inflationWord, err)
	}
	*v = Inflation(f)
	return nil
}

// AdaptiveConfig tunes the adaptive inflation (filter.inflation: adaptive).
type AdaptiveConfig struct {
	// Scheme is the estimator: enkf-n, the finite-size EnKF-N's inflation
	// from each cycle's innovation (enkf.EnKFN; global, and local in every
	// LETKF analysis), or innovation, the innovation-based estimate of
	// Li, Kalnay and Miyoshi (2009) with Miyoshi's (2011) Gaussian update,
	// carried from cycle to cycle (enkf.InnovationInflation; one global
	// factor), or local-innovation (letkf), the same estimate made in
	// every local analysis from its tapered observations, one factor per
	// batch of grid points (Miyoshi 2011); with latent.analysis
	// hybrid-local it inflates each batch's hybrid covariance, and it is
	// the only scheme that analysis takes. Default: innovation for the
	// stochastic enkf, whose
	// perturbed-observation update the EnKF-N is not derived for (with it
	// the L96 EnKF row of the DAPPER table loses the truth), and enkf-n for
	// the deterministic etkf, denkf and letkf. enkf-n with the enkf is
	// allowed when written.
	Scheme string `yaml:"scheme,omitempty" json:"scheme,omitempty"`
	// EnKFN, with innovation or local-innovation, runs the EnKF-N on top
	// of the carried estimate Λ: each analysis solves the EnKF-N's dual on
	// the forecast inflated by √Λ (globally, or in every local analysis
	// for the letkf), the hybrid EnKF-N of Raanes, Bocquet and Carrassi
	// (2019). The EnKF-N corrects sampling error, which it is derived for;
	// the estimate learns what remains (model error, nonlinearity between
	// analyses). With latent.analysis hybrid-local (local-innovation) the
	// EnKF-N inflates the members' part of each local hybrid covariance,
	// the static part counted as observation error in its dual.
	EnKFN bool `yaml:"enkf_n,omitempty" json:"enkf_n,omitempty"`
	// XN is the certainty of the EnKF-N's hyperprior on the forecast
	// covariance, in units of the ensemble size (DAPPER's xN; default 1,
	// the original EnKF-N; 2 suits the weakly nonlinear Lorenz-96 set-ups;
	// below 1 lets the innovations move the inflation further). Must be > 0;
	// enkf-n, or enkf_n: true, only.
	XN *float64 `yaml:"xn" json:"xn,omitempty"`
	// EnKFNMemory averages the letkf's local EnKF-N inflation over about
	// this many analyses, carried from cycle to cycle (enkf.EnKFN.Memory:
	// λ̄ ← λ̄ + (λ − λ̄)/M; default 1, each analysis its own λ, the original
	// EnKF-N): one analysis's λ, from a few observations, is noisy; on the
	// Lorenz-96 LETKF at 4 members averaging over 20 analyses removes a
	// gap of about 5% to the best fixed inflation, but on a sparse network
	// the slower inflation costs more than its noise did
	// (docs/benchmarks.md). A whole number >= 1; the letkf with enkf-n, or
	// enkf_n: true, only.
	EnKFNMemory *int `yaml:"enkf_n_memory,omitempty" json:"enkf_n_memory,omitempty"`
	// PriorSD is σ_b, the standard deviation of the Gaussian prior on the
	// inflation of the forecast covariance (default 0.08,
	// enkf.DefaultInflationPriorSD): the larger, the faster and noisier the
	// estimate. Must be finite and > 0; innovation and local-innovation
	// only.
	PriorSD *float64 `yaml:"prior_sd,omitempty" json:"prior_sd,omitempty"`
	// MinInflation is the lower bound on the carried estimate Λ
	// (enkf.InnovationInflation.Min; default enkf.MinInflationEstimate,
	// which lets the estimate deflate). 1 makes it inflate only, the
	// default lower bound of DART's adaptive inflation: with a
	// calibrated spread and nonlinear observations (y = x² on KS), a
	// deflating estimate left some runs without the spread to recover
	// from a hard spell (docs/benchmarks.md). In
	// [enkf.MinInflationEstimate, 1]; innovation and local-innovation only.
	MinInflation *float64 `yaml:"min_inflation,omitempty" json:"min_inflation,omitempty"`
}

// enkfN returns the EnKF-N's configuration written in a (nil: none
// written, the defaults).
func (a *AdaptiveConfig) enkfN() *enkf.EnKFN {
	e := &enkf.EnKFN{}
	if a == nil {
		return e
	}
	if a.XN != nil {
		e.XN = *a.XN
	}
	if a.EnKFNMemory != nil {
		e.Memory = *a.EnKFNMemory
	}
	return e
}

// The adaptive inflation schemes (AdaptiveConfig.Scheme).
const (
	SchemeEnKFN           = "enkf-n"
	SchemeInnovation      = "innovation"
	SchemeLocalInnovation = "local-innovation"
)

// AdaptiveScheme returns the adaptive inflation scheme of f: the one
// written, or the method's default (AdaptiveConfig.Scheme); "" without
// adaptive inflation.
func (f FilterConfig) AdaptiveScheme() string {
	switch {
	case !f.Inflation.Adaptive():
		return ""
	case f.Adaptive != nil && f.Adaptive.Scheme != "":
		return f.Adaptive.Scheme
	case f.Method == "enkf":
		return SchemeInnovation
	}
	return SchemeEnKFN
}

// validate checks filter.adaptive (inflation adaptive) against the scheme
// and the filter's method.
func (a AdaptiveConfig) validate(scheme, method string) error {
	innovation := scheme == SchemeInnovation || scheme == SchemeLocalInnovation
	switch {
	case scheme != SchemeEnKFN && !innovation:
		return fmt.Errorf("filter.adaptive.scheme: want %s, %s or %s, got %q", SchemeEnKFN, SchemeInnovation, SchemeLocalInnovation, scheme)
	case scheme == SchemeLocalInnovation && method != "letkf":
		return fmt.Errorf("filter.adaptive.scheme: %s is for the letkf (one estimate per local analysis), not %s", scheme, method)
	case a.EnKFN && !innovation:
		return fmt.Errorf("filter.adaptive.enkf_n: adds the EnKF-N to the %s and %s schemes, not %s", SchemeInnovation, SchemeLocalInnovation, scheme)
	case a.XN != nil && scheme != SchemeEnKFN && !a.EnKFN:
		return fmt.Errorf("filter.adaptive.xn: tunes the %s scheme (or enkf_n: true), not %s", SchemeEnKFN, scheme)
	case a.XN != nil && (!(*a.XN > 0) || math.IsInf(*a.XN, 0)):
		return fmt.Errorf("filter.adaptive.xn: must be a finite number > 0, got %v", *a.XN)
	case a.PriorSD != nil && !innovation:
		return fmt.Errorf("filter.adaptive.prior_sd: tunes the %s and %s schemes, not %s", SchemeInnovation, SchemeLocalInnovation, scheme)
	case a.PriorSD != nil && (!(*a.PriorSD > 0) || math.IsInf(*a.PriorSD, 0)):
		return fmt.Errorf("filter.adaptive.prior_sd: must be a finite number > 0, got %v", *a.PriorSD)
	case a.MinInflation != nil && !innovation:
		return fmt.Errorf("filter.adaptive.min_inflation: bounds the %s and %s schemes' estimate, not %s", SchemeInnovation, SchemeLocalInnovation, scheme)
	case a.MinInflation != nil && !enkf.ValidInflationBound(*a.MinInflation):
		return fmt.Errorf("filter.adaptive.min_inflation: must lie in [%v, 1] (above 1 it would be a hand-set inflation), got %v", enkf.MinInflationEstimate, *a.MinInflation)
	case a.EnKFNMemory != nil && (scheme != SchemeEnKFN && !a.EnKFN || method != "letkf"):
		return fmt.Errorf("filter.adaptive.enkf_n_memory: averages the letkf's local EnKF-N (scheme %s, or enkf_n: true), not %s with %s", SchemeEnKFN, scheme, method)
	case a.EnKFNMemory != nil && *a.EnKFNMemory < 1:
		return fmt.Errorf("filter.adaptive.enkf_n_memory: must be a whole number of analyses >= 1, got %d", *a.EnKFNMemory)
	}
	return nil
}
