package enkf

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Hybrid and iterative analyses.
//
// # Hybrid covariance in an augmented ensemble space
//
// A hybrid analysis replaces the ensemble covariance Pₑ = AᵀA/(N−1) by
//
//	P = α Pₑ + (1 − α) BᵀB,    0 < α ≤ 1,
//
// where the m rows bₖ of B are a square root of a static covariance Σ = BᵀB
// (a climatological covariance: Hamill and Snyder 2000; Lorenc 2003 writes
// it as an extended control variable). With the M = N + m rows
//
//	X̃ = [√α A/√(N−1); √(1−α) B]    (M × n),   P = X̃ᵀX̃,
//
// the ETKF's mean update holds in the M-dimensional space of the weights w:
// x = x̄ + X̃ᵀw, S̃ = X̃ Hᵀ R^{-1/2} (the rows of X̃ seen by the observations),
// C̃ = I + S̃S̃ᵀ, and the analysis mean x̄ + X̃ᵀC̃⁻¹S̃d is the Kalman mean for
// P. The NIS is that of P.
//
// The members' anomalies follow the ensemble's own square root,
// Aᵃ = (I + SₑSₑᵀ)^{-1/2} A with Sₑ = R^{-1/2}HAᵀ/√(N−1), recentred on the
// hybrid mean: the hybrid-gain choice of Penny (2014) and of operational
// hybrids, whose perturbations come from the ensemble filter. The
// alternative, transforming A by the square root that takes P to the
// hybrid posterior X̃ᵀC̃⁻¹X̃ (the left transform P^{1/2}C^{-1/2}P^{-1/2} of
// Tippett et al. 2003), shrinks the ensemble by the fraction by which the
// static part shrinks P; with Σ much wider than Pₑ that collapses the
// ensemble within a few cycles (measured on KS with a PCA of d = 49 and
// α = 0.5: analysis spread 0.004 for an error of 0.41), and the analysis
// degenerates to a static-covariance one. With α = 1 (or m = 0) this is
// the ETKF, bit for bit: it is the same code.
//
// # Iterative analysis
//
// AnalyzeIterative finds the maximum a posteriori state for a nonlinear
// observation map h by Gauss–Newton iterations in the weights w,
//
//	J(w) = ½‖w‖² + ½‖R^{-1/2}(y − h(x̄ + X̃ᵀw))‖²,
//
// which is ½‖x − x̄‖²_{P⁻¹} + ½‖y − h(x)‖²_{R⁻¹} on the range of P (all of
// ℝⁿ when P is invertible), as the iterative ensemble Kalman filter and
// smoother do in ensemble space (Sakov, Oliver and Bertino 2012, Bocquet and
// Sakov 2014), but with the exact tangent linear Hₓ = ∂h/∂x in place of the
// ensemble's finite differences: each iteration forms S̃ = X̃ Hₓᵀ R^{-1/2} at
// the current x and takes the step δ = C̃⁻¹(S̃r − w), r = R^{-1/2}(y − h(x)),
// halving it while it does not lower J. The anomalies are then updated as
// above with Sₑ = R^{-1/2} Hₓ Aᵀ/√(N−1) of the last linearisation (at the
// MAP once the iterations have converged), as the IEnKF does. For a linear
// h the first step lands on the MAP, which is the Kalman analysis mean for
// the covariance P, and the anomalies are the ETKF's, so the ensemble
// covariance is the Kalman one when α = 1.

// Hybrid is the static part of a hybrid covariance P = α Pₑ + (1 − α) BᵀB.
type Hybrid struct {
	// Alpha is the weight of the ensemble covariance, in (0, 1]; 1 is the
	// ensemble's covariance alone.
	Alpha float64
	// B (m × n) holds the rows of a square root of the static covariance,
	// Σ = BᵀB. It is not read when Alpha is 1.
	B *mat.Dense
}

// ObservationMap is a differentiable observation operator on the filter's
// variables (for a latent filter on codes z, the map z ↦ H(G(z))).
// observations.Operator implements it.
type ObservationMap interface {
	// Apply writes h(x) (length p) into dst.
	Apply(dst, x []float64)
	// Jacobian writes ∂h/∂x at x (p × n) into dst, every entry.
	Jacobian(dst *mat.Dense, x []float64)
}

