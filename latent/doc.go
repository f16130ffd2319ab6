// Package latent holds the generative models on whose latent codes latentda
// runs its ensemble Kalman filters: a generator G maps a code z ∈ ℝᵈ to a
// state x ∈ ℝⁿ, an amortised encoder E maps a state back to a code, and the
// Jacobian J = ∂G/∂z (n × d) linearises the generator for Gauss–Newton
// projection and for diagnostics.
//
// Five generators implement [Generator]:
//
//   - [Identity]: d = n, G(z) = z, E(x) = x, J = I. The latent filter is
//     then the ordinary filter.
//   - [PCA]: empirical orthogonal functions of an archive of states,
//     G(z) = μ + W z with whitened codes (see [FitPCA]).
//   - [Autoencoder]: a multilayer perceptron encoder and decoder trained on
//     the archive by [TrainAutoencoder], or loaded from stored layers with
//     [NewAutoencoder] (for example from a PyTorch export).
//   - [Quadratic]: a quadratic manifold G(z) = μ + V z + W(q(z) − q̄) over
//     the whitened PCA codes, W fitted by regularised least squares
//     ([FitQuadratic]), with a Gauss–Newton encoder.
//   - [ConvAutoencoder]: circular convolutions for periodic 1-D grids,
//     strided down to a dense bottleneck and transposed back, trained by
//     [TrainConvAutoencoder] with the same loop as the MLP.
//
// Training uses Adam with a constant, cosine or plateau learning-rate
// [Schedule] and early stopping on the validation loss; [ReconstructionCurve]
// compares the generators' held-out reconstruction errors against d.
//
// [Project] (or a reusable [Projector]) refines a code by minimising
// ‖x − G(z)‖² (+ λ‖z‖²) with Levenberg–Marquardt-damped Gauss–Newton steps,
// starting for example from E(x).
//
// The package is pure numerics on gonum: it reads no files and knows nothing
// of the workflow engine. Everything a caller may need to store (PCA
// parameters, autoencoder layers and normalisation, training checkpoints) is
// exposed as structs of plain slices and numbers; package latent/genfile
// stores generators in files.
//
// # Conventions
//
// Data matrices hold one sample per row (m samples × n variables), as in the
// enkf package. Methods follow gonum: the destination comes first, sizes are
// checked with a panic (they are programming errors), and the per-call
// methods Decode, Encode and Jacobian do not allocate. Generators are not
// safe for concurrent use unless documented otherwise; Clone returns an
// independent copy (sharing the read-only parameters) for another goroutine.
package latent
