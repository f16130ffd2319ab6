// Package enkf holds the ensemble Kalman filter analyses used by latentda:
// the stochastic EnKF with perturbed observations, the ETKF (symmetric square
// root, optional random mean-preserving rotation) with its hybrid-covariance
// and iterative variants, the DEnKF, and the LETKF
// with Gaspari–Cohn localisation on a periodic 1-D domain, followed by
// multiplicative inflation of the analysis anomalies.
//
// The package knows nothing of models or observation operators: it takes the
// forecast ensemble E (N members × n, one member per row), the same ensemble
// mapped to observation space HE (N × p), the observations y and the diagonal
// of R. E may hold physical states or latent codes: running the filter on
// latent codes z with HE = H(G(z)) is the latent EnKF.
//
// # Notation
//
// With x̄ and ȳ the ensemble means, A = E - 1x̄ᵀ the state anomalies and
//
//	S  = (HE - 1ȳᵀ) R^{-1/2} / √(N-1)    (N × p, normalised obs anomalies)
//	C  = I + S Sᵀ                         (N × N)
//	G  = C⁻¹
//
// the Kalman gain in ensemble space is K = Aᵀ G S R^{-1/2} / √(N-1)
// (Woodbury), so every analysis is a right-multiplication of the anomalies:
//
//	Eᵃ = 1x̄ᵀ + W A
//
// with an N × N transform W that depends on the method:
//
//	ETKF:  W = C^{-1/2} + 1 wᵀ/√(N-1),   w = G S d,  d = R^{-1/2}(y - ȳ)
//	EnKF:  W = I + D Sᵀ G/√(N-1),        D rows R^{-1/2}(y - εᵢ - H(xᵢ)), εᵢ ~ N(0,R) centred
//	DEnKF: W = I + 1 (G S d)ᵀ/√(N-1) - ½ S Sᵀ G
//
// The LETKF applies the ETKF transform column by column (or by batches of
// neighbouring grid points), with S and d restricted to nearby observations
// and tapered by √ρ, ρ the Gaspari–Cohn weight of the distance.
//
// Two ETKF variants take a differentiable observation map h (ObservationMap)
// besides HE: AnalyzeHybrid uses the hybrid covariance P = αPₑ + (1 − α)BᵀB
// with a static square root B, in an ensemble space augmented by B's rows,
// and AnalyzeIterative finds the MAP by Gauss–Newton iterations in that
// space with the exact Jacobian of h, as the iterative ensemble Kalman
// filter does (hybrid.go has the algebra). Both end with the ETKF transform
// above, and with α = 1 the hybrid is the ETKF, bit for bit.
// AnalyzeHybridLocal is the LETKF's counterpart of AnalyzeHybrid: each local
// analysis solves for the weights of the members and B's rows with its
// tapered observations, and the LETKF's anomalies are recentred on that
// mean (hybridlocal.go); with α = 1 it is the LETKF, bit for bit.
//
// After the transform the anomalies are multiplied by the inflation factor
// and, optionally, rotated by a random orthogonal matrix Q with Q1 = 1, which
// keeps the mean and the covariance (Sakov and Oke 2008).
//
// Two adaptive inflations of the forecast anomalies replace a hand-set
// factor: the finite-size EnKF-N (EnKFN, Config.Adaptive), estimated
// afresh from every analysis's innovation (locally in the LETKF), and the
// innovation-based estimate of Li, Kalnay and Miyoshi (2009) with the
// Gaussian update of Miyoshi (2011) (InnovationInflation,
// Config.Innovation), a global factor that the Filter carries from one
// analysis to the next (InflationEstimate, SetInflationEstimate), or one
// per local analysis of the LETKF. With both, the EnKF-N runs on the
// forecast inflated by the carried estimate (the hybrid EnKF-N of Raanes,
// Bocquet and Carrassi 2019), also in the localised hybrid, on the
// members' part of each local covariance.
package enkf
