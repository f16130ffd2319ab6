package enkf

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/latentda/latentda/internal/vec"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// # Localised hybrid analysis
//
// AnalyzeHybridLocal is the LETKF with the hybrid background covariance
//
//	P = α L∘Pₑ + (1 − α) BᵀB,
//
// localised by the LETKF's R-localisation, in the climatologically
// augmented ensemble of Lorenc (2003) and Kretschmer et al. (2015): each
// local analysis (a batch of grid points with its tapered observations,
// localize.go) solves for the weights of the M = N + m rows
//
//	X̃ = [√α A/√(N−1); √(1−α) B],   S̃ = X̃ Hₓᵀ R^{-1/2} (M × p),
//
// restricted to the batch's observations and tapered by √ρₖ (the
// Gaspari–Cohn weight of observation k): the mean is
//
//	x̄ᵃⱼ = x̄ⱼ + Σᵢ X̃ᵢⱼ wᵢ,   w = S̃ₗ(I + S̃ₗᵀS̃ₗ)⁻¹dₗ = (I + S̃ₗS̃ₗᵀ)⁻¹S̃ₗdₗ,
//
// the Kalman mean of the local problem for P (push-through identity; the
// smaller of the p_loc × p_loc and M × M systems is solved, by Cholesky).
// The static rows are seen through the same tapered observations as the
// members, so the static part is localised as the ensemble's is; with an
// infinite radius (every taper weight 1) the mean is AnalyzeHybrid's.
// Hₓ is h's Jacobian at the forecast mean, so S̃'s static rows,
// √(1−α) B Hₓᵀ R^{-1/2}, are formed once per analysis (m·n·p), and a
// local analysis costs M·p_loc·min(M, p_loc) + min(M, p_loc)³/3.
//
// The members' anomalies are the LETKF's of the ensemble alone, recentred
// on the hybrid mean: in each batch Aᵃ = (I + SₑSₑᵀ)^{-1/2}A with the
// local Sₑ, the hybrid-gain choice of AnalyzeHybrid (Penny 2014; the
// comment at the top of hybrid.go says why the hybrid's own square root
// collapses the ensemble). The symmetric square root keeps the anomalies
// centred, since Sₑ's columns sum to zero, so the recentring only moves
// each column by the difference between the hybrid and the ensemble mean
// increments. Inflation and rotation follow as for the LETKF. With
// Config.WeightStride above 1 the anomalies' transforms are interpolated
// as the LETKF's are, but every batch solves for its own hybrid mean. With
// α = 1 it is the LETKF, bit for bit: it is the same code.

// hybridLocal is the work space of AnalyzeHybridLocal's mean pass.
type hybridLocal struct {
	lw   localWork // obs and sqrtW of a batch, up to p
	st   []float64 // S̃ₗ (M × p_loc)
	stT  []float64 // S̃ₗᵀ (p_loc × M), formed by weights
	dl   []float64 // dₗ (p_loc)
	g    []float64 // I + S̃ₗᵀS̃ₗ or I + S̃ₗS̃ₗᵀ
	u    []float64 // the right-hand side and solution (max(M, p_loc))
	w    []float64 // the weights (M)
	coef []float64 // the row scales of X̃ (M)
	inc  []float64 // each batch's increment coefficients uᵢ = coefᵢ √Λ_b wᵢ (nbatch × M)
	obs  []bool    // whether each batch has observations
	lam  []float64 // each batch's Λ_b (the localizer's given)
	mean []float64 // the batch's hybrid mean
	// With the EnKF-N (ensembleInflation): each batch's λ_b of the
	// members' part (the localizer's givenN), and the work space.
	lamN []float64
	eN   []float64 // each batch's corrected εN of that dual, for the anomalies' Hessian
	en   *enkfnWork
	sp   *space
	rc   []float64 // R' = I + S_cᵀS_c (p_loc × p_loc), then its Cholesky factor
	xe   []float64 // R'⁻¹Sₑᵀ (p_loc × N)
	v    []float64 // Sₑ R'⁻¹ d (N)
}

