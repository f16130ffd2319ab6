package observations

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/latentda/latentda/dynamics"
)

// Nature is the "truth" of a twin (identical-twin, OSSE) experiment: a model
// trajectory started from x0, observed every stepsPerObs model steps with
//
//	y_k = H(x_true(t_k)) + ε_k,   ε_k ~ N(0, R),   t_k = k · stepsPerObs · Dt,
//
// for cycles k = 1, 2, … (cycle 0 is the initial state x0, which is not
// observed).
//
// # Reproducibility contract
//
// The noise ε_k of cycle k is drawn from a fresh generator seeded by
// (seed, k) only:
//
//	rng := rand.New(rand.NewPCG(seed, uint64(k)))   // math/rand/v2
//	ε_k[i] = σ_i · rng.NormFloat64(),  i = 0, 1, …, p−1 in order
//
// exactly as [DiagR.ObsNoise](ε, seed, k). It therefore does not depend on
// the noise of earlier cycles, and the truth itself is deterministic (it
// does not consume random numbers), so y_k can be regenerated from
// (x0, model, H, R, stepsPerObs, seed, k) alone. Nature keeps one *rand.PCG
// and re-seeds it each cycle, so [Nature.Next] does not allocate.
//
// A Nature is not safe for concurrent use.
type Nature struct {
	model       dynamics.Model
	stepper     dynamics.Stepper
	op          Operator
	r           *DiagR
	stepsPerObs int
	seed        uint64

	cycle int
	truth []float64
	noise []float64 // scratch, len OutDim
	pcg   *rand.PCG
	rng   *rand.Rand
}

// NewNature returns a nature run of model from x0 (copied), observed through
// op with errors r every stepsPerObs ≥ 1 model steps, with observation-noise
// seed seed. It checks that op.InDim() == model.Dim(),
// r.Dim() == op.OutDim(), len(x0) == model.Dim(), x0 is finite and
// model.Dt() is finite and > 0.
func NewNature(model dynamics.Model, op Operator, r *DiagR, x0 []float64, stepsPerObs int, seed uint64) (*Nature, error) {
	switch {
	case model == nil:
		return nil, errors.New("observations: nature: nil model")
	case op == nil:
		return nil, errors.New("observations: nature: nil operator")
	case r == nil:
		return nil, errors.New("observations: nature: nil R")
	}
	n := model.Dim()
	if n <= 0 {
		return nil, fmt.Errorf("observations: nature: model %q has dimension %d, must be > 0", model.Name(), n)
	}
	if dt := model.Dt(); math.IsNaN(dt) || math.IsInf(dt, 0) || dt <= 0 {
		return nil, fmt.Errorf("observations: nature: model %q has Dt = %v, must be finite and > 0", model.Name(), dt)
	}
	if op.InDim() != n {
		return nil, fmt.Errorf("observations: nature: operator %q has InDim %d, model %q has Dim %d", op.Name(), op.InDim(), model.Name(), n)
	}
	if r.Dim() != op.OutDim() {
		return nil, fmt.Errorf("observations: nature: R has Dim %d, operator %q has OutDim %d", r.Dim(), op.Name(), op.OutDim())
	}
	if stepsPerObs < 1 {
		return nil, fmt.Errorf("observations: nature: stepsPerObs = %d, must be >= 1", stepsPerObs)
	}
	if len(x0) != n {
		return nil, fmt.Errorf("observations: nature: len(x0) = %d, model %q has Dim %d", len(x0), model.Name(), n)
	}
	for i, v := range x0 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("observations: nature: x0[%d] = %v is not finite", i, v)
		}
	}
	stepper := model.NewStepper()
	if stepper == nil {
		return nil, fmt.Errorf("observations: nature: model %q returned a nil Stepper", model.Name())
	}
	truth := make([]float64, n)
	copy(truth, x0)
	pcg := rand.NewPCG(seed, 0)
	return &Nature{
		model:       model,
		stepper:     stepper,
		op:          op,
		r:           r,
		stepsPerObs: stepsPerObs,
		seed:        seed,
		truth:       truth,
		noise:       make([]float64, op.OutDim()),
		pcg:         pcg,
		rng:         rand.New(pcg),
	}, nil
}

// Next advances the truth by stepsPerObs model steps, increments the cycle
// counter to k and writes the new truth into truth (len Dim; may be nil if
// not wanted) and the observation y_k = H(x_true) + ε_k into y (len OutDim),
// with ε_k drawn as described in the [Nature] reproducibility contract. It
// returns k. Next does not allocate (provided the model's Stepper and the
// operator's Apply do not).
func (n *Nature) Next(truth, y []float64) (cycle int) {
	if truth != nil && len(truth) != len(n.truth) {
		panic(fmt.Sprintf("observations: Nature.Next: len(truth) = %d, want model Dim = %d", len(truth), len(n.truth)))
	}
	if len(y) != len(n.noise) {
		panic(fmt.Sprintf("observations: Nature.Next: len(y) = %d, want OutDim = %d", len(y), len(n.noise)))
	}
	for s := 0; s < n.stepsPerObs; s++ {
		n.stepper.Step(n.truth)
	}
	n.cycle++
	if truth != nil {
		copy(truth, n.truth)
	}
	n.op.Apply(y, n.truth)
	n.pcg.Seed(n.seed, uint64(n.cycle))
	n.r.Sample(n.noise, n.rng)
	for i, e := range n.noise {
		y[i] += e
	}
	return n.cycle
}

// Cycle returns the number of completed observation cycles (0 before the
// first call to Next).
func (n *Nature) Cycle() int { return n.cycle }

// Time returns the model time of the current truth,
// Cycle() · stepsPerObs · Dt, measured from x0 at time 0. It is computed by
// multiplication, not accumulation, so it carries no summed rounding error.
func (n *Nature) Time() float64 {
	return float64(n.cycle) * float64(n.stepsPerObs) * n.model.Dt()
}

// Truth returns the current true state as a read-only view of internal
// storage; it is overwritten by the next call to Next. Callers must not
// modify it.
func (n *Nature) Truth() []float64 { return n.truth }

// Seed returns the observation-noise seed.
func (n *Nature) Seed() uint64 { return n.seed }

// StepsPerObs returns the number of model steps between observations.
func (n *Nature) StepsPerObs() int { return n.stepsPerObs }

// Operator returns the observation operator H.
func (n *Nature) Operator() Operator { return n.op }

// R returns the observation-error covariance.
func (n *Nature) R() *DiagR { return n.r }