// IterOptions tune AnalyzeIterative.
type IterOptions struct {
	// MaxIter bounds the Gauss–Newton linearisations (Jacobians of h) per
	// analysis (default 10); 1 is a single linearisation at the forecast
	// mean.
	MaxIter int
	// Tol stops the iterations when the step δ in the weights has
	// ‖δ‖ ≤ Tol·√M (an RMS step of Tol prior standard deviations; default
	// 1e-4).
	Tol float64
}

// IterStats reports an iterative analysis.
type IterStats struct {
	Iterations  int     // linearisations (Jacobians of h)
	Converged   bool    // the step tolerance was met within MaxIter
	InitialCost float64 // J at the forecast mean
	Cost        float64 // J at the analysis mean
}

// Defaults of IterOptions.
const (
	DefaultMaxIter = 10
	DefaultIterTol = 1e-4
)

// maxHalvings bounds the step halvings of one Gauss–Newton iteration.
const maxHalvings = 20

// augSpace is the ensemble space of an ETKF-type analysis with M = N + m
// dimensions: the N members and the m rows of a hybrid covariance's static
// part. The filter's own space (m = 0) uses the filter's buffers.
type augSpace struct {
	m     int
	alpha float64   // the hybrid weight of the analysis
	sp    *space    // factors C̃ = I + S̃S̃ᵀ (M × M)
	s     []float64 // S̃ (M × p)
	x     []float64 // X = [A; B] (M × n), unscaled
	w     []float64 // the transform W (N × M)
	wt    []float64 // weights (M)
	wm    []float64 // column means of W (M)
	sd    []float64 // S̃d (M)
	tmp   []float64 // scratchh, at least M
}

// general views data as a matrix of M rows and the given columns.
func (a *augSpace) general(data []float64, cols int) blas64.General {
	M := a.sp.n
	return blas64.General{Rows: M, Cols: cols, Stride: cols, Data: data[:M*cols]}
}

// ensembleSpace returns the ensemble space for a hybrid covariance with m static
// rows (the filter's own when m = 0), making it on first use.
func (f *Filter) ensembleSpace(m int) *augSpace {
	if m == 0 {
		return &f.base
	}
	if f.aug == nil || f.aug.m != m {
		N, n, M := f.members, f.dim, f.members+m
		f.aug = &augSpace{m: m, sp: newSpace(M), s: make([]float64, M*f.nobs), x: make([]float64, M*n),
			w: make([]float64, N*M), wt: make([]float64, M), wm: make([]float64, M), sd: make([]float64, M), tmp: make([]float64, M)}
	}
	return f.aug
}

// staticRows validates h for an analysis that needs the given method and
// returns the number m of static rows it adds (0 when Alpha is 1).
func (f *Filter) staticRows(h Hybrid, method Method) (int, error) {
	switch {
	case method == ETKF && f.cfg.Method != ETKF:
		return 0, fmt.Errorf("enkf: hybrid and iterative analyses use the ETKF transform, not %s", f.cfg.Method)
	case f.cfg.Method != method:
		return 0, fmt.Errorf("enkf: the localised hybrid analysis needs the LETKF, not %s", f.cfg.Method)
	}
	if !(h.Alpha > 0 && h.Alpha <= 1) {
		return 0, fmt.Errorf("enkf: hybrid weight alpha must be in (0, 1], got %v", h.Alpha)
	}
	switch {
	case h.Alpha == 1 && f.hw == nil:
		return 0, nil
	case (h.B == nil || h.B.IsEmpty()) && f.hw != nil:
		return 0, fmt.Errorf("enkf: the hybrid weight estimate needs the static square root B")
	case h.B == nil || h.B.IsEmpty():
		return 0, fmt.Errorf("enkf: hybrid weight alpha %v < 1 needs the static square root B", h.Alpha)
	}
	m, c := h.B.Dims()
	if c != f.dim {
		return 0, fmt.Errorf("enkf: static square root B is %d×%d, want %d columns", m, c, f.dim)
	}
	if i, j, v, ok := firstBad(h.B.RawMatrix(), math.Inf(1)); !ok {
		return 0, fmt.Errorf("enkf: static square root B[%d][%d] is %v", i, j, v)
	}
	return m, nil
}

