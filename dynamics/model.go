// Package dynamics holds the toy dynamical models that latentda assimilates
// into (Lorenz-63, Lorenz-96, Kuramoto–Sivashinsky), their time integrators,
// and ensemble stepping.
//
// Models are discrete-time maps x_{k+1} = M(x_k) with a fixed step Dt. An
// ensemble is a *mat.Dense with one member per row (N × Dim), so each member
// is contiguous in memory and can be stepped independently.
package dynamics

// Model is a discrete-time dynamical model with a fixed time step.
type Model interface {
	// Name is a short identifier such as "lorenz96".
	Name() string
	// Dim is the state dimension.
	Dim() int
	// Dt is the model time advanced by one Step.
	Dt() float64
	// NewStepper returns a Stepper that owns its scratch space. A Stepper is
	// not safe for concurrent use: make one per goroutine.
	NewStepper() Stepper
}

// Stepper advances one state by one model time step, in place, without
// allocating.
type Stepper interface {
	Step(x []float64)
}
