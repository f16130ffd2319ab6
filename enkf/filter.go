package enkf

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/latentda/latentda/internal/rotation"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Filter runs one analysis scheme on ensembles of a fixed size. It owns all
// its work space, so Analyze does not allocate in steady state (the LETKF
// fans out over goroutines when the local analyses are large enough to pay
// for it). A Filter is not safe for concurrent use.
type Filter struct {
	cfg     Config
	members int // N
	dim     int // n
	nobs    int // p
	sqrtN1  float64

	xm   []float64 // forecast mean
	a    []float64 // anomalies A (N × n)
	out  []float64 // W A (N × n)
	ym   []float64 // mean of HE
	rsi  []float64 // R^{-1/2}
	rss  []float64 // R^{-1/2}/√(N-1)
	s    []float64 // S (N × p)
	d    []float64 // R^{-1/2}(y - ȳ)
	dp   []float64 // perturbed innovations (EnKF, N × p)
	eps  []float64 // observation perturbations (EnKF, N × p)
	w    []float64 // W (N × N)
	wm   []float64 // column means of W
	tmp  []float64 // N × N
	vecN []float64
	sd   []float64
	sp   *space
	rot  *rotation.Rotator
	loc  *localizer

	base augSpace      // the N-dimensional ensemble space, on the buffers above
	aug  *augSpace     // the augmented space of a hybrid analysis, made on demand
	iter *iterWork     // the work space of AnalyzeIterative, made on demand
	hloc *hybridLocal  // the work space of AnalyzeHybridLocal, made on demand
	jac  mat.Dense     // ∂h/∂x at a point (p × n), for the hybrid and iterative analyses
	en   *enkfnWork    // adaptive inflation (nil: fixed)
	heI  []float64     // the inflated HE (adaptive EnKF, N × p)
	lam  float64       // Λ, the carried innovation inflation (Config.Innovation)
	hw   *hybridWeight // the hybrid weight estimate (Config.HybridWeight)
}

// Innovation summarises the forecast innovation y - H(x̄) of one analysis.
type Innovation struct {
	// NIS is the normalised innovation squared dᵀ(HPHᵀ + R)⁻¹d with the
	// ensemble covariance P; its expected value is Expected = p when the
	// forecast spread and R are consistent with the actual errors.
	NIS      float64
	Expected float64
	// Inflation is the adaptive inflation of the forecast anomalies: the
	// EnKF-N's (Config.Adaptive; for the LETKF, the mean over the local
	// analyses) or √Λ of the innovation inflation (Config.Innovation; with
	// Local, the mean of √Λ_b over the local analyses); 1 without adaptive
	// inflation.
	Inflation float64
}

// New returns a Filter for ensembles of the given size and state dimension,
// observed at obsPos (grid-index units, one per observation; used for LETKF
// localisation on the periodic domain [0, stateDim)).
func New(cfg Config, members, stateDim int, obsPos []float64) (*Filter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if members < 2 {
		return nil, fmt.Errorf("enkf: need at least 2 members, got %d", members)
	}
	if stateDim < 1 {
		return nil, fmt.Errorf("enkf: state dimension must be >= 1, got %d", stateDim)
	}
	if len(obsPos) < 1 {
		return nil, fmt.Errorf("enkf: need at least one observation")
	}
	if cfg.BlowUp == 0 {
		cfg.BlowUp = DefaultBlowUp
	}
	N, n, p := members, stateDim, len(obsPos)
	f := &Filter{
		cfg: cfg, members: N, dim: n, nobs: p, sqrtN1: math.Sqrt(float64(N - 1)),
		xm: make([]float64, n), a: make([]float64, N*n), out: make([]float64, N*n),
		ym: make([]float64, p), rsi: make([]float64, p), rss: make([]float64, p), s: make([]float64, N*p), d: make([]float64, p),
		w: make([]float64, N*N), wm: make([]float64, N), tmp: make([]float64, N*N), vecN: make([]float64, N), sd: make([]float64, N),
		sp: newSpace(N), lam: 1,
	}
	f.base = augSpace{sp: f.sp, s: f.s, x: f.a, w: f.w, wt: f.vecN, wm: f.wm, sd: f.sd, tmp: f.tmp}
	if cfg.Method == EnKF {
		f.dp = make([]float64, N*p)
		f.eps = make([]float64, N*p)
		if cfg.Adaptive != nil || cfg.Innovation != nil {
			f.heI = make([]float64, N*p)
		}
	}
	if cfg.Method != LETKF {
		f.en = newENKFNWork(cfg.Adaptive, N)
	}
	if cfg.HybridWeight != nil {
		f.hw = &hybridWeight{logPost: make([]float64, len(HybridWeightGrid)*len(HybridScaleGrid))}
	}
	if cfg.Rotate {
		// The global schemes rotate the N × N transform, the LETKF the
		// N × n analysis anomalies.
		cols := N
		if cfg.Method == LETKF {
			cols = n
		}
		f.rot = rotation.New(N, cols)
	}
	if cfg.Method == LETKF {
		loc, err := newLocalizer(cfg, N, n, obsPos)
		if err != nil {
			return nil, err
		}
		f.loc = loc
	}
	return f, nil
}