// fill copies the rows of B below the anomalies in a.x (f.anomalies has
// set f.a) and sets coef to the row scales of X̃: √α/√(N−1) for the
// members, √(1−α) for the static rows.
func (f *Filter) fill(a *augSpace, h Hybrid, coef []float64) {
	N, n := f.members, f.dim
	if a.m > 0 {
		copy(a.x, f.a)
		b := h.B.RawMatrix()
		for k := 0; k < a.m; k++ {
			copy(a.x[(N+k)*n:(N+k+1)*n], b.Data[k*b.Stride:k*b.Stride+n])
		}
	}
	f.rowScales(coef, h.Alpha)
}

// rowScales sets coef to the row scales of X̃: √α/√(N−1) for the members,
// √(1−α) for the static rows.
func (f *Filter) rowScales(coef []float64, alpha float64) {
	for j := range coef {
		if j < f.members {
			coef[j] = math.Sqrt(alpha) / f.sqrtN1
		} else {
			coef[j] = math.Sqrt(1 - alpha)
		}
	}
}

// linearRows sets rows lo..hi−1 of S̃ to coefᵢ R^{-1/2} Hₓ xᵢ for the rows
// xᵢ of a.x and the Jacobian Hₓ in f.jac.
func (f *Filter) linearRows(a *augSpace, coef []float64, lo, hi int) {
	n, p := f.dim, f.nobs
	X := blas64.General{Rows: hi - lo, Cols: n, Stride: n, Data: a.x[lo*n : hi*n]}
	S := blas64.General{Rows: hi - lo, Cols: p, Stride: p, Data: a.s[lo*p : hi*p]}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, X, f.jac.RawMatrix(), 0, S)
	for i := lo; i < hi; i++ {
		row := a.s[i*p : (i+1)*p]
		for k := range row {
			row[k] *= coef[i] * f.rsi[k]
		}
	}
}

// finish turns the weights in a.wt into the analysis of the space a and
// stores it in e. The members' square root is that of the N × N matrix
// I + SₑSₑᵀ, Sₑ the first N rows of a.s without their √α: f.sp holds its
// factorisation already when m = 0 (a is the filter's own space).
func (f *Filter) finish(a *augSpace, alpha float64, e blas64.General, rng *rand.Rand) error {
	N, p := f.members, f.nobs
	if a.m > 0 {
		inv := 1 / math.Sqrt(alpha)
		for i, v := range a.s[:N*p] {
			f.s[i] = v * inv
		}
		if !f.sp.factor(f.base.general(f.s, p)) {
			return fmt.Errorf("enkf: eigendecomposition of the ensemble-space matrix failed")
		}
	}
	f.sp.formT()
	transformETKF(a.w, f.sp.t, a.wt, N, N+a.m, f.sqrtN1, alpha)
	f.postTransform(a, rng)
	f.applyGlobal(a)
	return f.store(e)
}

// jacobian sizes f.jac for p × n Jacobians.
func (f *Filter) jacobian() {
	if f.jac.IsEmpty() {
		f.jac.ReuseAs(f.nobs, f.dim)
	}
}

// AnalyzeHybrid is the ETKF analysis with the hybrid covariance
// P = α Pₑ + (1 − α) BᵀB (see the comment at the top of hybrid.go): the
// members' observed anomalies come from HE as in Analyze, the static rows'
// from the tangent linear of h at the forecast mean, Hₓ bₖ. The NIS is that
// of P. With Alpha = 1 it is Analyze, bit for bit (h is not used). It
// needs the ETKF; E is left unchanged when an error is returned.
func (f *Filter) AnalyzeHybrid(E, HE *mat.Dense, h ObservationMap, y, rVar []float64, hyb Hybrid, rng *rand.Rand) (Innovation, error) {
	a, inno, err := f.augmented(E, HE, h, y, rVar, hyb, ETKF)
	switch {
	case err != nil:
		return Innovation{}, err
	case a == nil:
		return f.Analyze(E, HE, y, rVar, rng)
	}
	return inno, f.finish(a, a.alpha, E.RawMatrix(), rng)
}

