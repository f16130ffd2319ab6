package latent

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/internal/vec"
	"github.com/latentda/latentda/latent/internal/check"
)

// ProjectOptions configures Project.
type ProjectOptions struct {
	// Lambda ≥ 0 weighs the Tikhonov term λ‖z‖² (the negative log-density
	// of a N(0, I/(2λ)) code prior, up to a constant).
	Lambda float64
	// Weights, if not nil, has length n and entries wᵢ ≥ 0: the misfit is
	// Σ wᵢ (xᵢ − Gᵢ(z))², for example wᵢ = 1/σᵢ².
	Weights []float64
	// MaxIter bounds the number of Jacobian evaluations (default 50).
	MaxIter int
	// Tol stops when the Gauss–Newton step δ satisfies ‖δ‖ ≤ Tol·(Tol + ‖z‖)
	// (default 1e-8).
	Tol float64
}

// ProjectStats reports a projection. Residuals are ‖√w ⊙ (x − G(z))‖.
type ProjectStats struct {
	Initial     float64 // residual at z0
	Residual    float64 // residual at the result
	Cost        float64 // Residual² + λ‖z‖² at the result
	Iterations  int     // accepted steps
	Evaluations int     // evaluations of G
	Converged   bool    // the step tolerance was met within MaxIter
}

// Projector minimises f(z) = Σ wᵢ (xᵢ − Gᵢ(z))² + λ‖z‖² by Gauss–Newton with
// Levenberg–Marquardt damping. With r = x − G(z), J = ∂G/∂z and W = diag(w)
// each iteration solves
//
//	(JᵀWJ + (λ + μ) I) δ = JᵀW r − λ z
//
// and accepts z + δ if it lowers f, dividing μ by 10 (down to 0), otherwise
// it multiplies μ by 10 (from 10⁻³·max diag(JᵀWJ + λI) when μ = 0) and
// solves again. The first attempt is undamped (μ = 0), so for a linear
// generator such as PCA the first step lands on the least-squares code.
//
// A Projector owns scratch space and uses its generator, so it is not safe
// for concurrent use; give each goroutine its own, on a Clone of the
// generator.
type Projector struct {
	g     Decoder
	opts  ProjectOptions
	n, d  int
	sw    []float64 // √w
	J     mat.Dense
	jt    []float64 // √W J transposed (d × n)
	h, a  []float64 // d × d
	grad  []float64
	delta []float64
	zt    []float64
	r, rt []float64
	xt    []float64
}

// NewProjector returns a projector onto the range of g.
func NewProjector(g Decoder, opts ProjectOptions) (*Projector, error) {
	n, d := g.StateDim(), g.LatentDim()
	if opts.MaxIter == 0 {
		opts.MaxIter = 50
	}
	if opts.Tol == 0 {
		opts.Tol = 1e-8
	}
	switch {
	case !(opts.Lambda >= 0) || math.IsInf(opts.Lambda, 0):
		return nil, fmt.Errorf("latent: Project: Lambda must be finite and ≥ 0, got %v", opts.Lambda)
	case opts.MaxIter < 1:
		return nil, fmt.Errorf("latent: Project: MaxIter must be ≥ 1, got %d", opts.MaxIter)
	case !(opts.Tol > 0):
		return nil, fmt.Errorf("latent: Project: Tol must be > 0, got %v", opts.Tol)
	}
	p := &Projector{g: g, opts: opts, n: n, d: d,
		sw: make([]float64, n), jt: make([]float64, d*n), h: make([]float64, d*d), a: make([]float64, d*d),
		grad: make([]float64, d), delta: make([]float64, d), zt: make([]float64, d),
		r: make([]float64, n), rt: make([]float64, n), xt: make([]float64, n)}
	if opts.Weights == nil {
		for i := range p.sw {
			p.sw[i] = 1
		}
	} else if err := p.SetWeights(opts.Weights); err != nil {
		return nil, err
	}
	p.J.ReuseAs(n, d)
	return p, nil
}

// SetWeights replaces the misfit weights wᵢ (length n, finite and ≥ 0) for
// the next projections; on an error the old weights stay.
func (p *Projector) SetWeights(w []float64) error {
	if len(w) != p.n {
		return fmt.Errorf("latent: Project: len(Weights) = %d, want %d", len(w), p.n)
	}
	for i, v := range w {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("latent: Project: Weights[%d] = %v, want finite and ≥ 0", i, v)
		}
	}
	for i, v := range w {
		p.sw[i] = math.Sqrt(v)
	}
	return nil
}

// misfit sets r = √w ⊙ (x − G(z)) using xt, and returns ‖r‖².
func (p *Projector) misfit(r, x, z []float64) float64 {
	p.g.Decode(p.xt, z)
	for i, v := range x {
		r[i] = p.sw[i] * (v - p.xt[i])
	}
	return floats.Dot(r, r)
}

