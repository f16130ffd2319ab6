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

// PCAOptions selects the number of retained components. Exactly one of the
// fields must be set.
type PCAOptions struct {
	// Dim is the latent dimension d, 1 ≤ d ≤ rank of the centred data.
	Dim int
	// Variance, in (0, 1], picks the smallest d whose components explain at
	// least this fraction of the total variance (capped at the rank).
	Variance float64
}

// PCA is the linear generator of empirical orthogonal functions with
// whitened codes. With μ the sample mean of the training states, vₖ the
// principal axes (orthonormal) and σₖ² = sₖ²/(m−1) the variances along them
// (sₖ the singular values of the centred m × n data),
//
//	G(z) = μ + W z,         W = [σ₁v₁ … σ_d v_d]       (n × d)
//	E(x) = W⁺(x − μ),       W⁺ = diag(1/σ) [v₁ … v_d]ᵀ  (d × n)
//	J    = W.
//
// The codes of the training states have zero mean and unit variance per
// component, and are uncorrelated, so N(0, I) is the natural latent prior.
// E is the least-squares code, argmin ‖x − G(z)‖, and E(G(z)) = z; with
// d = n (full rank, which needs m > n) also G(E(x)) = x.
//
// The sign of each axis is fixed so that its entry of largest magnitude is
// positive. PCA has no scratch space and is safe for concurrent use.
type PCA struct {
	n, d  int
	mean  []float64
	comp  []float64 // d × n, rows vₖᵀ
	scale []float64 // σₖ
	w     []float64 // n × d, W
	winv  []float64 // d × n, W⁺
	total float64   // total variance, trace of the sample covariance
}

// PCAParams are the parameters of a PCA generator, for storage.
// They follow scikit-learn: Mean is mean_, Components is components_
// (d × n, row-major, orthonormal rows), Scales is sqrt(explained_variance_)
// and TotalVariance is explained_variance_[k]/explained_variance_ratio_[k].
type PCAParams struct {
	Mean          []float64 `json:"mean"`
	Components    []float64 `json:"components"`
	Scales        []float64 `json:"scales"`
	TotalVariance float64   `json:"total_variance"`
}

// FitPCA computes the principal components of X (m samples × n, one state
// per row) from the thin singular value decomposition of the centred data
// X − 1μᵀ = U S Vᵀ, and returns the whitened PCA generator of dimension
// opts.Dim, or of the smallest dimension explaining opts.Variance.
//
// It fails if m < 2, if X holds a NaN or an infinity, if the data are
// constant, or if d exceeds the numerical rank of the centred data (singular
// values above max(m, n)·ε·s₁).
func FitPCA(X *mat.Dense, opts PCAOptions) (*PCA, error) {
	m, n, err := check.Data("latent: FitPCA", X)
	if err != nil {
		return nil, err
	}
	if m < 2 {
		return nil, fmt.Errorf("latent: FitPCA: need at least 2 samples, got %d", m)
	}
	switch {
	case opts.Dim < 0:
		return nil, fmt.Errorf("latent: FitPCA: Dim must be ≥ 0, got %d", opts.Dim)
	case opts.Dim > 0 && opts.Variance != 0:
		return nil, errors.New("latent: FitPCA: set Dim or Variance, not both")
	case opts.Dim == 0 && !(opts.Variance > 0 && opts.Variance <= 1):
		return nil, fmt.Errorf("latent: FitPCA: need Dim ≥ 1 or Variance in (0, 1], got Dim = 0, Variance = %v", opts.Variance)
	}

	mean := make([]float64, n)
	raw := X.RawMatrix()
	for i := 0; i < m; i++ {
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+n] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(m)
	}
	xc := mat.NewDense(m, n, nil)
	for i := 0; i < m; i++ {
		dst := xc.RawRowView(i)
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+n] {
			dst[j] = v - mean[j]
		}
	}

	var svd mat.SVD
	if !svd.Factorize(xc, mat.SVDThinV) {
		return nil, errors.New("latent: FitPCA: SVD did not converge")
	}
	s := svd.Values(nil)
	var V mat.Dense
	svd.VTo(&V) // n × min(m, n)

	if s[0] == 0 {
		return nil, errors.New("latent: FitPCA: the data are constant")
	}
	tol := float64(max(m, n)) * 0x1p-52 * s[0]
	rank := 0
	for _, v := range s {
		if v > tol {
			rank++
		}
	}
	var ss float64
	for _, v := range s {
		ss += v * v
	}
	dof := float64(m - 1)
	total := ss / dof

	d := opts.Dim
	if d == 0 {
		var cum float64
		for k := 0; k < rank; k++ {
			cum += s[k] * s[k] / ss
			d = k + 1
			if cum >= opts.Variance-1e-12 {
				break
			}
		}
	}
	if d > rank {
		return nil, fmt.Errorf("latent: FitPCA: Dim = %d exceeds the rank %d of the centred data (%d samples × %d)", d, rank, m, n)
	}

	comp := make([]float64, d*n)
	scale := make([]float64, d)
	for k := 0; k < d; k++ {
		row := comp[k*n : (k+1)*n]
		imax := 0
		for j := range row {
			row[j] = V.At(j, k)
			if math.Abs(row[j]) > math.Abs(row[imax]) {
				imax = j
			}
		}
		if row[imax] < 0 {
			for j := range row {
				row[j] = -row[j]
			}
		}
		scale[k] = s[k] / math.Sqrt(dof)
	}
	return newPCA(mean, comp, scale, total), nil
}

