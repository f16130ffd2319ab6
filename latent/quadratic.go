package latent

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/check"
)

// DefaultQuadraticLambdas are the candidate relative regularisation weights
// of FitQuadratic.
var DefaultQuadraticLambdas = []float64{0, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1}

// DefaultQuadraticEncoderIter is the default number of Gauss–Newton
// iterations of the quadratic generator's encoder.
const DefaultQuadraticEncoderIter = 5

// QuadraticOptions configures FitQuadratic.
type QuadraticOptions struct {
	// Dim is the latent dimension d ≥ 1, at most the rank of the centred
	// training data.
	Dim int
	// Lambdas are the candidate relative Tikhonov weights λ ≥ 0 of the
	// quadratic coefficients (default DefaultQuadraticLambdas). With
	// validation data the one with the lowest held-out error is chosen;
	// without, exactly one must be given.
	Lambdas []float64
	// EncoderIter bounds the Gauss–Newton iterations of the encoder
	// (default DefaultQuadraticEncoderIter).
	EncoderIter int
}

// QuadraticParams are the parameters of a quadratic generator, for
// storage: the PCA part, the n × d(d+1)/2 quadratic coefficients W
// (row-major), the training mean q̄ of the monomials, the chosen relative
// regularisation and the encoder's iteration bound.
type QuadraticParams struct {
	PCA         PCAParams `json:"pca"`
	Quadratic   []float64 `json:"quadratic"`
	QuadMean    []float64 `json:"quad_mean"`
	Lambda      float64   `json:"lambda"`
	EncoderIter int       `json:"encoder_iter"`
}

// Quadratic is the quadratic-manifold generator
//
//	G(z) = μ + V z + W (q(z) − q̄),   q(z) = (z_i z_j)_{i ≤ j}   (d(d+1)/2 monomials),
//
// where μ + V z is the whitened PCA generator of the training data (see
// [PCA]: V = [σ₁v₁ … σ_d v_d], codes of unit variance), q(z) lists the
// unique quadratic monomials in the order (0,0), (0,1), …, (0,d−1), (1,1),
// …, (d−1,d−1), and q̄ is their mean over the training codes, so that the
// generator's mean over the training codes is μ.
//
// W is fitted by Tikhonov-regularised least squares to the PCA residuals
// of the training data (see [FitQuadratic]). Those residuals are orthogonal
// to the range of V, and so are the columns of W: the PCA code E₀(x) =
// V⁺(x − μ) of G(z) is z. The encoder starts from E₀(x) and takes at most
// EncoderIter Gauss–Newton steps towards argmin ‖x − G(z)‖ (see
// [Projector]). The Jacobian is exact:
//
//	J = V + W ∂q/∂z,   ∂(z_i z_j)/∂z_k = δ_ik z_j + δ_jk z_i,
//
// evaluated as Jᵣ = Vᵣ + Aᵣ z with each grid point's symmetric d × d
// Hessian Aᵣ, unpacked from W once (n d² numbers beside W's n d(d+1)/2):
// a matrix–vector product per row instead of a scalar loop.
//
// A Quadratic owns scratch space and is not safe for concurrent use; use
// Clone for another goroutine.
type Quadratic struct {
	pca     *PCA
	p       int       // d(d+1)/2
	w       []float64 // n × p
	hess    []float64 // n × d × d: row r's symmetric A_r with ∂G_r/∂z = V_r + A_r z
	qmean   []float64 // p
	lambda  float64
	encIter int

	// scratch
	q    []float64 // p
	z0   []float64 // d
	proj *Projector
}

