package config

import (
	"fmt"
	"math"

	"github.com/latentda/latentda/enkf"
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
	// encoding per member and cycle (default 3: each costs a Jacobian of G);
	// only with encoding projection.
	ProjectionIters int `yaml:"projection_iters" json:"projection_iters"`
	// Analysis is etkf (the default: filter.method's analysis of the codes
	// with the observed members H(G(zᵢ))) or iterative: Gauss–Newton
	// iterations in z, with the exact Jacobians of G and H, for the MAP of
	// ½‖z − z̄ᶠ‖²(P_z⁻¹) + ½‖y − H(G(z))‖²(R⁻¹), then the ETKF square-root
	// transform of the last linearisation (enkf.Filter.AnalyzeIterative;
	// Sakov et al. 2012, Bocquet and Sakov 2014). iterative needs
	// filter.method etkf. hybrid-local is the LETKF on the states with the
	// background covariance α L∘Pₑ + (1 − α) B_G, where B_G = J Σ_clim Jᵀ is
	// the generator's climatological code covariance seen through its
	// Jacobian J at the mean of the forecast codes (for a PCA, the
	// climatological covariance of the d retained modes; flow-dependent
	// for a nonlinear generator), localised by the LETKF's R-localisation
	// (enkf.Filter.AnalyzeHybridLocal). It needs filter.method letkf and
	// update increment (the analysis adds an increment to the forecast
	// states, nothing is decoded); the codes are only recorded.
	Analysis string `yaml:"analysis,omitempty" json:"analysis,omitempty"`
	// Alpha is the weight of the ensemble in the hybrid code covariance
	// P_z = α P_ens + (1 − α) Σ_clim, in (0, 1]; Σ_clim is the generator's
	// climatological code covariance (the identity for the whitened codes
	// of a PCA, estimated on the archive for the others). Unset: 1, the
	// ensemble's covariance alone. Below 1 it needs filter.method etkf
	// (enkf.Filter.AnalyzeHybrid, or the iterative analysis), or letkf
	// with analysis hybrid-local.
	Alpha *float64 `yaml:"alpha,omitempty" json:"alpha,omitempty"`
	// AlphaEstimate, if set, estimates α online from the innovations of
	// every analysis instead of a fixed alpha (enkf.HybridWeightEstimate:
	// the posterior mean over a grid of weights, with the log-likelihoods
	// of the innovations carried between cycles with forgetting). Only
	// with analysis hybrid-local, without alpha and without an adaptive
	// inflation.
	AlphaEstimate *AlphaEstimate `yaml:"alpha_estimate,omitempty" json:"alpha_estimate,omitempty"`
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
	// observations with R alone. Not with analysis hybrid-local.
	RepresentationError bool `yaml:"representation_error,omitempty" json:"representation_error,omitempty"`
}

// AlphaEstimate configures latent.alpha_estimate.
type AlphaEstimate struct {
	// Memory is the forgetting time of the estimate, in analyses (unset:
	// enkf.DefaultHybridWeightMemory, 20); at least 1.
	Memory float64 `yaml:"memory,omitempty" json:"memory,omitempty"`
}

// The fields added with the hybrid and iterative analyses keep their
// defaults implicit (empty or nil, and omitted when the config is written
// out), so that the config a run directory already holds still matches.

// AnalysisOrDefault returns Analysis with its default.
func (l *LatentConfig) AnalysisOrDefault() string {
	if l.Analysis == "" {
		return LatentETKF
	}
	return l.Analysis
}

// AlphaOrDefault returns Alpha with its default, 1.
func (l *LatentConfig) AlphaOrDefault() float64 {
	if l.Alpha == nil {
		return 1
	}
	return *l.Alpha
}

// IterationsOrDefault returns Iterations with its default.
func (l *LatentConfig) IterationsOrDefault() int {
	if l.Iterations == nil {
		return enkf.DefaultMaxIter
	}
	return *l.Iterations
}

// The latent analyses (LatentConfig.Analysis).
const (
	LatentETKF        = "etkf"
	LatentIterative   = "iterative"
	LatentHybridLocal = "hybrid-local"
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
	if l.AlphaEstimate != nil {
		e := *l.AlphaEstimate // a copy: the config the defaults were filled from stays as written
		if e.Memory == 0 {
			e.Memory = enkf.DefaultHybridWeightMemory
		}
		l.AlphaEstimate = &e
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
	analysis := l.AnalysisOrDefault()
	switch analysis {
	case LatentETKF, LatentIterative:
	case LatentHybridLocal:
		return l.validateLocal(method)
	default:
		return fmt.Errorf("latent.analysis: want etkf, iterative or hybrid-local, got %q", l.Analysis)
	}
	if method == "letkf" {
		return fmt.Errorf("filter.method: letkf localises on the model grid and latent codes have no grid; use etkf, enkf or denkf with latent (or latent.analysis hybrid-local, the LETKF on the states with the generator's prior)")
	}
	if analysis == LatentIterative && method != "etkf" {
		return fmt.Errorf("latent.analysis: iterative uses the ETKF transform; set filter.method etkf, not %s", method)
	}
	if a := l.AlphaOrDefault(); !(a > 0 && a <= 1) {
		return fmt.Errorf("latent.alpha: the ensemble's weight in the hybrid covariance must be in (0, 1], got %v", a)
	}
	if l.AlphaOrDefault() < 1 && method != "etkf" {
		return fmt.Errorf("latent.alpha: a hybrid covariance (alpha < 1) uses the ETKF transform; set filter.method etkf, not %s", method)
	}
	if l.AlphaEstimate != nil {
		return fmt.Errorf("latent.alpha_estimate: only for analysis hybrid-local (analysis is %s)", analysis)
	}
	if l.Iterations != nil {
		if analysis != LatentIterative {
			return fmt.Errorf("latent.iterations: only for analysis iterative (analysis is %s)", analysis)
		}
		if *l.Iterations < 1 {
			return fmt.Errorf("latent.iterations: must be >= 1, got %d", *l.Iterations)
		}
	}
	return nil
}

// validateLocal checks the settings of analysis hybrid-local.
func (l *LatentConfig) validateLocal(method string) error {
	switch {
	case method != "letkf":
		return fmt.Errorf("latent.analysis: hybrid-local localises on the model grid; set filter.method letkf, not %s", method)
	case l.Update != "increment":
		return fmt.Errorf("latent.update: hybrid-local analyses the states and adds the increment to the forecast; set update increment, not %s", l.Update)
	case l.RepresentationError:
		return fmt.Errorf("latent.representation_error: hybrid-local analyses the states, which need no representation error")
	case l.Iterations != nil:
		return fmt.Errorf("latent.iterations: only for analysis iterative (analysis is %s)", LatentHybridLocal)
	}
	if a := l.AlphaOrDefault(); !(a > 0 && a <= 1) {
		return fmt.Errorf("latent.alpha: the ensemble's weight in the hybrid covariance must be in (0, 1], got %v", a)
	}
	if e := l.AlphaEstimate; e != nil {
		switch {
		case l.Alpha != nil:
			return fmt.Errorf("latent.alpha_estimate: estimates alpha; remove latent.alpha (%v) or alpha_estimate", *l.Alpha)
		case !(e.Memory >= 1) || math.IsInf(e.Memory, 0):
			return fmt.Errorf("latent.alpha_estimate.memory: want a finite number of analyses >= 1, got %v", e.Memory)
		}
	}
	return nil
}