// NewPCA returns the PCA generator with stored parameters. The rows of
// p.Components must be orthonormal (to 1e-8) and p.Scales positive.
func NewPCA(p PCAParams) (*PCA, error) {
	n, d := len(p.Mean), len(p.Scales)
	switch {
	case n == 0 || d == 0:
		return nil, errors.New("latent: NewPCA: empty Mean or Scales")
	case d > n:
		return nil, fmt.Errorf("latent: NewPCA: %d components for %d variables", d, n)
	case len(p.Components) != d*n:
		return nil, fmt.Errorf("latent: NewPCA: len(Components) = %d, want d·n = %d", len(p.Components), d*n)
	case !check.Finite(p.Mean) || !check.Finite(p.Components) || !check.Finite(p.Scales):
		return nil, errors.New("latent: NewPCA: non-finite parameter")
	case !(p.TotalVariance > 0) || math.IsInf(p.TotalVariance, 0):
		return nil, fmt.Errorf("latent: NewPCA: TotalVariance must be finite and > 0, got %v", p.TotalVariance)
	}
	for k, v := range p.Scales {
		if !(v > 0) {
			return nil, fmt.Errorf("latent: NewPCA: Scales[%d] = %v, want > 0", k, v)
		}
	}
	for k := 0; k < d; k++ {
		for l := 0; l <= k; l++ {
			var dot float64
			for j := 0; j < n; j++ {
				dot += p.Components[k*n+j] * p.Components[l*n+j]
			}
			want := 0.0
			if k == l {
				want = 1
			}
			if math.Abs(dot-want) > 1e-8 {
				return nil, fmt.Errorf("latent: NewPCA: components %d and %d are not orthonormal (dot = %v)", k, l, dot)
			}
		}
	}
	return newPCA(append([]float64(nil), p.Mean...), append([]float64(nil), p.Components...),
		append([]float64(nil), p.Scales...), p.TotalVariance), nil
}

func newPCA(mean, comp, scale []float64, total float64) *PCA {
	n, d := len(mean), len(scale)
	w := make([]float64, n*d)
	winv := make([]float64, d*n)
	for k := 0; k < d; k++ {
		for j := 0; j < n; j++ {
			v := comp[k*n+j]
			w[j*d+k] = v * scale[k]
			winv[k*n+j] = v / scale[k]
		}
	}
	return &PCA{n: n, d: d, mean: mean, comp: comp, scale: scale, w: w, winv: winv, total: total}
}

// Params returns a copy of the parameters of p.
func (p *PCA) Params() PCAParams {
	return PCAParams{
		Mean:          append([]float64(nil), p.mean...),
		Components:    append([]float64(nil), p.comp...),
		Scales:        append([]float64(nil), p.scale...),
		TotalVariance: p.total,
	}
}

// Name returns "pca".
func (p *PCA) Name() string { return "pca" }

// LatentDim returns d.
func (p *PCA) LatentDim() int { return p.d }

// StateDim returns n.
func (p *PCA) StateDim() int { return p.n }

// ExplainedVariance returns σ₁², …, σ_d², the sample variance of the
// training data along each retained axis, in decreasing order.
func (p *PCA) ExplainedVariance() []float64 {
	v := make([]float64, p.d)
	for k, s := range p.scale {
		v[k] = s * s
	}
	return v
}

// ExplainedVarianceRatio returns σₖ² divided by the total variance of the
// training data, for the retained axes.
func (p *PCA) ExplainedVarianceRatio() []float64 {
	v := p.ExplainedVariance()
	for k := range v {
		v[k] /= p.total
	}
	return v
}

// Decode sets x = μ + W z.
func (p *PCA) Decode(x, z []float64) {
	check.Len("latent: Decode", "x", x, p.n)
	check.Len("latent: Decode", "z", z, p.d)
	copy(x, p.mean)
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: p.n, Cols: p.d, Stride: p.d, Data: p.w},
		blas64.Vector{N: p.d, Inc: 1, Data: z}, 1, blas64.Vector{N: p.n, Inc: 1, Data: x})
}

// Encode sets z = W⁺(x − μ), the least-squares code of x.
func (p *PCA) Encode(z, x []float64) {
	check.Len("latent: Encode", "z", z, p.d)
	check.Len("latent: Encode", "x", x, p.n)
	mean := p.mean[:len(x)]
	for k := range z {
		row := p.winv[k*p.n : (k+1)*p.n]
		row = row[:len(x)]
		var s0, s1 float64
		j := 0
		for ; j+1 < len(x); j += 2 {
			s0 += row[j] * (x[j] - mean[j])
			s1 += row[j+1] * (x[j+1] - mean[j+1])
		}
		if j < len(x) {
			s0 += row[j] * (x[j] - mean[j])
		}
		z[k] = s0 + s1
	}
}

// Jacobian sets J = W, independent of z.
func (p *PCA) Jacobian(J *mat.Dense, z []float64) {
	check.Len("latent: Jacobian", "z", z, p.d)
	raw := check.JacobianDst("latent: Jacobian", J, p.n, p.d)
	for i := 0; i < p.n; i++ {
		copy(raw.Data[i*raw.Stride:i*raw.Stride+p.d], p.w[i*p.d:(i+1)*p.d])
	}
}

// Clone returns p, which is safe for concurrent use.
func (p *PCA) Clone() Generator { return p }
