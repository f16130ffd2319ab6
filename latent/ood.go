package latent

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/observations"
)

// Observed is the generator seen through an observation operator,
// z ↦ H(G(z)), with the chain-rule Jacobian J_H(G(z)) J_G(z). It owns
// scratch space: not safe for concurrent use.
type Observed struct {
	g      Decoder
	op     observations.Operator
	x      []float64
	jg, jh mat.Dense
}

// NewObserved returns H∘G; H must act on the generator's states.
func NewObserved(g Decoder, op observations.Operator) (*Observed, error) {
	if op.InDim() != g.StateDim() {
		return nil, fmt.Errorf("latent: observation operator acts on %d variables, the generator makes %d", op.InDim(), g.StateDim())
	}
	o := &Observed{g: g, op: op, x: make([]float64, g.StateDim())}
	o.jg.ReuseAs(g.StateDim(), g.LatentDim())
	o.jh.ReuseAs(op.OutDim(), op.InDim())
	return o, nil
}

// LatentDim is the generator's d.
func (o *Observed) LatentDim() int { return o.g.LatentDim() }

// StateDim is the number of observations p.
func (o *Observed) StateDim() int { return o.op.OutDim() }

// Decode sets y = H(G(z)).
func (o *Observed) Decode(y, z []float64) {
	o.g.Decode(o.x, z)
	o.op.Apply(y, o.x)
}

// Jacobian sets J = J_H(G(z)) J_G(z) (p × d).
func (o *Observed) Jacobian(J *mat.Dense, z []float64) {
	if J.IsEmpty() {
		J.ReuseAs(o.StateDim(), o.LatentDim())
	}
	o.g.Decode(o.x, z)
	o.g.Jacobian(&o.jg, z)
	o.op.Jacobian(&o.jh, o.x)
	J.Mul(&o.jh, &o.jg)
}

// ManifoldTest is the generator-manifold test for out-of-distribution
// observations: it finds the code that best explains y,
//
//	z* = argmin_z J(z),   J(z) = ‖R^{-1/2}(y − H(G(z)))‖² + λ‖z‖²,
//
// by Levenberg–Marquardt (see Projector) and returns J* = J(z*). For a
// linear generator G(z) = μ + Wz with codes z ~ N(0, I/λ), a linear H and
// y = H(G(z)) + ε, ε ~ N(0, R), the minimum is the quadratic form
// J* = (y − Hμ)ᵀ(R + HWWᵀHᵀ/λ)⁻¹(y − Hμ), which is χ² with p degrees of
// freedom: the test's threshold is then a χ²(p) quantile. For a nonlinear
// generator, or states the generator represents only approximately, the
// threshold is an empirical quantile of J* on in-distribution data.
//
// Anything that changes y only where H does not look (the null space of H)
// leaves J* unchanged: no observation-space test can see it.
type ManifoldTest struct {
	obs    *Observed
	proj   *Projector
	lambda float64
	std    []float64 // σᵢ
	w      []float64 // 1/σᵢ²
	fit    []float64 // H(G(z*))
	z      []float64
	scores []float64
}

// ManifoldResult is one test.
type ManifoldResult struct {
	Statistic  float64   // J* = Residual + λ‖z*‖²
	Residual   float64   // ‖R^{-1/2}(y − H(G(z*)))‖²
	Scores     []float64 // (yᵢ − H(G(z*))ᵢ)/σᵢ; owned by the test, overwritten by the next call
	Code       []float64 // z*; owned by the test
	Iterations int       // accepted Levenberg–Marquardt steps
}

// NewManifoldTest returns the test of observations made through op with
// error variances rVar (all finite and > 0; SetVariances changes them), for
// the generator g, with code
// prior weight lambda ≥ 0 and at most maxIter Jacobian evaluations per test.
func NewManifoldTest(g Decoder, op observations.Operator, rVar []float64, lambda float64, maxIter int) (*ManifoldTest, error) {
	obs, err := NewObserved(g, op)
	if err != nil {
		return nil, err
	}
	p := op.OutDim()
	for i, v := range rVar {
		if math.IsInf(v, 1) {
			return nil, fmt.Errorf("latent: manifold test: error variance %d is %v, want finite > 0", i, v)
		}
	}
	proj, err := NewProjector(obs, ProjectOptions{Lambda: lambda, MaxIter: maxIter})
	if err != nil {
		return nil, fmt.Errorf("latent: manifold test: %w", err)
	}
	m := &ManifoldTest{obs: obs, proj: proj, lambda: lambda, std: make([]float64, p), w: make([]float64, p),
		fit: make([]float64, p), z: make([]float64, g.LatentDim()), scores: make([]float64, p)}
	if err := m.SetVariances(rVar); err != nil {
		return nil, err
	}
	return m, nil
}

// SetVariances replaces the observation error variances for the next
// tests, as a cycle's observations may carry their own. A variance of +Inf
// takes the observation out of J* (its score is NaN), as it takes it out
// of the analysis. On an error the old variances stay.
func (m *ManifoldTest) SetVariances(rVar []float64) error {
	if len(rVar) != len(m.std) {
		return fmt.Errorf("latent: manifold test: %d error variances for %d observations", len(rVar), len(m.std))
	}
	for i, v := range rVar {
		if !(v > 0) {
			return fmt.Errorf("latent: manifold test: error variance %d is %v, want > 0 (+Inf to leave it out)", i, v)
		}
		m.w[i] = 1 / v // 0 for +Inf
	}
	if err := m.proj.SetWeights(m.w); err != nil {
		return fmt.Errorf("latent: manifold test: %w", err)
	}
	for i, v := range rVar {
		m.std[i] = math.Sqrt(v)
	}
	return nil
}

// Test projects y on the observed manifold starting from the code z0 (the
// ensemble mean code in a cycle) and returns J* with the per-observation
// standardised residuals.
func (m *ManifoldTest) Test(y, z0 []float64) ManifoldResult {
	st := m.proj.Project(m.z, y, z0)
	m.obs.Decode(m.fit, m.z)
	for i, v := range y {
		m.scores[i] = (v - m.fit[i]) / m.std[i]
		if math.IsInf(m.std[i], 1) {
			m.scores[i] = math.NaN()
		}
	}
	res := st.Residual * st.Residual
	return ManifoldResult{Statistic: st.Cost, Residual: res, Scores: m.scores, Code: m.z, Iterations: st.Iterations}
}