// augmented sets up the hybrid analysis of E that AnalyzeHybrid and
// AnalyzeHybridLocal share, for a filter of the given method: the forecast
// mean, anomalies and innovations, the augmented rows X̃ (a.x, unscaled)
// and their observed rows S̃ (a.s), and the factorisation of C̃ with the
// NIS of P (leaving C̃⁻¹S̃d in a.wt), with a.alpha the weight: Alpha, or
// with Config.HybridWeight its estimate from this analysis's innovations.
// It returns a nil space when Alpha is 1 without the estimate: the
// analysis is then Analyze's.
func (f *Filter) augmented(E, HE *mat.Dense, h ObservationMap, y, rVar []float64, hyb Hybrid, method Method) (*augSpace, Innovation, error) {
	if f.adaptive() && hyb.Alpha < 1 && !(method == LETKF && f.localInnovation()) {
		return nil, Innovation{}, errAdaptiveHybrid
	}
	m, err := f.staticRows(hyb, method)
	if err != nil || m == 0 {
		return nil, Innovation{}, err
	}
	used, err := f.prepare(E, HE, y, rVar)
	if err != nil {
		return nil, Innovation{}, err
	}
	N, p := f.members, f.nobs
	a := f.ensembleSpace(m)
	coef := a.tmp[:N+m]
	a.alpha = hyb.Alpha
	f.fill(a, hyb, coef)
	f.jacobian()
	h.Jacobian(&f.jac, f.xm)
	if _, _, v, ok := firstBad(f.jac.RawMatrix(), math.Inf(1)); !ok {
		return nil, Innovation{}, fmt.Errorf("enkf: Jacobian of the observation map at the forecast mean has %v", v)
	}
	if f.hw == nil {
		f.linearRows(a, coef, N, N+m)
	} else {
		// The estimate reads the static rows unscaled (coefficient 1);
		// they are then scaled by the estimated √(1 − α).
		f.rowScales(coef, 0)
		f.linearRows(a, coef, N, N+m)
		if a.alpha, err = f.estimateAlpha(f.s, a.s[N*p:], f.d, m); err != nil {
			return nil, Innovation{}, err
		}
		scale(math.Sqrt(1-a.alpha), a.s[N*p:(N+m)*p])
		f.rowScales(coef, a.alpha)
	}
	sa := math.Sqrt(a.alpha)
	for i, v := range f.s[:N*p] {
		a.s[i] = sa * v
	}
	inno, err := f.factorInnovation(a, used) // leaves C̃⁻¹S̃d in a.wt
	if err != nil {
		return nil, Innovation{}, err
	}
	return a, inno, nil
}

// iterWork is the work space of AnalyzeIterative.
type iterWork struct {
	x, xt   []float64 // the current and the trial state (n)
	hx      []float64 // h(x) (p)
	r, rt   []float64 // R^{-1/2}(y − h(x)) at x and at the trial (p)
	w, wt   []float64 // the weights and the trial weights (M)
	delta   []float64 // the step (M)
	v       []float64 // scaled weights (M)
	coef    []float64 // row scales of X̃ (M)
	rhs     []float64 // S̃r − w (M)
	scratch []float64 // M
}

func (f *Filter) iterSpace(M int) *iterWork {
	if it := f.iter; it != nil && len(it.w) == M {
		return it
	}
	n, p := f.dim, f.nobs
	f.iter = &iterWork{x: make([]float64, n), xt: make([]float64, n), hx: make([]float64, p), r: make([]float64, p), rt: make([]float64, p),
		w: make([]float64, M), wt: make([]float64, M), delta: make([]float64, M), v: make([]float64, M), coef: make([]float64, M),
		rhs: make([]float64, M), scratch: make([]float64, M)}
	return f.iter
}

