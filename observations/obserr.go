package observations

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// DiagR is a diagonal observation-error covariance
//
//	R = diag(σ_0², …, σ_{p−1}²),
//
// i.e. the errors ε_i of y = H(x) + ε are independent, ε_i ~ N(0, σ_i²).
// A DiagR is immutable after construction and safe for concurrent use
// (Sample and ObsNoise use only the generator they are given or create).
type DiagR struct {
	v []float64 // variances σ_i²
	s []float64 // standard deviations σ_i
}

// NewScalarR returns R = variance · I_p. p must be positive and variance
// finite and > 0.
func NewScalarR(p int, variance float64) (*DiagR, error) {
	if p <= 0 {
		return nil, fmt.Errorf("observations: scalar R: dimension p = %d, must be > 0", p)
	}
	if err := checkVariance("scalar R", -1, variance); err != nil {
		return nil, err
	}
	v := make([]float64, p)
	for i := range v {
		v[i] = variance
	}
	return newDiagR(v), nil
}

// NewDiagR returns R = diag(variances). variances must be non-empty and
// every entry finite and > 0. The slice is copied.
func NewDiagR(variances []float64) (*DiagR, error) {
	if len(variances) == 0 {
		return nil, fmt.Errorf("observations: diagonal R: empty variance list")
	}
	for i, v := range variances {
		if err := checkVariance("diagonal R", i, v); err != nil {
			return nil, err
		}
	}
	v := make([]float64, len(variances))
	copy(v, variances)
	return newDiagR(v), nil
}

func checkVariance(name string, i int, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		if i < 0 {
			return fmt.Errorf("observations: %s: variance %v, must be finite and > 0", name, v)
		}
		return fmt.Errorf("observations: %s: variance[%d] = %v, must be finite and > 0", name, i, v)
	}
	return nil
}

// newDiagR takes ownership of v, which must already be validated.
func newDiagR(v []float64) *DiagR {
	s := make([]float64, len(v))
	for i, vi := range v {
		s[i] = math.Sqrt(vi)
	}
	return &DiagR{v: v, s: s}
}

// Dim returns the number of observations p.
func (r *DiagR) Dim() int { return len(r.v) }

// Var returns the variance σ_i² = R_ii.
func (r *DiagR) Var(i int) float64 { return r.v[i] }

// Std returns the standard deviation σ_i = √R_ii.
func (r *DiagR) Std(i int) float64 { return r.s[i] }

// Variances returns the diagonal of R as a read-only view of the internal
// storage (no copy, so it is free to call in hot loops). Callers must not
// modify it; copy it first if a mutable slice is needed.
func (r *DiagR) Variances() []float64 { return r.v }

// Sample writes one draw ε ~ N(0, R) into dst (len Dim):
//
//	dst_i = σ_i · z_i,   z_i = rng.NormFloat64(),
//
// drawing exactly one standard normal per component, in order i = 0…p−1.
// This draw order is part of the reproducibility contract of
// [DiagR.ObsNoise] and [Nature]. Sample does not allocate.
func (r *DiagR) Sample(dst []float64, rng *rand.Rand) {
	if len(dst) != len(r.v) {
		panic(fmt.Sprintf("observations: DiagR.Sample: len(dst) = %d, want Dim = %d", len(dst), len(r.v)))
	}
	for i, s := range r.s {
		dst[i] = s * rng.NormFloat64()
	}
}

// Mahalanobis2 returns the squared Mahalanobis norm of the innovation d
// (len Dim) under R:
//
//	dᵀ R⁻¹ d = Σ_i d_i² / σ_i².
//
// For d ~ N(0, R) it is χ²-distributed with p degrees of freedom.
func (r *DiagR) Mahalanobis2(d []float64) float64 {
	if len(d) != len(r.v) {
		panic(fmt.Sprintf("observations: DiagR.Mahalanobis2: len(d) = %d, want Dim = %d", len(d), len(r.v)))
	}
	var sum float64
	for i, di := range d {
		sum += di * di / r.v[i]
	}
	return sum
}

// ObsNoise writes into dst (len Dim) the observation noise of cycle `cycle`
// of the stream identified by seed. The seeding scheme is a reproducibility
// contract shared with [Nature]:
//
//	rng := rand.New(rand.NewPCG(seed, uint64(cycle)))   // math/rand/v2
//	r.Sample(dst, rng)                                  // dst_i = σ_i · rng.NormFloat64(), i = 0…p−1
//
// so the noise of any cycle can be regenerated independently of all other
// cycles. cycle must be ≥ 0 (Nature numbers its cycles from 1). The values
// are identical across runs and platforms for a given Go release (they rely
// on math/rand/v2's PCG-DXSM source and NormFloat64).
//
// ObsNoise allocates a small generator per call; [Nature.Next] reuses one
// and does not allocate.
func (r *DiagR) ObsNoise(dst []float64, seed uint64, cycle int) {
	if cycle < 0 {
		panic(fmt.Sprintf("observations: DiagR.ObsNoise: cycle = %d, must be >= 0", cycle))
	}
	r.Sample(dst, rand.New(rand.NewPCG(seed, uint64(cycle))))
}