// Config returns the filter's configuration.
func (f *Filter) Config() Config { return f.cfg }

// Analyze replaces the forecast ensemble E (N × n) by the analysis, given
// HE (N × p) = H applied to each member, the observations y and the diagonal
// of R. An observation with error variance +Inf carries no information and
// is ignored (quality control uses this to reject it). rng drives the observation perturbations (EnKF) and rotations; pass a
// generator seeded from (run, cycle) for reproducible runs. E is left
// unchanged when an error is returned.
func (f *Filter) Analyze(E, HE *mat.Dense, y, rVar []float64, rng *rand.Rand) (Innovation, error) {
	inno, err := f.Innovation(E, HE, y, rVar) // leaves S, its factorisation, Sd and GSd
	if err != nil {
		return Innovation{}, err
	}
	N, p := f.members, f.nobs
	e := E.RawMatrix()
	he := HE.RawMatrix()
	S := blas64.General{Rows: N, Cols: p, Stride: p, Data: f.s}
	T, lambda, lam := f.sp.t, 1.0, f.lam
	if f.cfg.Innovation != nil && !f.cfg.Innovation.Local {
		lam = f.innovationInflation(int(inno.Expected))
		lambda = math.Sqrt(lam)
		if f.cfg.Method == LETKF { // the local analyses read A and S
			scale(lambda, f.a)
			scale(lambda, f.s)
		} else if he, err = f.inflateForecast(S, he, lambda); err != nil {
			return inno, err
		}
	}
	if f.en != nil { // on the forecast inflated by √Λ, if any
		var lambdaN float64
		if T, he, lambdaN, err = f.adapt(S, he); err != nil {
			return inno, err
		}
		lambda *= lambdaN
	}
	inno.Inflation = lambda
	switch {
	case f.cfg.Method == ETKF && f.en == nil:
		f.sp.formT()
	case f.cfg.Method == EnKF, f.cfg.Method == DEnKF:
		f.sp.formG()
	}

	switch f.cfg.Method {
	case ETKF:
		transformETKF(f.w, T, f.vecN, N, N, f.sqrtN1, 1)
	case DEnKF:
		f.transformDEnKF(S)
	case EnKF:
		f.transformEnKF(S, he, y, rng)
	}
	if lambda != 1 && f.cfg.Method != LETKF {
		scale(lambda, f.w) // W acts on the inflated anomalies λA
	}
	if f.cfg.Method == LETKF {
		f.loc.analyze(f.out, f.a, f.xm, f.s, f.d)
		if f.loc.infl != nil { // the local inflations, on top of a global √Λ
			m, err := f.loc.meanInflation(0, f.loc.nbatch)
			if err != nil {
				return inno, err
			}
			inno.Inflation *= m
		}
		f.postProcess(rng)
	} else {
		f.postTransform(&f.base, rng)
		f.applyGlobal(&f.base)
	}
	if err := f.store(e); err != nil {
		return inno, err
	}
	f.lam = lam
	if l := f.loc; l != nil {
		if l.lam != nil {
			copy(l.lam, l.infl)
		}
		if l.inflN != nil { // the EnKF-N's λ on top of the innovation estimate
			l.carryN(l.inflN)
		} else {
			l.carryN(l.infl)
		}
	}
	return inno, nil
}

