package latent

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

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
	obs *Observed
	// The code climatology of CodeDistance: mean μ and the Cholesky factor
	// of Σ_clim (nil: μ = 0, Σ_clim = I, a PCA's whitened codes).
	codeMean []float64
	codeChol *mat.Cholesky
	dz       []float64
	dzv      *mat.VecDense
	proj     *Projector
	lambda   float64
	std      []float64 // σᵢ
	w        []float64 // 1/σᵢ²
	fit      []float64 // H(G(z*))
	z        []float64
	scores   []float64
}

// ManifoldResult is one test.
type ManifoldResult struct {
	Statistic float64 // J* = Residual + λ‖z*‖²
	Residual  float64 // ‖R^{-1/2}(y − H(G(z*)))‖²
	// CodeDistance is the Mahalanobis distance (z* − μ)ᵀΣ_clim⁻¹(z* − μ)
	// of the code under the code climatology (SetCodeClimatology).
	CodeDistance float64
	Scores       []float64 // (yᵢ − H(G(z*))ᵢ)/σᵢ; owned by the test, overwritten by the next call
	Code         []float64 // z*; owned by the test
	Iterations   int       // accepted Levenberg–Marquardt steps
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
	d := g.LatentDim()
	m := &ManifoldTest{obs: obs, proj: proj, lambda: lambda, std: make([]float64, p), w: make([]float64, p),
		dz: make([]float64, d), dzv: mat.NewVecDense(d, nil),
		fit: make([]float64, p), z: make([]float64, g.LatentDim()), scores: make([]float64, p)}
	if err := m.SetVariances(rVar); err != nil {
		return nil, err
	}
	return m, nil
}

// SetCodeClimatology sets the mean μ (length d) and covariance Σ_clim
// (d × d, row-major, symmetric positive definite) of CodeDistance.
func (m *ManifoldTest) SetCodeClimatology(mean, cov []float64) error {
	d := len(m.dz)
	if len(mean) != d || len(cov) != d*d {
		return fmt.Errorf("latent: manifold test: code climatology of %d and %d values for d = %d", len(mean), len(cov), d)
	}
	var c mat.Cholesky
	if !c.Factorize(mat.NewSymDense(d, slices.Clone(cov))) {
		return fmt.Errorf("latent: manifold test: code covariance is not positive definite")
	}
	m.codeMean, m.codeChol = slices.Clone(mean), &c
	return nil
}

// codeDistance returns (z − μ)ᵀΣ_clim⁻¹(z − μ).
func (m *ManifoldTest) codeDistance(z []float64) float64 {
	if m.codeChol == nil {
		return floats.Dot(z, z)
	}
	floats.SubTo(m.dz, z, m.codeMean)
	if err := m.codeChol.SolveVecTo(m.dzv, mat.NewVecDense(len(m.dz), m.dz)); err != nil {
		return math.NaN()
	}
	return floats.Dot(m.dz, m.dzv.RawVector().Data)
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
	return ManifoldResult{Statistic: st.Cost, Residual: res, CodeDistance: m.codeDistance(m.z), Scores: m.scores, Code: m.z, Iterations: st.Iterations}
}

// PatternWidths are the widths, in grid points, of the localised patterns
// of LocalisedPatterns: a single point, and Gaussian bumps of standard
// deviation 1, 2 and 4 points, the dyadic scales from the grid's own to a
// tenth of a Lorenz-96 domain of 40 points.
var PatternWidths = [...]float64{0, 1, 2, 4}

// MaxPatternCentres bounds the centres of LocalisedPatterns per width, so
// that the chart's bank, and its cost per cycle (one dot product of d per
// pattern), stay bounded on large grids.
const MaxPatternCentres = 1024

// LocalisedPatterns returns the code shifts the projection makes, to first
// order at the code z, for localised bumps added to the observations: for
// each width w of PatternWidths and each point c of the generator's grid
// of n points, taken as periodic (on grids of more than MaxPatternCentres
// points, every ⌈n/MaxPatternCentres⌉-th point), the bump
// bᵢ = exp(−dᵢ²/(2w²)) at observation i, dᵢ the distance of its position
// to c (for w = 0, bᵢ = 1 at c and 0 elsewhere), shifts z* by the
// Gauss–Newton step
//
//	δ = (JᵀWJ + λI)⁻¹ JᵀW b,   J = ∂H(G(z))/∂z,  W = R⁻¹.
//
// Bumps that no observation sees are left out. These are the manifold
// chart's location patterns (CalibrateManifoldChart).
func (m *ManifoldTest) LocalisedPatterns(z []float64) ([][]float64, error) {
	if len(z) != len(m.z) {
		return nil, fmt.Errorf("latent: localised patterns: code of %d values, d = %d", len(z), len(m.z))
	}
	p, d, n := len(m.w), len(m.z), m.obs.g.StateDim()
	var J mat.Dense
	m.obs.Jacobian(&J, z)
	// JᵀW, and the normal matrix JᵀWJ + λI.
	jtw := mat.NewDense(d, p, nil)
	for i := range p {
		for k := range d {
			jtw.Set(k, i, J.At(i, k)*m.w[i])
		}
	}
	var normal mat.Dense
	normal.Mul(jtw, &J)
	for k := range d {
		normal.Set(k, k, normal.At(k, k)+m.lambda)
	}
	var chol mat.Cholesky
	if !chol.Factorize(mat.NewSymDense(d, normal.RawMatrix().Data)) {
		return nil, fmt.Errorf("latent: localised patterns: JᵀWJ + λI is not positive definite (the observations do not determine the code)")
	}
	pos := m.obs.op.Positions()
	b, rhs := mat.NewVecDense(p, nil), mat.NewVecDense(d, nil)
	var out [][]float64
	stride := (n + MaxPatternCentres - 1) / MaxPatternCentres
	for _, w := range PatternWidths {
		for c := 0; c < n; c += stride {
			seen := false
			for i, x := range pos {
				dist := observations.PeriodicDistance(x, float64(c), float64(n))
				v := 0.0
				switch {
				case w > 0:
					v = math.Exp(-dist * dist / (2 * w * w))
				case dist == 0:
					v = 1
				}
				b.SetVec(i, v)
				seen = seen || v > 0
			}
			if !seen {
				continue
			}
			rhs.MulVec(jtw, b)
			delta := mat.NewVecDense(d, nil)
			if err := chol.SolveVecTo(delta, rhs); err != nil {
				return nil, fmt.Errorf("latent: localised patterns: %w", err)
			}
			out = append(out, delta.RawVector().Data)
		}
	}
	return out, nil
}

