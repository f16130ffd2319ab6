package enkf

import (
	"errors"
	"fmt"
	"math"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas/blas64"
)

// EnKFN configures the adaptive inflation of the finite-size ensemble
// Kalman filter, EnKF-N (Bocquet 2011; Bocquet, Raanes and Hannart 2015).
//
// The EnKF-N does not trust the ensemble covariance: it puts Jeffreys'
// hyperprior on the prior covariance B and integrates it out, which turns
// the Gaussian prior into a Student-like one. For the analysis this is a
// choice of inflation of the forecast anomalies, λ, made afresh every cycle
// from the innovation: the mode of the marginal posterior of the scale ζ of
// B. With d = R^{-1/2}(y − ȳ) and S = R^{-1/2}(HE − 1ȳᵀ)/√(N−1) as in the
// package notation, and u = λ², ζ = (N−1)/u, the dual cost is (Bocquet et
// al. 2015, eq. 30, scaled by 2/(N−1))
//
//	J(u) = dᵀ(I + u SᵀS)⁻¹d/(N−1) + εN/u + cL ln u,
//
// minimised over u > 0; the analysis is then the ETKF's with S and the
// anomalies inflated by λ = √u, except that the anomalies are transformed
// by the inverse square root of the Hessian of the primal cost,
//
//	T = (I + λ²SSᵀ − 2 w wᵀ/((N−1)εN + wᵀw))^{-1/2},  w = (I + λ²SSᵀ)⁻¹ λ S d,
//
// instead of (I + λ²SSᵀ)^{-1/2} (Bocquet et al. 2015, sec. 3.3). The
// stochastic EnKF and the DEnKF use λ as an inflation of the forecast
// anomalies and then update as usual. The LETKF solves the dual in every
// local analysis, with its tapered observations (the local EnKF-N,
// Bocquet 2011, sec. 6), so the inflation varies in space.
//
// The hyperprior's coefficients are εN = (N+1)/N and cL = N/(N−1), with
// the mode correction of Bocquet et al. (2015, eq. 36) in the form DAPPER
// uses (dapper/da_methods/ensemble.py, hyperprior_coeffs): with
// κ = tr(C⁻¹)/N ≈ the weight of the prior, C = I + SSᵀ, and m = εN/cL the
// mode of u before correction, εN ← εN/m^{κ/2} and cL ← cL·m^{κ/2}, so that
// the inflation tends to 1 where the observations carry no information.
// XN then multiplies both (Raanes, Bocquet and Carrassi 2019, sec. 2.1:
// the hyperprior as certain as if the ensemble had XN·N members).
//
// With Memory M > 1 the local EnKF-N carries each batch's inflation from
// analysis to analysis as an exponential moving average of the dual's
// solutions,
//
//	λ̄ₜ = λ̄ₜ₋₁ + (λₜ − λ̄ₜ₋₁)/M   (λ̄₁ = λ₁),
//
// and analyses with λ̄ₜ in λₜ's place (the transform is the one above,
// evaluated at λ̄ₜ, or the ETKF's where that Hessian is not positive
// definite: λ̄ₜ is not the dual's optimum). Each λₜ is a point estimate
// from one cycle's few tapered observations; its scatter from cycle to
// cycle is noise in the inflation, which the average removes, as the
// fixed prior variance of Miyoshi (2011) smooths the innovation estimate
// (InnovationInflation). A batch without observations carries 1, the
// inflation it had.
type EnKFN struct {
	// XN is the certainty of the hyperprior in units of N (0: 1, the
	// original EnKF-N, fit for chaotic models; larger values suit more
	// linear and deterministic ones). It must be finite and >= 0.
	XN float64
	// Memory is M above, in analyses (0 or 1: none, each analysis its own
	// λ). The LETKF's local EnKF-N only.
	Memory int
}

// errAdaptiveHybrid: the adaptive inflations are not derived for the
// hybrid and iterative analyses, except the local innovation inflation,
// alone or with the EnKF-N on top, for the localised hybrid
// (AnalyzeHybridLocal).
var errAdaptiveHybrid = errors.New("enkf: adaptive inflation is for Analyze, not the hybrid or iterative analyses (the local innovation inflation is also for the localised hybrid)")

// adaptive reports whether f has an adaptive inflation.
func (f *Filter) adaptive() bool { return f.cfg.Adaptive != nil || f.cfg.Innovation != nil }

// localInnovation reports whether f has the local innovation inflation.
func (f *Filter) localInnovation() bool { return f.cfg.Innovation != nil && f.cfg.Innovation.Local }

// EnKFNEstimate returns the local EnKF-N's inflations that the next
// analysis averages from (EnKFN.Memory above 1), one per batch of grid
// points (0 before the first analysis); nil without a memory. The caller
// must not modify it.
func (f *Filter) EnKFNEstimate() []float64 {
	if f.loc == nil {
		return nil
	}
	return f.loc.meanN
}

// ResetEnKFNEstimate forgets the carried inflations: the next analysis
// starts the average afresh, as the first does.
func (f *Filter) ResetEnKFNEstimate() {
	if f.loc != nil {
		clear(f.loc.meanN)
	}
}

// SetEnKFNEstimate sets the carried inflations, as EnKFNEstimate returned
// them after the analysis a run resumes from.
func (f *Filter) SetEnKFNEstimate(lambda []float64) error {
	cur := f.EnKFNEstimate()
	if cur == nil {
		return fmt.Errorf("enkf: the filter carries no EnKF-N inflation (memory)")
	}
	if len(lambda) != len(cur) {
		return fmt.Errorf("enkf: %d EnKF-N inflations, the filter carries %d", len(lambda), len(cur))
	}
	for b, v := range lambda {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("enkf: EnKF-N inflation %d is %v, want finite and >= 0", b, v)
		}
	}
	copy(cur, lambda)
	return nil
}