// store checks the analysis in f.out and copies it into e.
func (f *Filter) store(e blas64.General) error {
	if err := f.checkOutput(); err != nil {
		return err
	}
	n := f.dim
	for i := 0; i < f.members; i++ {
		copy(e.Data[i*e.Stride:i*e.Stride+n], f.out[i*n:(i+1)*n])
	}
	return nil
}

// Innovation is the innovation statistic of the analysis of E, without the
// analysis (Analyze returns the same, bit for bit). A block-wise LETKF
// (AnalyzeBlock) uses it for the cycle's diagnostics.
func (f *Filter) Innovation(E, HE *mat.Dense, y, rVar []float64) (Innovation, error) {
	used, err := f.prepare(E, HE, y, rVar)
	if err != nil {
		return Innovation{}, err
	}
	return f.factorInnovation(&f.base, used)
}

// factorInnovation factors the ensemble-space matrix I + S̃S̃ᵀ of a and
// returns the innovation statistic with d = f.d, used observations.
func (f *Filter) factorInnovation(a *augSpace, used int) (Innovation, error) {
	if !a.sp.factor(a.general(a.s, f.nobs)) {
		return Innovation{}, fmt.Errorf("enkf: eigendecomposition of the ensemble-space matrix failed")
	}
	inno := f.innovation(a) // leaves S̃d in a.sd and GS̃d in a.wt
	inno.Expected = float64(used)
	return inno, nil
}

// prepare checks the inputs and computes the forecast mean x̄ (f.xm), the
// anomalies A (f.a), and the normalised innovations d = R^{-1/2}(y − ȳ)
// (f.d) and observed anomalies S = R^{-1/2}(HE − 1ȳᵀ)/√(N−1) (f.s). It
// returns the number of observations used (finite variance).
func (f *Filter) prepare(E, HE *mat.Dense, y, rVar []float64) (used int, err error) {
	if err := f.checkInputs(E, HE, y, rVar); err != nil {
		return 0, err
	}
	N, p := f.members, f.nobs
	he := HE.RawMatrix()
	f.anomalies(E.RawMatrix())
	meanRows(f.ym, he)
	used = f.scales(rVar)
	for k, v := range f.ym[:p] {
		f.d[k] = (y[k] - v) * f.rsi[k]
	}
	ym, scale := f.ym[:p], f.rss[:p]
	for i := 0; i < N; i++ {
		row, s := he.Data[i*he.Stride:i*he.Stride+p], f.s[i*p:(i+1)*p]
		for k, v := range row {
			s[k] = (v - ym[k]) * scale[k]
		}
	}
	return used, nil
}

// anomalies sets the mean x̄ (f.xm) and the anomalies A (f.a) of e.
func (f *Filter) anomalies(e blas64.General) {
	n := f.dim
	meanRows(f.xm, e)
	for i := 0; i < f.members; i++ {
		row, a := e.Data[i*e.Stride:i*e.Stride+n], f.a[i*n:(i+1)*n]
		for j, x := range row {
			a[j] = x - f.xm[j]
		}
	}
}

// scales sets R^{-1/2} (f.rsi) and R^{-1/2}/√(N−1) (f.rss) and returns the
// number of observations used (finite variance).
func (f *Filter) scales(rVar []float64) (used int) {
	rsi, scale := f.rsi[:f.nobs], f.rss[:f.nobs]
	for k := range rsi {
		rsi[k] = 1 / math.Sqrt(rVar[k]) // 0 for a rejected observation
		scale[k] = rsi[k] / f.sqrtN1
		if rsi[k] > 0 {
			used++
		}
	}
	return used
}