func (f *Filter) hybridLocalSpace(M int) *hybridLocal {
	if hl := f.hloc; hl != nil && len(hl.w) == M {
		return hl
	}
	p, bs, nb := f.nobs, f.loc.bs, f.loc.nbatch
	k := min(M, p)
	f.hloc = &hybridLocal{
		lw: localWork{obs: make([]int, p), sqrtW: make([]float64, p)},
		st: make([]float64, M*p), stT: make([]float64, M*p), dl: make([]float64, p), g: make([]float64, k*k),
		u: make([]float64, max(M, p)), w: make([]float64, M), coef: make([]float64, M),
		inc: make([]float64, nb*M), obs: make([]bool, nb), lam: make([]float64, nb), mean: make([]float64, bs),
	}
	if f.cfg.Adaptive != nil {
		hl, N, q := f.hloc, f.members, f.loc.maxObs
		hl.lamN, hl.eN, hl.en, hl.sp = make([]float64, nb), make([]float64, nb), newENKFNWork(f.cfg.Adaptive, N), newSpace(N)
		hl.rc, hl.xe, hl.v = make([]float64, q*q), make([]float64, q*N), make([]float64, N)
	}
	return f.hloc
}

// AnalyzeHybridLocal is the LETKF analysis with the hybrid covariance
// P = α L∘Pₑ + (1 − α) BᵀB, described above: the members' observed
// anomalies come from HE as in Analyze, the static rows' from the tangent
// linear of h at the forecast mean, Hₓ bₖ. The NIS is that of P without
// localisation, before inflation.
//
// With the local innovation inflation (Config.Innovation, Local), Λ_b
// inflates the batch's hybrid covariance, P_b ← Λ_b P: its estimate is
// InnovationInflation's with the batch's tapered augmented S̃ₗ in S's
// place, whose expectation E[d̃ᵀd̃] = Λ tr(S̃ₗᵀS̃ₗ) + Σw counts both parts of
// P; the mean's rows and the members' anomalies are inflated by √Λ_b. The
// EnKF-N alone and the global innovation inflation are refused.
//
// With the EnKF-N as well (Config.Adaptive beside the local innovation
// inflation), each batch's members' part is inflated further by the local
// EnKF-N's λ_b (ensembleInflation; with EnKFN.Memory, its average),
// P_b ← Λ_b (λ_b² α L∘Pₑ + (1 − α) BᵀB):
// in the mean's member rows, and in the members' anomalies. Those are
// the LETKF's, so their transform is the LETKF's EnKF-N transform at λ_b:
// H^{-1/2} with the Hessian H = I + SSᵀ − 2wwᵀ/((N−1)εN + wᵀw) of the
// primal cost at the LETKF's weights w of the inflated ensemble, εN
// being the hybrid dual's; where H is not positive definite (λ_b is the
// hybrid dual's optimum, or its average, not the LETKF's) the ETKF's. Without that
// correction the members under-disperse at N = 4 (docs/benchmarks.md).
//
// With Alpha = 1 it is Analyze, bit for bit (h is not used). It needs the
// LETKF; E is left unchanged when an error is returned.
func (f *Filter) AnalyzeHybridLocal(E, HE *mat.Dense, h ObservationMap, y, rVar []float64, hyb Hybrid, rng *rand.Rand) (Innovation, error) {
	a, inno, err := f.augmented(E, HE, h, y, rVar, hyb, LETKF)
	switch {
	case err != nil:
		return Innovation{}, err
	case a == nil:
		return f.Analyze(E, HE, y, rVar, rng)
	}
	l := f.loc
	hl, err := f.hybridWeights(a, a.alpha)
	if err != nil {
		return Innovation{}, err
	}
	if l.innov != nil {
		l.given = hl.lam
	}
	l.givenN, l.givenEN = hl.lamN, hl.eN // nil without the EnKF-N
	l.analyze(f.out, f.a, f.xm, f.s, f.d)
	l.given, l.givenN, l.givenEN = nil, nil, nil
	f.recentre(a, hl)
	if l.innov != nil {
		if inno.Inflation, err = l.meanInflation(0, l.nbatch); err != nil {
			return Innovation{}, err
		}
	}
	f.postProcess(rng)
	if err := f.store(E.RawMatrix()); err != nil {
		return Innovation{}, err
	}
	if l.innov != nil {
		copy(l.lam, hl.lam) // every batch's own estimate, also between the ends of a weight stride's segments
	}
	if hl.lamN != nil {
		l.carryN(hl.lamN)
	}
	return inno, nil
}