// AnalyzeIterative replaces the forecast ensemble E (N × n) by the
// Gauss–Newton analysis for the observation map h with the hybrid
// covariance hyb (Alpha = 1 for the ensemble's alone), described at the
// top of hybrid.go. The NIS is that of the linearisation at the forecast
// mean, (y − h(x̄))ᵀ(HₓPHₓᵀ + R)⁻¹(y − h(x̄)). Observations with variance
// +Inf are ignored. It needs the ETKF; rng drives the rotation, if any. E
// is left unchanged when an error is returned.
func (f *Filter) AnalyzeIterative(E *mat.Dense, h ObservationMap, y, rVar []float64, hyb Hybrid, opts IterOptions, rng *rand.Rand) (Innovation, IterStats, error) {
	if opts.MaxIter == 0 {
		opts.MaxIter = DefaultMaxIter
	}
	if opts.Tol == 0 {
		opts.Tol = DefaultIterTol
	}
	if f.adaptive() {
		return Innovation{}, IterStats{}, errAdaptiveHybrid
	}
	if opts.MaxIter < 1 || !(opts.Tol > 0) {
		return Innovation{}, IterStats{}, fmt.Errorf("enkf: iterative analysis needs MaxIter >= 1 and Tol > 0, got %d and %v", opts.MaxIter, opts.Tol)
	}
	m, err := f.staticRows(hyb, ETKF)
	if err != nil {
		return Innovation{}, IterStats{}, err
	}
	if r, c := E.Dims(); r != f.members || c != f.dim {
		return Innovation{}, IterStats{}, fmt.Errorf("enkf: ensemble is %d×%d, want %d×%d (members × state)", r, c, f.members, f.dim)
	}
	if err := f.checkObs(y, rVar); err != nil {
		return Innovation{}, IterStats{}, err
	}
	if err := CheckEnsemble(E, "enkf: forecast", f.cfg.BlowUp); err != nil {
		return Innovation{}, IterStats{}, err
	}
	M := f.members + m
	a := f.ensembleSpace(m)
	it := f.iterSpace(M)
	f.anomalies(E.RawMatrix())
	used := f.scales(rVar)
	f.fill(a, hyb, it.coef)
	f.jacobian()
	clear(it.w)
	copy(it.x, f.xm)
	cost, err := f.misfit(it.r, h, it.x, y)
	if err != nil {
		return Innovation{}, IterStats{}, err
	}
	st := IterStats{InitialCost: cost}
	var inno Innovation
	tol := opts.Tol * math.Sqrt(float64(M))
	for st.Iterations < opts.MaxIter {
		h.Jacobian(&f.jac, it.x)
		if _, _, v, ok := firstBad(f.jac.RawMatrix(), math.Inf(1)); !ok {
			return Innovation{}, st, fmt.Errorf("enkf: iteration %d: Jacobian of the observation map has %v", st.Iterations, v)
		}
		f.linearRows(a, it.coef, 0, M)
		copy(f.d, it.r)
		in, err := f.factorInnovation(a, used)
		if err != nil {
			return Innovation{}, st, err
		}
		if st.Iterations == 0 {
			inno = in
		}
		st.Iterations++
		// δ = C̃⁻¹(S̃r − w); a.sd holds S̃r.
		for j := range it.rhs {
			it.rhs[j] = a.sd[j] - it.w[j]
		}
		a.sp.solve(it.delta, it.rhs, it.scratch)
		if vec.Dot(it.delta, it.delta) <= tol*tol {
			st.Converged = true
			break
		}
		accepted := false
		for range maxHalvings {
			for j, wj := range it.w {
				it.wt[j] = wj + it.delta[j]
			}
			f.state(it.xt, a, it.coef, it.wt, it.v)
			ct, err := f.misfit(it.rt, h, it.xt, y)
			if err == nil {
				ct += 0.5 * vec.Dot(it.wt, it.wt)
				if ct <= cost {
					it.w, it.wt = it.wt, it.w
					it.x, it.xt = it.xt, it.x
					it.r, it.rt = it.rt, it.r
					cost, accepted = ct, true
					break
				}
			}
			for j := range it.delta {
				it.delta[j] *= 0.5
			}
		}
		if !accepted {
			break // no decrease along the Gauss–Newton direction: J is flat to round-off
		}
	}
	st.Cost = cost
	copy(a.wt, it.w)
	return inno, st, f.finish(a, hyb.Alpha, E.RawMatrix(), rng)
}

// state sets x = x̄ + X̃ᵀw, using v for the scaled weights.
func (f *Filter) state(x []float64, a *augSpace, coef, w, v []float64) {
	for j, c := range coef {
		v[j] = c * w[j]
	}
	copy(x, f.xm)
	vec.GemvT(x, v, a.x, f.dim)
}

// misfit sets r = R^{-1/2}(y − h(x)) and returns ½‖r‖²; it fails if h(x)
// is not finite.
func (f *Filter) misfit(r []float64, h ObservationMap, x, y []float64) (float64, error) {
	hx := f.iter.hx
	h.Apply(hx, x)
	for k, v := range hx {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("enkf: observation map gives %v for observation %d", v, k)
		}
		r[k] = (y[k] - v) * f.rsi[k]
	}
	return 0.5 * vec.Dot(r, r), nil
}
