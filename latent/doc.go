// Package latent holds the generative models on whose latent codes latentda
// runs its ensemble Kalman filters: a generator G maps a code z ∈ ℝᵈ to a
// state x ∈ ℝⁿ, an amortised encoder E maps a state back to a code, and the
// Jacobian J = ∂G/∂z (n × d) linearises the generator for Gauss–Newton
// projection and for diagnostics.
//
// This package defines [Generator] and the generators fitted in closed form:
//
//   - [Identity]: d = n, G(z) = z, E(x) = x, J = I. The latent filter is
//     then the ordinary filter.
//   - [PCA]: empirical orthogonal functions of an archive of states,
//     G(z) = μ + W z with whitened codes (see [FitPCA]).
//   - [Quadratic]: a quadratic manifold G(z) = μ + V z + W(q(z) − q̄) over
//     the whitened PCA codes, W fitted by regularised least squares
//     ([FitQuadratic]), with a Gauss–Newton encoder.
//
// The neural generators (an MLP and a convolutional autoencoder), their
// training and the reconstruction curve across kinds are in package
// latent/neural; package latent/genfile stores generators in files.
//
// [Project] (or a reusable [Projector]) refines a code by minimising
// ‖x − G(z)‖² (+ λ‖z‖²) with Levenberg–Marquardt-damped Gauss–Newton steps,
// starting for example from E(x). [ManifoldTest] tests whether observations
// lie near the generator's manifold seen through an observation operator,
// and [EstimateStats] with its companions measures the code covariance and
// the representation error a latent analysis needs.
//
// The package is pure numerics on gonum: it reads no files and knows nothing
// of the workflow engine. Everything a caller may need to store (PCA and
// quadratic parameters) is exposed as structs of plain slices and numbers.
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
