package enkf

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// HybridWeightEstimate configures the online estimate of the static
// weight β = 1 − α of a hybrid covariance P = α Pₑ + (1 − α) BᵀB from the
// innovations, in place of a fixed Hybrid.Alpha: the maximum-likelihood
// estimation of covariance parameters from innovations (Dee 1995;
// Mitchell and Houtekamer 2000), applied to the hybrid weight as El
// Gharamti (2021) does with a Bayesian update carried between cycles.
//
// In the whitened observation space of the package notation (d, Sₑ the
// members' observed anomalies over √(N−1), S_b = B Hₓᵀ R^{-1/2} the static
// rows), a forecast whose error covariance is Λ((1 − β)Pₑ + β BᵀB) gives
// the innovation d ~ N(0, I + S̃ᵀS̃) with S̃ = √Λ [√(1−β) Sₑ; √β S_b], whose
// log-likelihood, by the determinant lemma and the push-through identity
// in the (N + m)-dimensional space of S̃'s rows, is
//
//	ℓ(β, Λ) = −½ [ln det(I + S̃S̃ᵀ) + dᵀd − (S̃d)ᵀ(I + S̃S̃ᵀ)⁻¹(S̃d)].
//
// The unlocalised covariance is used: a global weight, with Pₑ's sampling
// error common to every candidate. Over a grid of β (HybridWeightGrid) and
// of the ensemble's overall scale Λ (HybridScaleGrid: a nuisance
// parameter, so that a forecast whose spread is short does not read as a
// call for more static covariance) the log-posterior with a flat prior is
// carried between analyses with forgetting,
//
//	Lₜ(β, Λ) = (1 − 1/Memory) Lₜ₋₁(β, Λ) + ℓₜ(β, Λ),
//
// and the analysis uses the posterior mean of β, marginal over Λ:
// α = 1 − Σ β π(β, Λ), π ∝ exp L. The analysis itself is that of the fixed
// weight α (the scale Λ is not applied). An analysis without used
// observations leaves L unchanged. It needs the LETKF, for the localised
// hybrid (AnalyzeHybridLocal), and no adaptive inflation.
type HybridWeightEstimate struct {
	// Memory is the forgetting time of the log-posterior in analyses
	// (0: DefaultHybridWeightMemory); at least 1.
	Memory float64
}

// DefaultHybridWeightMemory is HybridWeightEstimate.Memory's default.
const DefaultHybridWeightMemory = 20

// HybridWeightGrid holds the static weights β = 1 − α the estimate
// chooses among (β = 0 is the ensemble's covariance alone), and
// HybridScaleGrid the ensemble scales Λ it marginalises over. The scales
// reach 20 so that a forecast far short of spread is explained by Λ and
// not by the static part: on Lorenz-96 with N = 8 and a localisation too
// wide for it (TestLatentHybridLocalAlphaEstimate, where the LETKF loses
// the truth at rmse_a 3.6), scales up to 2 let β reach the grid's 0.2 and
// the run diverged (rmse_a 4.2, NIS ratio 6.9; the test's log with this
// grid cut after 2); up to 20 it keeps the truth (0.68, α within
// 0.96–0.999).
var (
	HybridWeightGrid = []float64{0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2}
	HybridScaleGrid  = []float64{1, 1.1, 1.25, 1.5, 2, 3, 5, 10, 20}
)

func (c HybridWeightEstimate) memory() float64 {
	if c.Memory == 0 {
		return DefaultHybridWeightMemory
	}
	return c.Memory
}

func (c HybridWeightEstimate) validate(cfg Config) error {
	switch {
	case !(c.Memory == 0 || c.Memory >= 1) || math.IsInf(c.Memory, 0):
		return fmt.Errorf("enkf: the hybrid weight estimate's memory must be finite and >= 1 analyses, got %v", c.Memory)
	case cfg.Method != LETKF:
		return fmt.Errorf("enkf: the hybrid weight estimate is for the localised hybrid (the LETKF), not %s", cfg.Method)
	case cfg.Adaptive != nil || cfg.Innovation != nil:
		return fmt.Errorf("enkf: the hybrid weight estimate does not combine with an adaptive inflation")
	}
	return nil
}

// hybridWeight is the estimate's carried log-posterior (one value per
// pair of HybridWeightGrid and HybridScaleGrid, β-major) and work space.
type hybridWeight struct {
	logPost []float64
	s       []float64 // the unscaled rows [Sₑ; S_b] (M × p)
	g0      []float64 // the unscaled Gram matrix [Sₑ; S_b][Sₑ; S_b]ᵀ (M × M)
	v0      []float64 // [Sₑ; S_b] d (M)
	g       []float64 // I + S̃S̃ᵀ, then its Cholesky factor
	v       []float64 // S̃d, then (I + S̃S̃ᵀ)⁻¹S̃d
	c       []float64 // the row scales of S̃
}

