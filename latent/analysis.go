package latent

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/latentda/latentda/latent/internal/check"
)

// Stats are what the latent analyses need to know about a generator beyond
// its maps, estimated on its training archive (EstimateStats) and stored
// with it.
//
//   - The climatological code covariance Σ_clim is the static part of the
//     hybrid code covariance P_z = α Pₑ + (1 − α) Σ_clim
//     (enkf.Filter.AnalyzeHybrid): it has full rank d, so the analysis is
//     no longer confined to the N − 1 directions of the ensemble.
//   - The representation error Σ_rep is the covariance of what the
//     generator cannot represent, x − G(E(x)). The latent filter sees the
//     states only through G, so an observation y = H(x) + ε of a state it
//     represents as G(z) carries the error H(x) − H(G(z)) + ε. Treated as
//     independent of ε and of the code, it adds H Σ_rep Hᵀ to R
//     (ObservedVariance: its diagonal, for a diagonal Σ_rep).
type Stats struct {
	// CodeCov is Σ_clim (d × d, row-major), the sample covariance of the
	// codes E(x) of the training states. It is nil for a PCA, whose
	// whitened codes have Σ_clim = I by construction (ClimatologicalRoot),
	// and when unknown.
	CodeCov []float64
	// RepVar (length n) is the diagonal of Σ_rep: the mean over held-out
	// states of (xⱼ − Gⱼ(E(x)))², the second moment, which counts a
	// systematic reconstruction error too. Nil if unknown.
	RepVar []float64
}

// EstimateStats returns the statistics of g: Σ_clim from the codes of the
// training states (nil for a PCA, whose codes are whitened) and Σ_rep from
// the reconstructions of the held-out states valid.
func EstimateStats(g Generator, train, valid *mat.Dense) Stats {
	var s Stats
	if _, ok := g.(*PCA); !ok {
		s.CodeCov = CodeCovariance(g, train)
	}
	s.RepVar = RepresentationVariance(g, valid)
	return s
}

// CodeCovariance returns the sample covariance (d × d, row-major, divided
// by m − 1) of the codes E(x) of the m rows x of X (m ≥ 2).
func CodeCovariance(g Generator, X *mat.Dense) []float64 {
	m, _ := X.Dims()
	if m < 2 {
		panic(fmt.Sprintf("latent: CodeCovariance: need at least 2 states, got %d", m))
	}
	d := g.LatentDim()
	Z := mat.NewDense(m, d, nil)
	for i := 0; i < m; i++ {
		g.Encode(Z.RawRowView(i), X.RawRowView(i))
	}
	var c mat.SymDense
	stat.CovarianceMatrix(&c, Z, nil)
	out := make([]float64, d*d)
	for a := 0; a < d; a++ {
		for b := 0; b < d; b++ {
			out[a*d+b] = c.At(a, b)
		}
	}
	return out
}

// RepresentationVariance returns, for each state variable j, the mean over
// the rows x of X of (xⱼ − Gⱼ(E(x)))²: the diagonal of the representation
// error covariance Σ_rep (second moments; ReconstructionError is their mean).
func RepresentationVariance(g Generator, X *mat.Dense) []float64 {
	m, n := X.Dims()
	z := make([]float64, g.LatentDim())
	x := make([]float64, n)
	v := make([]float64, n)
	for i := 0; i < m; i++ {
		row := X.RawRowView(i)
		g.Encode(z, row)
		g.Decode(x, z)
		for j := range x {
			e := row[j] - x[j]
			v[j] += e * e
		}
	}
	for j := range v {
		v[j] /= float64(m)
	}
	return v
}

// StaticRoot returns B (m × d) with BᵀB = Σ, the square root of a static
// covariance that enkf.Hybrid takes: the identity for Σ = nil (whitened
// codes), otherwise the rows √λₖ vₖᵀ of the eigenpairs of the symmetrised
// Σ with λₖ > 10⁻¹²·λ_max (the directions of zero variance are dropped, so
// m is the numerical rank). It fails if Σ is not d × d, not finite, or has
// an eigenvalue below −10⁻⁸·λ_max (not a covariance).
func StaticRoot(sigma []float64, d int) (*mat.Dense, error) {
	if sigma == nil {
		B := mat.NewDense(d, d, nil)
		for k := 0; k < d; k++ {
			B.Set(k, k, 1)
		}
		return B, nil
	}
	if len(sigma) != d*d {
		return nil, fmt.Errorf("latent: code covariance has %d entries, want %d×%d", len(sigma), d, d)
	}
	if !check.Finite(sigma) {
		return nil, fmt.Errorf("latent: code covariance is not finite")
	}
	S := mat.NewSymDense(d, nil)
	for a := 0; a < d; a++ {
		for b := a; b < d; b++ {
			S.SetSym(a, b, (sigma[a*d+b]+sigma[b*d+a])/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(S, true) {
		return nil, fmt.Errorf("latent: eigendecomposition of the code covariance failed")
	}
	lam := eig.Values(nil)
	var V mat.Dense
	eig.VectorsTo(&V)
	lmax := 0.0
	for _, l := range lam {
		lmax = math.Max(lmax, l)
	}
	if !(lmax > 0) {
		return nil, fmt.Errorf("latent: code covariance is zero")
	}
	var keep []int
	for k, l := range lam {
		if l < -1e-8*lmax {
			return nil, fmt.Errorf("latent: code covariance has the negative eigenvalue %v (largest %v)", l, lmax)
		}
		if l > 1e-12*lmax {
			keep = append(keep, k)
		}
	}
	B := mat.NewDense(len(keep), d, nil)
	for r, k := range keep {
		s := math.Sqrt(lam[k])
		for j := 0; j < d; j++ {
			B.Set(r, j, s*V.At(j, k))
		}
	}
	return B, nil
}

// ObservedVariance sets dst[k] = Σⱼ Hₖⱼ² vⱼ, the diagonal of H diag(v) Hᵀ
// for the p × n matrix H (an observation operator's Jacobian): the
// observation-space variance of independent state errors of variances v.
// It is the whole of H Σ_rep Hᵀ for a diagonal Σ_rep when every
// observation sees one variable (identity, subsets, squares); otherwise
// the off-diagonal covariances are left out.
func ObservedVariance(dst []float64, H *mat.Dense, v []float64) {
	p, n := H.Dims()
	check.Len("latent: ObservedVariance", "dst", dst, p)
	check.Len("latent: ObservedVariance", "v", v, n)
	raw := H.RawMatrix()
	for k := range dst {
		var s float64
		for j, h := range raw.Data[k*raw.Stride : k*raw.Stride+n] {
			s += h * h * v[j]
		}
		dst[k] = s
	}
}

// ClimatologicalRoot returns the square root B (BᵀB = Σ_clim) of the
// climatological code covariance of g: the identity for a PCA (whitened
// codes), StaticRoot of s.CodeCov for other generators. It fails for a
// generator other than a PCA whose statistics have no code covariance.
func ClimatologicalRoot(g Generator, s Stats) (*mat.Dense, error) {
	if _, ok := g.(*PCA); ok {
		return StaticRoot(nil, g.LatentDim())
	}
	if _, ok := g.(*Identity); ok && s.CodeCov == nil {
		return nil, fmt.Errorf("latent: the identity generator has no climatological code covariance for a hybrid (alpha < 1, or estimated); train a PCA or an autoencoder (latentda train)")
	}
	if s.CodeCov == nil {
		return nil, fmt.Errorf("latent: the %s generator has no climatological code covariance (run latentda train on its config again: it adds it to the file)", g.Name())
	}
	return StaticRoot(s.CodeCov, g.LatentDim())
}
