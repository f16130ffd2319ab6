// Package observations holds observation operators H with their Jacobians,
// diagonal observation-error models R, and synthetic twin experiments
// (a nature run plus noisy observations).
package observations

import "gonum.org/v1/gonum/mat"

// Operator is an observation operator y = H(x).
type Operator interface {
	// Name is a short identifier such as "identity" or "every-2".
	Name() string
	// InDim is the state dimension, OutDim the number of observations.
	InDim() int
	OutDim() int
	// Apply writes H(x) into dst (len OutDim) without allocating.
	Apply(dst, x []float64)
	// Jacobian writes dH/dx at x into dst (OutDim × InDim).
	Jacobian(dst *mat.Dense, x []float64)
	// Positions gives, for each observation, its location on the model
	// grid in grid-index units (used by localisation).
	Positions() []float64
}
