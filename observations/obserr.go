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
// (Sample uses only the generator it is given).
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
	if math.IsNaN(variance) || math.IsInf(variance, 0) || variance <= 0 {
		return nil, fmt.Errorf("observations: scalar R: variance %v, must be finite and > 0", variance)
	}
	v := make([]float64, p)
	for i := range v {
		v[i] = variance
	}
	return newDiagR(v), nil
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
// drawing exactly one standard normal per component, in order i = 0…p−1,
// so that a generator seeded per cycle reproduces that cycle's noise on
// its own. Sample does not allocate.
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