// AnalyzeBlock is the LETKF analysis of the grid points [lo, hi) alone: it
// writes into dst (N × (hi−lo)) the columns lo..hi−1 of the analysis that
// Analyze would give, bit for bit, and leaves E unchanged. The local
// analyses are independent, so blocks of the domain can be analysed by
// different workers and put together. lo and hi must fall on batch
// boundaries (multiples of BatchSize, or hi = n). It needs the LETKF
// without rotation (a rotation mixes all columns with one random matrix)
// and without the innovation inflation.
func (f *Filter) AnalyzeBlock(dst, E, HE *mat.Dense, y, rVar []float64, lo, hi int) error {
	if f.loc == nil || f.rot != nil {
		return fmt.Errorf("enkf: block analysis needs the LETKF without rotation")
	}
	if f.cfg.Innovation != nil {
		return fmt.Errorf("enkf: block analysis cannot carry the innovation inflation (one global estimate from all observations)")
	}
	bs := f.loc.bs
	if lo < 0 || hi > f.dim || lo >= hi || lo%bs != 0 || (hi%bs != 0 && hi != f.dim) {
		return fmt.Errorf("enkf: block [%d, %d) is not a range of whole batches of %d in [0, %d)", lo, hi, bs, f.dim)
	}
	N, n := f.members, f.dim
	if r, c := dst.Dims(); r != N || c != hi-lo {
		return fmt.Errorf("enkf: block destination is %d×%d, want %d×%d", r, c, N, hi-lo)
	}
	if _, err := f.prepare(E, HE, y, rVar); err != nil {
		return err
	}
	f.loc.analyzeRange(f.out, f.a, f.xm, f.s, f.d, lo/bs, (hi+bs-1)/bs)
	if f.loc.en != nil {
		if _, err := f.loc.meanInflation(lo/bs, (hi+bs-1)/bs); err != nil {
			return err
		}
	}
	// Inflation as postProcess does it, column by column.
	for j := lo; j < hi; j++ {
		var m float64
		if f.cfg.Inflation != 1 {
			for i := 0; i < N; i++ {
				m += f.out[i*n+j]
			}
			m *= 1 / float64(N)
		}
		for i := 0; i < N; i++ {
			v := f.out[i*n+j]
			if f.cfg.Inflation != 1 {
				v = f.cfg.Inflation*(v-m) + m
			}
			if !(math.Abs(v) <= f.cfg.BlowUp) {
				return fmt.Errorf("enkf: analysis member %d variable %d is %v (diverged)", i, j, v)
			}
			dst.Set(i, j-lo, v)
		}
	}
	return nil
}

// adapt runs the EnKF-N of a global scheme on the factored forecast
// (Innovation's state, or inflateForecast's after the innovation
// inflation): it solves the dual for the inflation λ, inflates S
// in place and HE (EnKF, into f.heI), factors I + λ²SSᵀ and leaves λSd in
// f.sd and (I + λ²SSᵀ)⁻¹λSd in f.vecN. For the ETKF it returns the
// Hessian-based transform T; the caller scales the final W by λ, which
// inflates the anomalies.
func (f *Filter) adapt(S, he blas64.General) (T []float64, heI blas64.General, lambda float64, err error) {
	lambda, eN := f.en.inflation(f.sp, f.sd)
	if he, err = f.inflateForecast(S, he, lambda); err != nil {
		return nil, he, 0, err
	}
	if f.cfg.Method == ETKF {
		if !f.en.hessianRoot(f.sp, S, f.vecN, eN) {
			return nil, he, 0, fmt.Errorf("enkf: EnKF-N: the Hessian of the primal cost is not positive definite (inflation %v)", lambda)
		}
		T = f.en.hs.t
	}
	return T, he, lambda, nil
}