// FitQuadratic fits the quadratic generator of dimension opts.Dim to train
// (m samples × n, one state per row). With Z the whitened PCA codes of the
// training states, Q the m × p matrix of their centred monomials q(z) − q̄
// and R the PCA residuals x − μ − V z (m × n), it sets
//
//	Wᵀ = (QᵀQ + λ s̄² I)⁺ QᵀR,   s̄² = tr(QᵀQ)/p,
//
// for each candidate relative weight λ of opts.Lambdas (by one symmetric
// eigendecomposition of QᵀQ; the pseudo-inverse drops the directions where
// the eigenvalue plus λ s̄² is below p·ε times the largest eigenvalue). If valid is not nil (and has rows), λ is
// the candidate with the lowest mean squared error ‖x − G(E₀(x))‖² on
// valid, E₀ the PCA code; otherwise opts.Lambdas must hold one value.
//
// It fails on the errors of FitPCA, if valid has another number of
// columns or non-finite values, or if the options are invalid.
func FitQuadratic(train, valid *mat.Dense, opts QuadraticOptions) (*Quadratic, error) {
	if opts.Lambdas == nil {
		opts.Lambdas = DefaultQuadraticLambdas
	}
	if opts.EncoderIter == 0 {
		opts.EncoderIter = DefaultQuadraticEncoderIter
	}
	if opts.Dim < 1 {
		return nil, fmt.Errorf("latent: FitQuadratic: Dim must be ≥ 1, got %d", opts.Dim)
	}
	if opts.EncoderIter < 1 {
		return nil, fmt.Errorf("latent: FitQuadratic: EncoderIter must be ≥ 1, got %d", opts.EncoderIter)
	}
	if len(opts.Lambdas) == 0 {
		return nil, errors.New("latent: FitQuadratic: no candidate Lambdas")
	}
	for _, l := range opts.Lambdas {
		if !(l >= 0) || math.IsInf(l, 0) {
			return nil, fmt.Errorf("latent: FitQuadratic: Lambdas must be finite and ≥ 0, got %v", l)
		}
	}
	hasValid := valid != nil && !valid.IsEmpty()
	if !hasValid && len(opts.Lambdas) != 1 {
		return nil, fmt.Errorf("latent: FitQuadratic: %d candidate Lambdas need validation data to choose from", len(opts.Lambdas))
	}
	pca, err := FitPCA(train, PCAOptions{Dim: opts.Dim})
	if err != nil {
		return nil, fmt.Errorf("latent: FitQuadratic: %w", err)
	}
	n, d := pca.n, pca.d
	if hasValid {
		_, nv, err := check.Data("latent: FitQuadratic: validation data", valid)
		if err != nil {
			return nil, err
		}
		if nv != n {
			return nil, fmt.Errorf("latent: FitQuadratic: validation data have %d columns, training data %d", nv, n)
		}
	}
	p := d * (d + 1) / 2
	g := &Quadratic{pca: pca, p: p, w: make([]float64, n*p), qmean: make([]float64, p), encIter: opts.EncoderIter}

	// Monomials and residuals of the training data; q̄ from the raw monomials.
	Q, R := g.design(train, nil)
	m, _ := Q.Dims()
	for i := 0; i < m; i++ {
		for k, v := range Q.RawRowView(i) {
			g.qmean[k] += v
		}
	}
	for k := range g.qmean {
		g.qmean[k] /= float64(m)
	}
	centre(Q, g.qmean)

	// QᵀQ = P diag(e) Pᵀ, B = Pᵀ QᵀR (p × n).
	var qtq mat.SymDense
	qtq.SymOuterK(1, Q.T())
	var eig mat.EigenSym
	if !eig.Factorize(&qtq, true) {
		return nil, errors.New("latent: FitQuadratic: eigendecomposition did not converge")
	}
	e := eig.Values(nil)
	var P mat.Dense
	eig.VectorsTo(&P)
	var qtr, B mat.Dense
	qtr.Mul(Q.T(), R)
	B.Mul(P.T(), &qtr)
	emax, etr := 0.0, 0.0
	for _, v := range e {
		emax = max(emax, v)
		etr += v
	}
	cut := float64(p) * 0x1p-52 * emax
	sbar2 := etr / float64(p)

	var Qv, Rv *mat.Dense
	if hasValid {
		Qv, Rv = g.design(valid, g.qmean)
	}
	var wt, C mat.Dense // Wᵀ (p × n)
	best := math.Inf(1)
	for _, lam := range opts.Lambdas {
		// Wᵀ = P diag(1/(e + λ s̄²)) B.
		C.CloneFrom(&B)
		for k, v := range e {
			row := C.RawRowView(k)
			f := 0.0
			if den := v + lam*sbar2; den > cut {
				f = 1 / den
			}
			for j := range row {
				row[j] *= f
			}
		}
		wt.Mul(&P, &C)
		err := 0.0
		if hasValid {
			var res mat.Dense
			res.Mul(Qv, &wt)
			res.Sub(Rv, &res)
			err = mat.Norm(&res, 2)
		}
		if !hasValid || err < best {
			best = err
			g.lambda = lam
			for i := 0; i < n; i++ {
				for k := 0; k < p; k++ {
					g.w[i*p+k] = wt.At(k, i)
				}
			}
		}
	}
	g.hess = hessians(g.w, n, d)
	g.allocScratch()
	return g, nil
}