// hybridWeights solves, batch by batch, for the weights of the mean of
// the localised hybrid of weight alpha (the observed augmented rows a.s),
// with the local innovation inflation Λ_b if the filter has it (1
// otherwise), and returns them in the work space: hl.inc, hl.obs, hl.lam.
func (f *Filter) hybridWeights(a *augSpace, alpha float64) (*hybridLocal, error) {
	l, M, p := f.loc, f.members+a.m, f.nobs
	hl := f.hybridLocalSpace(M)
	f.rowScales(hl.coef, alpha)
	for b := range l.nbatch {
		pl := l.selectObs(&hl.lw, b)
		hl.obs[b], hl.lam[b] = pl > 0, 1
		if hl.en != nil {
			hl.lamN[b] = 1
		}
		if l.innov != nil {
			hl.lam[b] = l.lam[b] // kept without observations
		}
		if pl == 0 {
			continue // no observations: the LETKF leaves the forecast, as the hybrid does
		}
		hl.local(a.s, f.d, p, M, pl)
		root := 1.0
		if l.innov != nil {
			hl.lam[b] = l.innov.localInflation(l.lam[b], hl.st[:M*pl], hl.dl[:pl], hl.lw.sqrtW[:pl])
			root = math.Sqrt(hl.lam[b])
			scale(root, hl.st[:M*pl])
		}
		lo, hi := l.span(b)
		if hl.en != nil {
			lamN, eN, err := hl.ensembleInflation(f.members, pl)
			if err != nil {
				return nil, fmt.Errorf("enkf: localised hybrid at grid points %d..%d: %w", lo, hi-1, err)
			}
			lamN = l.carriedN(b, lamN)
			hl.lamN[b], hl.eN[b] = lamN, eN
			scale(lamN, hl.st[:f.members*pl])
		}
		if err := hl.weights(M, pl); err != nil {
			return nil, fmt.Errorf("enkf: localised hybrid at grid points %d..%d: %w", lo, hi-1, err)
		}
		inc := hl.inc[b*M : (b+1)*M]
		for i, c := range hl.coef {
			inc[i] = c * root * hl.w[i]
			if hl.en != nil && i < f.members {
				inc[i] *= hl.lamN[b]
			}
		}
	}
	return hl, nil
}

// ensembleInflation returns the local EnKF-N's inflation λ of the members'
// part of the batch's hybrid covariance and its dual's corrected εN, from the tapered S̃ₗ (hl.st: the
// N member rows Sₑ, then the static rows S_c) and dₗ. The static part is
// not scaled with the members' (the EnKF-N's hyperprior is on the
// ensemble's covariance), so it counts as observation error: in the
// normalised variables the dual's likelihood term is dᵀ(R' + u SₑᵀSₑ)⁻¹d
// with R' = I + S_cᵀS_c, which is EnKFN's with Ŝ = Sₑ R'^{-1/2} and
// d̂ = R'^{-1/2}d in S's and d's places: ŜŜᵀ = Sₑ R'⁻¹ Sₑᵀ, Ŝd̂ = Sₑ R'⁻¹ d.
// Without static rows it is EnKFN's λ.
func (hl *hybridLocal) ensembleInflation(N, pl int) (float64, float64, error) {
	M := len(hl.w)
	se := blas64.General{Rows: N, Cols: pl, Stride: pl, Data: hl.st[:N*pl]}
	sc := blas64.General{Rows: M - N, Cols: pl, Stride: pl, Data: hl.st[N*pl : M*pl]}
	rc := blas64.Symmetric{N: pl, Stride: pl, Uplo: blas.Upper, Data: hl.rc[:pl*pl]}
	blas64.Syrk(blas.Trans, 1, sc, 0, rc)
	for k := range pl {
		rc.Data[k*pl+k]++
	}
	t, ok := lapack64.Potrf(rc)
	if !ok {
		return 0, 0, fmt.Errorf("the static part's observation-space matrix is not positive definite")
	}
	xe := blas64.General{Rows: pl, Cols: N, Stride: N, Data: hl.xe[:pl*N]}
	for i := range N {
		for k, v := range se.Data[i*pl : (i+1)*pl] {
			xe.Data[k*N+i] = v
		}
	}
	lapack64.Potrs(t, xe) // R'⁻¹Sₑᵀ
	c := hl.sp.general(hl.sp.eig.A)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, se, xe, 0, c)
	for i := range N {
		c.Data[i*N+i]++
	}
	if !hl.sp.decompose() {
		return 0, 0, fmt.Errorf("the members' ensemble-space matrix is not positive definite")
	}
	blas64.Gemv(blas.Trans, 1, xe, blas64.Vector{N: pl, Inc: 1, Data: hl.dl[:pl]}, 0, blas64.Vector{N: N, Inc: 1, Data: hl.v})
	lambda, eN := hl.en.inflation(hl.sp, hl.v)
	return lambda, eN, nil
}