// Project sets dst to the minimiser of f reached from z0 (dst may be z0).
// It panics if the lengths do not match the generator.
func (p *Projector) Project(dst, x, z0 []float64) ProjectStats {
	check.Len("latent: Project", "dst", dst, p.d)
	check.Len("latent: Project", "x", x, p.n)
	check.Len("latent: Project", "z0", z0, p.d)
	lambda := p.opts.Lambda
	z := dst
	copy(z, z0)
	var st ProjectStats
	rr := p.misfit(p.r, x, z)
	st.Evaluations++
	st.Initial = math.Sqrt(rr)
	f := rr + lambda*floats.Dot(z, z)
	d := p.d
	mu := 0.0
	raw := p.J.RawMatrix()
	as := blas64.Symmetric{N: d, Stride: d, Uplo: blas.Upper, Data: p.a}
	rhs := blas64.General{Rows: d, Cols: 1, Stride: 1, Data: p.delta}
iterations:
	for it := 0; it < p.opts.MaxIter; it++ {
		p.g.Jacobian(&p.J, z)
		for i := 0; i < p.n; i++ {
			row := raw.Data[i*raw.Stride : i*raw.Stride+d]
			floats.Scale(p.sw[i], row)
			for k, v := range row {
				p.jt[k*p.n+i] = v
			}
		}
		// H = JᵀWJ (vec.Gemm of the transpose and the Jacobian: the whole
		// square, which Potrf reads the upper triangle of), grad = JᵀW r − λ z.
		clear(p.h)
		vec.Gemm(d, d, p.n, p.jt, p.n, raw.Data, raw.Stride, p.h, d)
		blas64.Gemv(blas.Trans, 1, raw, blas64.Vector{N: p.n, Inc: 1, Data: p.r}, 0, blas64.Vector{N: d, Inc: 1, Data: p.grad})
		floats.AddScaled(p.grad, -lambda, z)
		hmax := 0.0
		for k := 0; k < d; k++ {
			hmax = max(hmax, p.h[k*d+k]+lambda)
		}
		if hmax == 0 {
			hmax = 1
		}
		if math.IsNaN(hmax) || math.IsInf(hmax, 0) || !check.Finite(p.grad) {
			// A non-finite Jacobian or misfit (x far outside the
			// generator's range): no step can be trusted, and the damping
			// loop below would never end.
			break iterations
		}
		for {
			copy(p.a, p.h)
			for k := 0; k < d; k++ {
				p.a[k*d+k] += lambda + mu
			}
			t, ok := lapack64.Potrf(as)
			if ok {
				copy(p.delta, p.grad)
				lapack64.Potrs(t, rhs)
				ok = check.Finite(p.delta)
			}
			if ok {
				if floats.Norm(p.delta, 2) <= p.opts.Tol*(p.opts.Tol+floats.Norm(z, 2)) {
					st.Converged = true
					break iterations
				}
				floats.AddTo(p.zt, z, p.delta)
				rrt := p.misfit(p.rt, x, p.zt)
				st.Evaluations++
				ft := rrt + lambda*floats.Dot(p.zt, p.zt)
				if ft < f {
					copy(z, p.zt)
					p.r, p.rt = p.rt, p.r
					rr, f = rrt, ft
					st.Iterations++
					mu /= 10
					if mu < 1e-12*hmax {
						mu = 0
					}
					break
				}
			}
			if mu == 0 {
				mu = 1e-3 * hmax
			} else {
				mu *= 10
			}
			if mu > 1e16*hmax {
				// No decrease even along a tiny gradient step: f is flat to
				// round-off around z.
				break iterations
			}
		}
	}
	st.Residual = math.Sqrt(rr)
	st.Cost = f
	return st
}

// Project returns the code minimising Σ wᵢ (xᵢ − Gᵢ(z))² + λ‖z‖² reached from
// z0 (for example E(x)); see Projector. It allocates a Projector; reuse one
// for many projections.
func Project(g Generator, x, z0 []float64, opts ProjectOptions) ([]float64, ProjectStats, error) {
	if len(x) != g.StateDim() || len(z0) != g.LatentDim() {
		return nil, ProjectStats{}, fmt.Errorf("latent: Project: len(x) = %d, len(z0) = %d, want %d and %d", len(x), len(z0), g.StateDim(), g.LatentDim())
	}
	p, err := NewProjector(g, opts)
	if err != nil {
		return nil, ProjectStats{}, err
	}
	z := make([]float64, g.LatentDim())
	st := p.Project(z, x, z0)
	return z, st, nil
}
