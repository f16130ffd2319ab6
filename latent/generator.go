package latent

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/check"
)

// Decoder is a differentiable map z → x from codes to states, what a
// projection needs: a generator, or a generator seen through an
// observation operator (Observed).
type Decoder interface {
	// LatentDim is d, the length of a code z.
	LatentDim() int
	// StateDim is n, the length of a state x.
	StateDim() int
	// Decode sets x = G(z).
	Decode(x, z []float64)
	// Jacobian sets J = ∂G/∂z at z, an n × d matrix: J[i][k] = ∂xᵢ/∂z_k.
	// If J is empty it is resized to n × d, otherwise it must be n × d.
	Jacobian(J *mat.Dense, z []float64)
}

// Generator maps latent codes to states and back.
//
// Decode, Encode and Jacobian panic if the lengths of their arguments do not
// match LatentDim and StateDim; the destination must not alias the source.
// A Generator need not be safe for concurrent use (it may own scratch
// space); Clone returns a copy that is, with respect to the original, and
// that shares the read-only parameters.
type Generator interface {
	Decoder
	// Name is "identity", "pca", "autoencoder", "quadratic" or "conv".
	Name() string
	// Encode sets z = E(x), the amortised encoder.
	Encode(z, x []float64)
	// Clone returns a generator with the same parameters that can be used
	// concurrently with the receiver.
	Clone() Generator
}

// Identity is the generator of dimension d = n with G(z) = z, E(x) = x and
// J = I. It has no state and is safe for concurrent use.
type Identity struct {
	n int
}

// NewIdentity returns the identity generator on ℝⁿ. It panics if n < 1.
func NewIdentity(n int) *Identity {
	if n < 1 {
		panic(fmt.Sprintf("latent: identity dimension must be ≥ 1, got %d", n))
	}
	return &Identity{n: n}
}

// Name returns "identity".
func (g *Identity) Name() string { return "identity" }

// LatentDim returns n.
func (g *Identity) LatentDim() int { return g.n }

// StateDim returns n.
func (g *Identity) StateDim() int { return g.n }

// Decode sets x = z.
func (g *Identity) Decode(x, z []float64) {
	check.Len("latent: Decode", "x", x, g.n)
	check.Len("latent: Decode", "z", z, g.n)
	copy(x, z)
}

// Encode sets z = x.
func (g *Identity) Encode(z, x []float64) {
	check.Len("latent: Encode", "z", z, g.n)
	check.Len("latent: Encode", "x", x, g.n)
	copy(z, x)
}

// Jacobian sets J = I.
func (g *Identity) Jacobian(J *mat.Dense, z []float64) {
	check.Len("latent: Jacobian", "z", z, g.n)
	raw := check.JacobianDst("latent: Jacobian", J, g.n, g.n)
	for i := 0; i < g.n; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+g.n]
		clear(row)
		row[i] = 1
	}
}

// Clone returns g, which has no mutable state.
func (g *Identity) Clone() Generator { return g }

// ReconstructionError is the mean squared error ‖G(E(x)) − x‖²/n over the
// rows x of X, in the state's units: how much of the data the generator
// cannot represent.
func ReconstructionError(g Generator, X *mat.Dense) float64 {
	return decodedError(g, X, g.Encode)
}

// ProjectionError is the mean squared distance ‖G(z*) − x‖²/n over the
// rows x of X from the generator's manifold, z* the Gauss–Newton
// projection of x (Projector with the default options, no code prior)
// started from the encoder's code E(x): the representation error of a
// filter that encodes by projection, at most ReconstructionError up to
// the projection's convergence.
func ProjectionError(g Generator, X *mat.Dense) float64 {
	p, err := NewProjector(g, ProjectOptions{})
	if err != nil {
		panic("latent: internal error: " + err.Error()) // the default options are valid
	}
	z0 := make([]float64, g.LatentDim())
	return decodedError(g, X, func(z, x []float64) {
		g.Encode(z0, x)
		p.Project(z, x, z0)
	})
}

// decodedError is the mean squared error ‖G(code(x)) − x‖²/n over the rows
// x of X.
func decodedError(g Generator, X *mat.Dense, code func(z, x []float64)) float64 {
	m, n := X.Dims()
	z := make([]float64, g.LatentDim())
	x := make([]float64, n)
	var se float64
	for i := 0; i < m; i++ {
		row := X.RawRowView(i)
		code(z, row)
		g.Decode(x, z)
		for j := range x {
			d := x[j] - row[j]
			se += d * d
		}
	}
	return se / float64(m*n)
}
