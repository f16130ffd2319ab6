// Package neural holds the neural-network generators of package latent and
// their training:
//
//   - [Autoencoder]: a multilayer perceptron encoder and decoder trained on
//     an archive of states by [TrainAutoencoder], or loaded from stored
//     layers with [NewAutoencoder] (for example from a PyTorch export).
//   - [ConvAutoencoder]: circular convolutions for periodic 1-D grids,
//     strided down to a dense bottleneck and transposed back, trained by
//     [TrainConvAutoencoder] with the same loop as the MLP.
//
// Both implement [latent.Generator]. Training uses Adam with a constant,
// cosine or plateau learning-rate [Schedule] and early stopping on the
// validation loss; it is deterministic for a seed and resumes from a
// [Checkpoint]. `latentda bench generators` compares the held-out
// reconstruction errors of PCA, the quadratic manifold and the two networks
// against d.
//
// Like package latent, this is pure numerics on gonum that reads no files:
// layers, normalisation and checkpoints are structs of plain slices and
// numbers, which package latent/genfile stores. The conventions of package
// latent (samples by row, destination first, panics on sizes, no
// allocation per Decode, Encode or Jacobian, Clone for another goroutine)
// hold here too.
package neural