// inflateForecast inflates the forecast anomalies of a global scheme by
// lambda as seen through S and HE: it scales S in place, factors
// I + λ²SSᵀ, leaves λSd in f.sd and (I + λ²SSᵀ)⁻¹λSd in f.vecN, and for the
// EnKF returns HE inflated about its mean (in f.heI). The caller scales
// the final W by λ, which inflates the anomalies A.
func (f *Filter) inflateForecast(S, he blas64.General, lambda float64) (blas64.General, error) {
	N, p := f.members, f.nobs
	scale(lambda, f.s)
	if !f.sp.factor(S) {
		return he, fmt.Errorf("enkf: adaptive inflation: eigendecomposition of the inflated ensemble-space matrix failed")
	}
	blas64.Gemv(blas.NoTrans, 1, S, blas64.Vector{N: p, Inc: 1, Data: f.d}, 0, blas64.Vector{N: N, Inc: 1, Data: f.sd})
	f.sp.solve(f.vecN, f.sd, f.tmp)
	if f.cfg.Method != EnKF {
		return he, nil
	}
	// The members seen through H, inflated about their mean.
	for i := 0; i < N; i++ {
		row, out := he.Data[i*he.Stride:i*he.Stride+p], f.heI[i*p:(i+1)*p]
		for k, v := range row {
			out[k] = f.ym[k] + lambda*(v-f.ym[k])
		}
	}
	return blas64.General{Rows: N, Cols: p, Stride: p, Data: f.heI}, nil
}

// innovation computes NIS (its Expected is left to the caller) = |d|² - (S̃d)ᵀ G (S̃d), which equals
// dᵀ(S̃ᵀS̃ + I)⁻¹d = (y-ȳ)ᵀ(HPHᵀ + R)⁻¹(y-ȳ) by the Woodbury identity, for
// the covariance P = X̃ᵀX̃ of the space a (the ensemble's, or a hybrid). It
// leaves S̃d in a.sd and GS̃d in a.wt.
func (f *Filter) innovation(a *augSpace) Innovation {
	M := f.members + a.m
	blas64.Gemv(blas.NoTrans, 1, a.general(a.s, f.nobs), blas64.Vector{N: f.nobs, Inc: 1, Data: f.d}, 0, blas64.Vector{N: M, Inc: 1, Data: a.sd})
	sgs := a.sp.solve(a.wt, a.sd, a.tmp)
	var dd float64
	for _, v := range f.d {
		dd += v * v
	}
	return Innovation{NIS: dd - sgs}
}

// transformETKF writes into W (N × M) the transform of the ETKF whose mean
// update has the weights w = C̃⁻¹S̃d in an ensemble space of M = N + m
// dimensions (the members and the m static rows of a hybrid covariance,
// hybrid.go) and whose anomalies follow the members' square root T
// (N × N), so that Eᵃ = 1x̄ᵀ + W X with X = [A; B]:
//
//	W = [T + (√α/√(N−1)) 1w₁ᵀ,  √(1−α) 1w₂ᵀ];
//
// for the plain ETKF (m = 0, α = 1) that is W = T + 1wᵀ/√(N-1). w is
// overwritten by the scaled weights.
func transformETKF(W, T, w []float64, N, M int, sqrtN1, alpha float64) {
	w = w[:M]
	sa := math.Sqrt(alpha)
	for j := range w[:N] {
		w[j] = w[j] * sa / sqrtN1 // exactly w/√(N−1) when α = 1
	}
	if M > N {
		sb := math.Sqrt(1 - alpha)
		for j := N; j < M; j++ {
			w[j] *= sb
		}
	}
	for i := 0; i < N; i++ {
		row, t := W[i*M:(i+1)*M], T[i*N:(i+1)*N]
		for j, c := range w[:N] {
			row[j] = t[j] + c
		}
		copy(row[N:], w[N:])
	}
}