// design returns the monomials q(E₀(x)) of the PCA codes of the rows of X
// (centred by qmean unless it is nil) and the PCA residuals x − μ − V E₀(x).
func (g *Quadratic) design(X *mat.Dense, qmean []float64) (Q, R *mat.Dense) {
	m, n := X.Dims()
	d := g.pca.d
	Q = mat.NewDense(m, g.p, nil)
	R = mat.NewDense(m, n, nil)
	z := make([]float64, d)
	for i := 0; i < m; i++ {
		x := X.RawRowView(i)
		g.pca.Encode(z, x)
		monomials(Q.RawRowView(i), z)
		r := R.RawRowView(i)
		g.pca.Decode(r, z)
		for j, v := range x {
			r[j] = v - r[j]
		}
	}
	if qmean != nil {
		centre(Q, qmean)
	}
	return Q, R
}

func centre(Q *mat.Dense, mean []float64) {
	m, _ := Q.Dims()
	for i := 0; i < m; i++ {
		row := Q.RawRowView(i)
		for k, v := range mean {
			row[k] -= v
		}
	}
}

// monomials sets q to the unique products z_i z_j, i ≤ j, in row-major
// upper-triangular order.
func monomials(q, z []float64) {
	k := 0
	for i, zi := range z {
		for _, zj := range z[i:] {
			q[k] = zi * zj
			k++
		}
	}
}

// NewQuadratic returns the quadratic generator with stored parameters; see
// NewPCA for the conditions on p.PCA. Quadratic must have n·d(d+1)/2 finite
// entries, QuadMean d(d+1)/2, Lambda be finite and ≥ 0 and EncoderIter ≥ 1.
func NewQuadratic(p QuadraticParams) (*Quadratic, error) {
	pca, err := NewPCA(p.PCA)
	if err != nil {
		return nil, fmt.Errorf("latent: NewQuadratic: %w", err)
	}
	n, d := pca.n, pca.d
	np := d * (d + 1) / 2
	switch {
	case len(p.Quadratic) != n*np:
		return nil, fmt.Errorf("latent: NewQuadratic: len(Quadratic) = %d, want n·d(d+1)/2 = %d", len(p.Quadratic), n*np)
	case len(p.QuadMean) != np:
		return nil, fmt.Errorf("latent: NewQuadratic: len(QuadMean) = %d, want d(d+1)/2 = %d", len(p.QuadMean), np)
	case !check.Finite(p.Quadratic) || !check.Finite(p.QuadMean):
		return nil, errors.New("latent: NewQuadratic: non-finite parameter")
	case !(p.Lambda >= 0) || math.IsInf(p.Lambda, 0):
		return nil, fmt.Errorf("latent: NewQuadratic: Lambda must be finite and ≥ 0, got %v", p.Lambda)
	case p.EncoderIter < 1:
		return nil, fmt.Errorf("latent: NewQuadratic: EncoderIter must be ≥ 1, got %d", p.EncoderIter)
	}
	g := &Quadratic{pca: pca, p: np, w: append([]float64(nil), p.Quadratic...),
		qmean: append([]float64(nil), p.QuadMean...), lambda: p.Lambda, encIter: p.EncoderIter}
	g.hess = hessians(g.w, n, d)
	g.allocScratch()
	return g, nil
}