// estimateAlpha updates the carried log-posterior with the innovations of
// the analysis, from the members' observed rows se (N × p, Sₑ), the
// unscaled static rows sb (m × p, S_b) and d, and returns the posterior
// mean weight α = 1 − E[β].
func (f *Filter) estimateAlpha(se, sb, d []float64, m int) (float64, error) {
	N, p, M := f.members, f.nobs, f.members+m
	hw := f.hw
	if len(hw.g0) != M*M {
		hw.s, hw.g0, hw.v0, hw.g, hw.v, hw.c = make([]float64, M*p), make([]float64, M*M), make([]float64, M), make([]float64, M*M), make([]float64, M), make([]float64, M)
	}
	copy(hw.s, se[:N*p])
	copy(hw.s[N*p:], sb[:m*p])
	S := blas64.General{Rows: M, Cols: p, Stride: p, Data: hw.s}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, S, S, 0, blas64.General{Rows: M, Cols: M, Stride: M, Data: hw.g0})
	blas64.Gemv(blas.NoTrans, 1, S, blas64.Vector{N: p, Inc: 1, Data: d[:p]}, 0, blas64.Vector{N: M, Inc: 1, Data: hw.v0})
	var dd float64
	for _, v := range d[:p] {
		dd += v * v
	}
	forget := 1 - 1/f.cfg.HybridWeight.memory()
	k := 0
	for _, beta := range HybridWeightGrid {
		for _, lam := range HybridScaleGrid {
			ce, cb := math.Sqrt(lam*(1-beta)), math.Sqrt(lam*beta)
			for i := range hw.c {
				hw.c[i] = ce
				if i >= N {
					hw.c[i] = cb
				}
			}
			ll, err := hw.logLikelihood(dd, M)
			if err != nil {
				return 0, fmt.Errorf("enkf: hybrid weight estimate at β = %v, Λ = %v: %w", beta, lam, err)
			}
			hw.logPost[k] = forget*hw.logPost[k] + ll
			k++
		}
	}
	// Shifting by the maximum leaves the posterior unchanged and keeps the
	// carried values bounded.
	top := slices.Max(hw.logPost)
	for k := range hw.logPost {
		hw.logPost[k] -= top
	}
	return EstimatedAlpha(hw.logPost), nil
}

// logLikelihood returns ℓ for the row scales hw.c, given dᵀd.
func (hw *hybridWeight) logLikelihood(dd float64, M int) (float64, error) {
	for i := 0; i < M; i++ {
		for j := 0; j <= i; j++ {
			hw.g[i*M+j] = hw.c[i] * hw.c[j] * hw.g0[i*M+j]
		}
		hw.g[i*M+i]++
		hw.v[i] = hw.c[i] * hw.v0[i]
	}
	ch := blas64.Symmetric{Uplo: blas.Lower, N: M, Stride: M, Data: hw.g}
	if _, ok := lapack64.Potrf(ch); !ok {
		return 0, fmt.Errorf("the innovation covariance I + S̃S̃ᵀ is not positive definite")
	}
	var logDet, quad float64
	for i := 0; i < M; i++ {
		logDet += 2 * math.Log(hw.g[i*M+i])
	}
	// (S̃d)ᵀ(LLᵀ)⁻¹(S̃d) = ‖L⁻¹S̃d‖².
	blas64.Trsv(blas.NoTrans, blas64.Triangular{Uplo: blas.Lower, Diag: blas.NonUnit, N: M, Stride: M, Data: hw.g}, blas64.Vector{N: M, Inc: 1, Data: hw.v})
	for _, v := range hw.v[:M] {
		quad += v * v
	}
	return -0.5 * (logDet + dd - quad), nil
}

// EstimatedAlpha returns the weight α = 1 − E[β] of the log-posterior
// logPost (HybridWeightState, one value per pair of HybridWeightGrid and
// HybridScaleGrid, β-major): the α of the analysis after which it was
// carried, as SetHybridWeightState accepts it; EstimatedAlpha panics
// if its length is wrong.
func EstimatedAlpha(logPost []float64) float64 {
	if len(logPost) != len(HybridWeightGrid)*len(HybridScaleGrid) {
		panic(fmt.Sprintf("enkf: a hybrid weight state of %d values", len(logPost)))
	}
	top := slices.Max(logPost)
	var z, mean float64
	for k, v := range logPost {
		w := math.Exp(v - top)
		z += w
		mean += w * HybridWeightGrid[k/len(HybridScaleGrid)]
	}
	return 1 - mean/z
}

// HybridWeightState returns the log-posterior the hybrid weight estimate
// carries to the next analysis (Config.HybridWeight), one value per pair
// of HybridWeightGrid and HybridScaleGrid, β-major, shifted so that its
// maximum is 0; nil without it. The caller must not modify it.
func (f *Filter) HybridWeightState() []float64 {
	if f.hw == nil {
		return nil
	}
	return f.hw.logPost
}

// ResetHybridWeightState sets the carried log-posterior to its value
// before the first analysis: flat.
func (f *Filter) ResetHybridWeightState() { clear(f.hw.logPost) }

// checkHybridWeightState reports what is wrong with logPost as a carried
// log-posterior (HybridWeightState): its length, or a value that is not
// finite and <= 0.
func checkHybridWeightState(logPost []float64) error {
	if want := len(HybridWeightGrid) * len(HybridScaleGrid); len(logPost) != want {
		return fmt.Errorf("enkf: a hybrid weight state of %d values, want %d", len(logPost), want)
	}
	for k, v := range logPost {
		if !(v <= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("enkf: hybrid weight state value %d is %v, want finite and <= 0", k, v)
		}
	}
	return nil
}

// SetHybridWeightState sets the carried log-posterior, as
// HybridWeightState returned it after the analysis a run resumes from.
func (f *Filter) SetHybridWeightState(logPost []float64) error {
	if f.hw == nil {
		return fmt.Errorf("enkf: the filter has no hybrid weight estimate")
	}
	if err := checkHybridWeightState(logPost); err != nil {
		return err
	}
	copy(f.hw.logPost, logPost)
	return nil
}
