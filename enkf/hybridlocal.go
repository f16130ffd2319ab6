package enkf

import (
	"fmt"
	"math/rand/v2"

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
	dl   []float64 // dₗ (p_loc)
	g    []float64 // I + S̃ₗᵀS̃ₗ or I + S̃ₗS̃ₗᵀ
	u    []float64 // the right-hand side and solution (max(M, p_loc))
	w    []float64 // the weights (M)
	coef []float64 // the row scales of X̃ (M)
	mean []float64 // the batch's hybrid mean
}

func (f *Filter) hybridLocalSpace(M int) *hybridLocal {
	if hl := f.hloc; hl != nil && len(hl.w) == M {
		return hl
	}
	p, bs := f.nobs, f.loc.bs
	k := min(M, p)
	f.hloc = &hybridLocal{
		lw: localWork{obs: make([]int, p), sqrtW: make([]float64, p)},
		st: make([]float64, M*p), dl: make([]float64, p), g: make([]float64, k*k),
		u: make([]float64, max(M, p)), w: make([]float64, M), coef: make([]float64, M), mean: make([]float64, bs),
	}
	return f.hloc
}

// AnalyzeHybridLocal is the LETKF analysis with the hybrid covariance
// P = α L∘Pₑ + (1 − α) BᵀB, described above: the members' observed
// anomalies come from HE as in Analyze, the static rows' from the tangent
// linear of h at the forecast mean, Hₓ bₖ. The NIS is that of P without
// localisation. With Alpha = 1 it is Analyze, bit for bit (h is not
// used). It needs the LETKF; E is left unchanged when an error is
// returned.
func (f *Filter) AnalyzeHybridLocal(E, HE *mat.Dense, h ObservationMap, y, rVar []float64, hyb Hybrid, rng *rand.Rand) (Innovation, error) {
	a, inno, err := f.augmented(E, HE, h, y, rVar, hyb, LETKF)
	switch {
	case err != nil:
		return Innovation{}, err
	case a == nil:
		return f.Analyze(E, HE, y, rVar, rng)
	}
	f.loc.analyze(f.out, f.a, f.xm, f.s, f.d)
	if err := f.recentre(a, hyb.Alpha); err != nil {
		return Innovation{}, err
	}
	f.postProcess(rng)
	return inno, f.store(E.RawMatrix())
}

// recentre moves the LETKF analysis in f.out, batch by batch, onto the
// mean of the localised hybrid of weight alpha (the augmented rows a.x
// and their observed rows a.s).
func (f *Filter) recentre(a *augSpace, alpha float64) error {
	N, n, p, M := f.members, f.dim, f.nobs, f.members+a.m
	l := f.loc
	hl := f.hybridLocalSpace(M)
	coef := hl.coef
	f.rowScales(coef, alpha)
	for b := range l.nbatch {
		lo, hi := l.span(b)
		pl := l.selectObs(&hl.lw, b)
		if pl == 0 {
			continue // no observations: the LETKF left the forecast, as the hybrid does
		}
		if err := hl.weights(a.s, f.d, p, M, pl); err != nil {
			return fmt.Errorf("enkf: localised hybrid at grid points %d..%d: %w", lo, hi-1, err)
		}
		for i, c := range coef {
			hl.u[i] = c * hl.w[i]
		}
		mean := hl.mean[:hi-lo]
		copy(mean, f.xm[lo:hi])
		for i := range M {
			row := a.x[i*n+lo : i*n+hi]
			for j, x := range row {
				mean[j] += hl.u[i] * x
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
	return nil
}

// weights sets hl.w = (I + S̃ₗS̃ₗᵀ)⁻¹S̃ₗdₗ for the batch's observations
// (hl.lw, pl of them) of the M × p matrix s and the normalised innovations
// d, solving the smaller of the two systems.
func (hl *hybridLocal) weights(s, d []float64, p, M, pl int) error {
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
	S := blas64.General{Rows: M, Cols: pl, Stride: pl, Data: hl.st[:M*pl]}
	dl := blas64.Vector{N: pl, Inc: 1, Data: hl.dl[:pl]}
	w := blas64.Vector{N: M, Inc: 1, Data: hl.w}
	k, trans := pl, blas.Trans // I + S̃ₗᵀS̃ₗ
	if M < pl {
		k, trans = M, blas.NoTrans // I + S̃ₗS̃ₗᵀ
	}
	g := blas64.Symmetric{N: k, Stride: k, Uplo: blas.Upper, Data: hl.g[:k*k]}
	blas64.Syrk(trans, 1, S, 0, g)
	for i := range k {
		g.Data[i*k+i]++
	}
	t, ok := lapack64.Potrf(g)
	if !ok {
		return fmt.Errorf("the local ensemble-space matrix is not positive definite")
	}
	u := blas64.General{Rows: k, Cols: 1, Stride: 1, Data: hl.u[:k]}
	if trans == blas.Trans {
		copy(u.Data, dl.Data) // u = (I + S̃ₗᵀS̃ₗ)⁻¹dₗ, w = S̃ₗu
		lapack64.Potrs(t, u)
		blas64.Gemv(blas.NoTrans, 1, S, blas64.Vector{N: k, Inc: 1, Data: u.Data}, 0, w)
		return nil
	}
	blas64.Gemv(blas.NoTrans, 1, S, dl, 0, blas64.Vector{N: k, Inc: 1, Data: u.Data}) // S̃ₗdₗ
	lapack64.Potrs(t, u)
	copy(hl.w, u.Data)
	return nil
}