// smooth returns the inflation an analysis uses, given the dual's λ and
// the average prev carried from the analysis before (0: none yet).
func (e EnKFN) smooth(prev, lambda float64) float64 {
	if e.Memory <= 1 || prev == 0 {
		return lambda
	}
	return prev + (lambda-prev)/float64(e.Memory)
}

// xn returns XN with its default.
func (e EnKFN) xn() float64 {
	if e.XN == 0 {
		return 1
	}
	return e.XN
}

// hyperprior returns the EnKF-N's dual cost coefficients (εN, cL) for N
// members, given trG = tr(C⁻¹), with the mode correction and xN.
func hyperprior(N int, trG, xN float64) (eN, cL float64) {
	n := float64(N)
	eN, cL = (n+1)/n, n/(n-1)
	mc := math.Sqrt(math.Pow(eN/cL, trG/n))
	return xN * eN / mc, xN * cL * mc
}

// dualU returns the minimiser u = λ² of the EnKF-N dual cost
//
//	J(u) = (|d|² − Σₖ u bₖ²/(1 + u σₖ²))/n1 + eN/u + cL ln u,
//
// the first term being dᵀ(I + u SᵀS)⁻¹d/n1 in the eigenbasis SSᵀ = V diag(σ²) Vᵀ
// with b = Vᵀ S d (Woodbury). In t = ln u the stationarity condition is
//
//	g(t) = u J'(u) = cL − eN/u − (u/n1) Σₖ bₖ²/(1 + u σₖ²)² = 0,
//
// and g → −∞ as t → −∞, g → cL > 0 as t → ∞. The root is bracketed by
// doubling steps from t = 0 (λ = 1, where DAPPER's Newton iteration starts)
// and refined by Newton's method on g, safeguarded by bisection, to
// |Δt| < 1e-12; the bracket is capped at |t| <= 60.
func dualU(sig2, b []float64, n1, eN, cL float64) float64 {
	g := func(t float64) (g, dg float64) {
		u := math.Exp(t)
		var s1, s2 float64
		for k, s := range sig2 {
			q := 1 + u*s
			b2 := b[k] * b[k]
			s1 += b2 / (q * q)
			s2 += b2 * (1 - u*s) / (q * q * q)
		}
		return cL - eN/u - u*s1/n1, eN/u - u*s2/n1
	}
	const tMax = 60
	g0, _ := g(0)
	if g0 == 0 {
		return 1
	}
	lo, hi := 0.0, 0.0
	for step := 1.0; ; step *= 2 {
		if g0 < 0 {
			lo, hi = hi, math.Min(hi+step, tMax)
			if v, _ := g(hi); v >= 0 || hi == tMax {
				break
			}
		} else {
			hi, lo = lo, math.Max(lo-step, -tMax)
			if v, _ := g(lo); v <= 0 || lo == -tMax {
				break
			}
		}
	}
	t := 0.0 // one end of the bracket
	for range 200 {
		v, dv := g(t)
		if v == 0 {
			break
		}
		if v < 0 {
			lo = t
		} else {
			hi = t
		}
		next := t - v/dv
		if !(dv > 0) || !(next > lo && next < hi) {
			next = lo + (hi-lo)/2
		}
		if math.Abs(next-t) < 1e-12 || hi-lo < 1e-12 {
			t = next
			break
		}
		t = next
	}
	return math.Exp(t)
}

// enkfnWork is the EnKF-N's work space for one ensemble-space analysis.
type enkfnWork struct {
	xN   float64
	hs   *space    // the Hessian and its inverse square root
	sig2 []float64 // σ², the eigenvalues of SSᵀ
	b    []float64 // Vᵀ S d
}

func newENKFNWork(cfg *EnKFN, N int) *enkfnWork {
	if cfg == nil {
		return nil
	}
	return &enkfnWork{xN: cfg.xn(), hs: newSpace(N), sig2: make([]float64, N), b: make([]float64, N)}
}

// inflation returns the EnKF-N's inflation λ of the forecast anomalies and
// the corrected εN, given sp factored for C = I + SSᵀ and sd = S d.
func (w *enkfnWork) inflation(sp *space, sd []float64) (lambda, eN float64) {
	N := sp.n
	var trG float64
	for k, lam := range sp.eig.D {
		trG += 1 / lam
		w.sig2[k] = math.Max(lam-1, 0)
		w.b[k] = vec.Dot(sp.eig.VT[k*N:(k+1)*N], sd[:N])
	}
	eN, cL := hyperprior(N, trG, w.xN)
	return math.Sqrt(dualU(w.sig2, w.b, float64(N-1), eN, cL)), eN
}

// hessianRoot writes H^{-1/2} into w.hs.t for the Hessian
// H = I + SSᵀ − 2 wwᵀ/((N−1)εN + wᵀw) of the primal cost, given the
// inflated S and the weights wt = (I + SSᵀ)⁻¹ S d. sp provides the scratch
// for Sᵀ. It reports false if H is not positive definite.
func (w *enkfnWork) hessianRoot(sp *space, S blas64.General, wt []float64, eN float64) bool {
	N := sp.n
	h := w.hs.eig.A
	sp.gram(h, S)
	c := 2 / (float64(N-1)*eN + vec.Dot(wt[:N], wt[:N]))
	vec.Ger(h, N, -c, wt[:N], wt[:N])
	if !w.hs.decompose() {
		return false
	}
	w.hs.formT()
	return true
}

// scale multiplies x by a.
func scale(a float64, x []float64) {
	for i := range x {
		x[i] *= a
	}
}