// hessians unpacks W (n × d(d+1)/2, the monomials in monomials' order)
// into the n symmetric d × d matrices Aᵣ of ∂Gᵣ/∂z = Vᵣ + Aᵣ z: the
// monomial z_i z_j of weight w adds w to Aᵣ[i][j] and to Aᵣ[j][i] (2w on
// the diagonal).
func hessians(w []float64, n, d int) []float64 {
	p := d * (d + 1) / 2
	h := make([]float64, n*d*d)
	for r := range n {
		a, k := h[r*d*d:(r+1)*d*d], r*p
		for i := range d {
			for j := i; j < d; j++ {
				a[i*d+j] += w[k]
				a[j*d+i] += w[k]
				k++
			}
		}
	}
	return h
}

func (g *Quadratic) allocScratch() {
	g.q = make([]float64, g.p)
	g.z0 = make([]float64, g.pca.d)
	proj, err := NewProjector(g, ProjectOptions{MaxIter: g.encIter})
	if err != nil {
		panic("latent: internal error: " + err.Error())
	}
	g.proj = proj
}

// Params returns a copy of the parameters of g.
func (g *Quadratic) Params() QuadraticParams {
	return QuadraticParams{
		PCA:         g.pca.Params(),
		Quadratic:   append([]float64(nil), g.w...),
		QuadMean:    append([]float64(nil), g.qmean...),
		Lambda:      g.lambda,
		EncoderIter: g.encIter,
	}
}

// Lambda returns the relative regularisation weight of the fit.
func (g *Quadratic) Lambda() float64 { return g.lambda }

// Name returns "quadratic".
func (g *Quadratic) Name() string { return "quadratic" }

// LatentDim returns d.
func (g *Quadratic) LatentDim() int { return g.pca.d }

// StateDim returns n.
func (g *Quadratic) StateDim() int { return g.pca.n }

// Clone returns a generator sharing the parameters of g with its own
// scratch space.
func (g *Quadratic) Clone() Generator {
	c := &Quadratic{pca: g.pca, p: g.p, w: g.w, hess: g.hess, qmean: g.qmean, lambda: g.lambda, encIter: g.encIter}
	c.allocScratch()
	return c
}

// Decode sets x = μ + V z + W (q(z) − q̄).
func (g *Quadratic) Decode(x, z []float64) {
	g.pca.Decode(x, z)
	monomials(g.q, z)
	for k, v := range g.qmean {
		g.q[k] -= v
	}
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: g.pca.n, Cols: g.p, Stride: g.p, Data: g.w},
		blas64.Vector{N: g.p, Inc: 1, Data: g.q}, 1, blas64.Vector{N: g.pca.n, Inc: 1, Data: x})
}

// Encode sets z to the code reached from the PCA code V⁺(x − μ) by at most
// EncoderIter damped Gauss–Newton steps on ‖x − G(z)‖².
func (g *Quadratic) Encode(z, x []float64) {
	g.pca.Encode(g.z0, x)
	g.proj.Project(z, x, g.z0)
}

// Jacobian sets J = V + W ∂q/∂z at z: row r is Vᵣ + Aᵣ z.
func (g *Quadratic) Jacobian(J *mat.Dense, z []float64) {
	g.pca.Jacobian(J, z)
	raw := J.RawMatrix()
	d := g.pca.d
	zv := blas64.Vector{N: d, Inc: 1, Data: z}
	for r := range g.pca.n {
		a := blas64.General{Rows: d, Cols: d, Stride: d, Data: g.hess[r*d*d : (r+1)*d*d]}
		blas64.Gemv(blas.NoTrans, 1, a, zv, 1, blas64.Vector{N: d, Inc: 1, Data: raw.Data[r*raw.Stride : r*raw.Stride+d]})
	}
}