// transformDEnKF writes W = I + 1(GSd)ᵀ/√(N-1) - ½ S Sᵀ G (f.vecN holds GSd).
func (f *Filter) transformDEnKF(S blas64.General) {
	N := f.members
	tmp := f.sp.general(f.tmp)
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, S, S, 0, tmp)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, -0.5, tmp, f.sp.general(f.sp.g), 0, f.sp.general(f.w))
	for i := 0; i < N; i++ {
		for j := 0; j < N; j++ {
			f.w[i*N+j] += f.vecN[j] / f.sqrtN1
		}
		f.w[i*N+i]++
	}
}

// transformEnKF writes W = I + D Sᵀ G/√(N-1), where row i of D is
// R^{-1/2}(y - εᵢ - H(xᵢ)) and the perturbations εᵢ ~ N(0, R) are centred so
// that they do not shift the analysis mean.
func (f *Filter) transformEnKF(S blas64.General, he blas64.General, y []float64, rng *rand.Rand) {
	N, p := f.members, f.nobs
	for i := range f.eps {
		f.eps[i] = rng.NormFloat64()
	}
	for k := 0; k < p; k++ {
		var m float64
		for i := 0; i < N; i++ {
			m += f.eps[i*p+k]
		}
		m /= float64(N)
		if f.rsi[k] == 0 { // rejected: no perturbation, no influence
			for i := 0; i < N; i++ {
				f.dp[i*p+k] = 0
			}
			continue
		}
		sd := 1 / f.rsi[k]
		for i := 0; i < N; i++ {
			eps := (f.eps[i*p+k] - m) * sd
			f.dp[i*p+k] = (y[k] - eps - he.Data[i*he.Stride+k]) * f.rsi[k]
		}
	}
	D := blas64.General{Rows: N, Cols: p, Stride: p, Data: f.dp}
	tmp := f.sp.general(f.tmp)
	blas64.Gemm(blas.NoTrans, blas.Trans, 1/f.sqrtN1, D, S, 0, tmp)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, tmp, f.sp.general(f.sp.g), 0, f.sp.general(f.w))
	for i := 0; i < N; i++ {
		f.w[i*N+i]++
	}
}

// applyGlobal writes out = 1x̄ᵀ + W X for the N × M transform W of the
// space a and X = [A; B] (M = N + m; X = A for the ensemble's own space).
func (f *Filter) applyGlobal(a *augSpace) {
	N, n, M := f.members, f.dim, f.members+a.m
	clear(f.out)
	vec.Gemm(N, n, M, a.w, M, a.x, n, f.out, n)
	for i := 0; i < N; i++ {
		vec.Axpy(1, f.xm, f.out[i*n:(i+1)*n])
	}
}

// postTransform folds inflation and rotation into the transform of a
// global scheme. With c = Wᵀ1/N the analysis mean is x̄ + Aᵀc and the
// analysis anomalies are B A with B = W - 1cᵀ, so inflating and rotating
// them, Eᵃ ← 1x̄ᵃᵀ + λ Q (Eᵃ - 1x̄ᵃᵀ), is W ← 1cᵀ + λ Q B: an N × N
// operation instead of an N × n one. The same holds for the N × M
// transform of an augmented space (hybrid.go), with c of length M.
func (f *Filter) postTransform(a *augSpace, rng *rand.Rand) {
	if f.cfg.Inflation == 1 && f.rot == nil {
		return
	}
	N, M := f.members, f.members+a.m
	W := blas64.General{Rows: N, Cols: M, Stride: M, Data: a.w[:N*M]}
	wm := a.wm[:M]
	meanRows(wm, W)
	for i := 0; i < N; i++ {
		row := a.w[i*M : (i+1)*M]
		for j, c := range wm {
			row[j] -= c
		}
	}
	if f.rot != nil {
		f.rot.Apply(W, rng)
	}
	for i := 0; i < N; i++ {
		row := a.w[i*M : (i+1)*M]
		for j, c := range wm {
			row[j] = f.cfg.Inflation*row[j] + c
		}
	}
}