// recentre moves the LETKF analysis in f.out, batch by batch, onto the
// mean of the localised hybrid, x̄ + Σᵢ uᵢ xᵢ with the rows xᵢ of a.x and
// the increment coefficients of hybridWeights.
func (f *Filter) recentre(a *augSpace, hl *hybridLocal) {
	N, n, M := f.members, f.dim, f.members+a.m
	for b := range f.loc.nbatch {
		if !hl.obs[b] {
			continue
		}
		lo, hi := f.loc.span(b)
		inc := hl.inc[b*M : (b+1)*M]
		mean := hl.mean[:hi-lo]
		copy(mean, f.xm[lo:hi])
		for i, u := range inc {
			row := a.x[i*n+lo : i*n+hi]
			for j, x := range row {
				mean[j] += u * x
			}
		}
		for j := lo; j < hi; j++ {
			var mo float64
			for i := range N {
				mo += f.out[i*n+j]
			}
			shift := mean[j-lo] - mo/float64(N)
			for i := range N {
				f.out[i*n+j] += shift
			}
		}
	}
}

// local sets S̃ₗ (hl.st) and dₗ (hl.dl) from the M × p matrix s and the
// normalised innovations d for the batch's observations (hl.lw, pl of
// them), tapered by the square roots of their weights.
func (hl *hybridLocal) local(s, d []float64, p, M, pl int) {
	obs, sqrtW := hl.lw.obs[:pl], hl.lw.sqrtW[:pl]
	for i := range M {
		row, out := s[i*p:(i+1)*p], hl.st[i*pl:(i+1)*pl]
		for k, o := range obs {
			out[k] = row[o] * sqrtW[k]
		}
	}
	for k, o := range obs {
		hl.dl[k] = d[o] * sqrtW[k]
	}
}

// weights sets hl.w = (I + S̃ₗS̃ₗᵀ)⁻¹S̃ₗdₗ for the M × pl matrix S̃ₗ and
// dₗ in hl.st and hl.dl, solving the smaller of the two systems by
// Cholesky. The Gram matrix is vec.Gemm's product of S̃ₗ and its
// transpose (hl.stT); the factor's two triangular solves are Trsv's (one
// right-hand side).
func (hl *hybridLocal) weights(M, pl int) error {
	S := blas64.General{Rows: M, Cols: pl, Stride: pl, Data: hl.st[:M*pl]}
	for i := range M {
		for k, v := range S.Data[i*pl : (i+1)*pl] {
			hl.stT[k*M+i] = v
		}
	}
	dl := blas64.Vector{N: pl, Inc: 1, Data: hl.dl[:pl]}
	w := blas64.Vector{N: M, Inc: 1, Data: hl.w}
	k := min(M, pl)
	g := blas64.Symmetric{N: k, Stride: k, Uplo: blas.Upper, Data: hl.g[:k*k]}
	clear(g.Data)
	if k == pl {
		vec.Gemm(pl, pl, M, hl.stT, M, hl.st, pl, g.Data, pl) // S̃ₗᵀS̃ₗ
	} else {
		vec.Gemm(M, M, pl, hl.st, pl, hl.stT, M, g.Data, M) // S̃ₗS̃ₗᵀ
	}
	for i := range k {
		g.Data[i*k+i]++
	}
	t, ok := lapack64.Potrf(g)
	if !ok {
		return fmt.Errorf("the local ensemble-space matrix is not positive definite")
	}
	u := blas64.Vector{N: k, Inc: 1, Data: hl.u[:k]}
	tri := blas64.Triangular{N: k, Stride: k, Uplo: blas.Upper, Diag: blas.NonUnit, Data: t.Data}
	solve := func() { // u ← (UᵀU)⁻¹u
		blas64.Trsv(blas.Trans, tri, u)
		blas64.Trsv(blas.NoTrans, tri, u)
	}
	if k == pl {
		copy(u.Data, dl.Data) // u = (I + S̃ₗᵀS̃ₗ)⁻¹dₗ, w = S̃ₗu
		solve()
		blas64.Gemv(blas.NoTrans, 1, S, u, 0, w)
		return nil
	}
	blas64.Gemv(blas.NoTrans, 1, S, dl, 0, u) // S̃ₗdₗ
	solve()
	copy(hl.w, u.Data)
	return nil
}