// TwoSided is the calibrated two-sided manifold score: it asks whether the
// off-manifold residual r = ‖R^{-1/2}(y − H(G(z*)))‖² and the code's
// Mahalanobis distance c = (z* − μ)ᵀΣ_clim⁻¹(z* − μ) are typical of
// in-distribution observations, flagging values that are too small as well
// as too large. In p dimensions a typical residual lies on a shell, not
// near 0, and a lower-energy regime (L96 with a smaller forcing) projects
// to codes nearer μ than the climatology's: a one-sided test of J* scores
// it as more normal than normal.
//
// Each part is a sum of many squared, roughly Gaussian terms, so each gets
// a scaled χ² law — a Gamma(k, θ) with k = m²/s², θ = s²/m from its
// calibration mean m and variance s², χ² with calibrated degrees of
// freedom 2k — and its two-sided p-value p = 2 min(F(x), 1 − F(x)). The
// parametric tails keep p meaningful beyond the calibration sample's range,
// where rank p-values stop at 2/(n + 1). The two are combined by Fisher's
// method, T = −2(ln p_r + ln p_c): a small p-value in either part
// dominates T, so a batch that is atypical only off the manifold or only
// on it is flagged. T would be χ²(4) for independent parts with exact
// laws, but r and c are dependent (both grow with the observations'
// distance from the climatological mean) and only approximately Gamma,
// so the threshold is the empirical (1 − α) quantile of T over the
// calibration sample: the false-alarm rate is α whatever the dependence
// and the misfit.
type TwoSided struct {
	res, code distuv.Gamma
	threshold float64
}

// CalibrateTwoSided returns the test at false-alarm rate alpha from the
// residuals and code distances of n in-distribution batches (n ≥ ⌈1/α⌉,
// all finite, each part with positive variance).
func CalibrateTwoSided(residual, code []float64, alpha float64) (*TwoSided, error) {
	n := len(residual)
	switch {
	case len(code) != n:
		return nil, fmt.Errorf("latent: two-sided calibration: %d residuals, %d code distances", n, len(code))
	case !(alpha > 0 && alpha < 1):
		return nil, fmt.Errorf("latent: two-sided calibration: false-alarm rate %v must be in (0, 1)", alpha)
	case float64(n) < math.Ceil(1/alpha):
		return nil, fmt.Errorf("latent: two-sided calibration: %d values are too few for a false-alarm rate of %v (need >= %.0f)", n, alpha, math.Ceil(1/alpha))
	}
	for i := range residual {
		if !(residual[i] >= 0) || math.IsInf(residual[i], 0) || !(code[i] >= 0) || math.IsInf(code[i], 0) {
			return nil, fmt.Errorf("latent: two-sided calibration: value %d is not finite and >= 0 (residual %v, code distance %v)", i, residual[i], code[i])
		}
	}
	var t TwoSided
	for _, part := range []struct {
		name string
		x    []float64
		dst  *distuv.Gamma
	}{{"residual", residual, &t.res}, {"code distance", code, &t.code}} {
		m, s2 := stat.MeanVariance(part.x, nil)
		if !(s2 > 0) || !(m > 0) {
			return nil, fmt.Errorf("latent: two-sided calibration: %s has mean %v and variance %v, want both > 0", part.name, m, s2)
		}
		*part.dst = distuv.Gamma{Alpha: m * m / s2, Beta: m / s2}
	}
	stats := make([]float64, n)
	for i := range residual {
		stats[i], _, _ = t.Score(residual[i], code[i])
	}
	var err error
	if t.threshold, err = observations.EmpiricalThreshold(stats, alpha); err != nil {
		return nil, fmt.Errorf("latent: two-sided calibration: %w", err)
	}
	return &t, nil
}

// Threshold is the (1 − α) calibration quantile of T.
func (t *TwoSided) Threshold() float64 { return t.threshold }

// DegreesOfFreedom returns the calibrated χ² degrees of freedom 2k of the
// residual's and the code distance's laws.
func (t *TwoSided) DegreesOfFreedom() (res, code float64) { return 2 * t.res.Alpha, 2 * t.code.Alpha }

// Score returns T = −2(ln p_r + ln p_c) and the two p-values of a batch's
// residual and code distance; the batch is flagged when T exceeds
// Threshold. A NaN part has p = 0 (T = +Inf).
func (t *TwoSided) Score(residual, code float64) (stat, pRes, pCode float64) {
	pRes, pCode = twoSidedP(t.res, residual), twoSidedP(t.code, code)
	return -2 * (math.Log(pRes) + math.Log(pCode)), pRes, pCode
}

// twoSidedP is 2 min(F(x), 1 − F(x)) under g.
func twoSidedP(g distuv.Gamma, x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return math.Min(1, 2*math.Min(g.CDF(x), g.Survival(x)))
}