// postProcess inflates and optionally rotates the LETKF analysis anomalies
// in f.out, keeping the analysis mean: Eᵃ ← 1x̄ᵃᵀ + λ Q (Eᵃ - 1x̄ᵃᵀ).
func (f *Filter) postProcess(rng *rand.Rand) {
	if f.cfg.Inflation == 1 && f.rot == nil {
		return
	}
	N, n := f.members, f.dim
	out := blas64.General{Rows: N, Cols: n, Stride: n, Data: f.out}
	meanRows(f.xm, out)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			f.a[i*n+j] = f.cfg.Inflation * (f.out[i*n+j] - f.xm[j])
		}
	}
	if f.rot != nil {
		f.rot.Apply(blas64.General{Rows: N, Cols: n, Stride: n, Data: f.a}, rng)
	}
	copy(f.out, f.a)
	for i := 0; i < N; i++ {
		for j := 0; j < n; j++ {
			f.out[i*n+j] += f.xm[j]
		}
	}
}

func (f *Filter) checkInputs(E, HE *mat.Dense, y, rVar []float64) error {
	N, n, p := f.members, f.dim, f.nobs
	if r, c := E.Dims(); r != N || c != n {
		return fmt.Errorf("enkf: ensemble is %d×%d, want %d×%d (members × state)", r, c, N, n)
	}
	if r, c := HE.Dims(); r != N || c != p {
		return fmt.Errorf("enkf: observed ensemble is %d×%d, want %d×%d (members × observations)", r, c, N, p)
	}
	if err := f.checkObs(y, rVar); err != nil {
		return err
	}
	if err := CheckEnsemble(E, "enkf: forecast", f.cfg.BlowUp); err != nil {
		return err
	}
	if i, j, v, ok := firstBad(HE.RawMatrix(), math.Inf(1)); !ok {
		return fmt.Errorf("enkf: observed forecast member %d observation %d is %v", i, j, v)
	}
	return nil
}

// checkObs checks the observations and their error variances.
func (f *Filter) checkObs(y, rVar []float64) error {
	p := f.nobs
	if len(y) != p || len(rVar) != p {
		return fmt.Errorf("enkf: got %d observations and %d error variances, want %d", len(y), len(rVar), p)
	}
	for k := 0; k < p; k++ {
		if math.IsNaN(y[k]) || math.IsInf(y[k], 0) {
			return fmt.Errorf("enkf: observation %d is %v", k, y[k])
		}
		if !(rVar[k] > 0) {
			return fmt.Errorf("enkf: observation %d has error variance %v, want > 0 (+Inf to ignore it)", k, rVar[k])
		}
	}
	return nil
}

func (f *Filter) checkOutput() error {
	out := blas64.General{Rows: f.members, Cols: f.dim, Stride: f.dim, Data: f.out}
	if i, j, v, ok := firstBad(out, f.cfg.BlowUp); !ok {
		return fmt.Errorf("enkf: analysis member %d variable %d is %v (diverged)", i, j, v)
	}
	return nil
}

// CheckEnsemble reports the first entry of E (members × variables) that is
// NaN or larger than limit in magnitude, as "<what> member i variable j is
// v (diverged)"; nil if there is none. It is the divergence guard.
func CheckEnsemble(E *mat.Dense, what string, limit float64) error {
	if i, j, v, ok := firstBad(E.RawMatrix(), limit); !ok {
		return fmt.Errorf("%s member %d variable %d is %v (diverged)", what, i, j, v)
	}
	return nil
}

// firstBad finds the first entry that is NaN or larger than limit in
// magnitude.
func firstBad(m blas64.General, limit float64) (i, j int, v float64, ok bool) {
	for i := 0; i < m.Rows; i++ {
		row := m.Data[i*m.Stride : i*m.Stride+m.Cols]
		if vec.AllWithin(row, limit) {
			continue
		}
		for j, v := range row {
			if !(math.Abs(v) <= limit) {
				return i, j, v, false
			}
		}
	}
	return 0, 0, 0, true
}

// meanRows writes the mean of the rows of m into dst.
func meanRows(dst []float64, m blas64.General) { vec.MeanRows(dst, m.Data, m.Rows, m.Stride) }
