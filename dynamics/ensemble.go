package dynamics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// SerialWorkThreshold is the amount of work below which Forecast runs on the
// calling goroutine, counted in state-element steps Dim·members·steps and
// scaled by a per-model cost weight (see stepWeighter; 1 for Lorenz-63/96,
// whose element step costs ≈ 5–10 ns). Fanning out to goroutines costs about
// a microsecond and allocates; measured on 2 cores, two workers already beat
// one from a few µs of work. 1<<12 element steps (≈ 20–40 µs of Lorenz-96)
// keeps small calls — e.g. one step of 24 members of Lorenz-96 with nx = 40 —
// serial and allocation-free while larger ones go parallel.
const SerialWorkThreshold = 1 << 12

// stepWeighter is implemented by models whose cost per element step is far
// above Lorenz-96's (weight 1), so that the serial/parallel decision reflects
// the real amount of work.
type stepWeighter interface {
	stepWeight() int
}

// EnsembleAdvancer is an optional interface for Models that advance many
// states in one call, such as a model running in another process, where
// stepping one state at a time would cost a round trip per member and
// step. A Forecaster hands such a model all the members of a call at once
// instead of stepping them with Steppers, and adds model noise itself.
type EnsembleAdvancer interface {
	// AdvanceEnsemble advances every row of X (rows × Dim) by steps model
	// steps, in place. On error X is unchanged, unless it is hosted
	// (EnsembleHost): then its values are undefined.
	AdvanceEnsemble(X *mat.Dense, steps int) error
}

// EnsembleHost is an optional interface for EnsembleAdvancers that can
// keep an ensemble in memory they share with the model (an external
// model over shared memory), so that advancing it copies nothing.
type EnsembleHost interface {
	// HostEnsemble returns a copy of E in the shared memory and a
	// function that gives that memory back; the copy must not be used
	// after it. With no shared memory free it returns E itself and a
	// no-op. AdvanceEnsemble advances a hosted ensemble in place and
	// leaves checking its values to the holder, in a pass over them it
	// makes anyway; on error the values are undefined.
	HostEnsemble(E *mat.Dense) (*mat.Dense, func())
}

// Forecaster steps every member of an ensemble (one member per row of an
// N × Dim *mat.Dense) forward in time, in parallel over members, optionally
// adding Gaussian model noise after every step.
//
// Members are split into contiguous blocks, one block per worker goroutine
// (runtime.GOMAXPROCS(0) of them, at most one per member);
// each worker owns a Stepper created once by NewForecaster. Each member's
// noise comes from its own PCG stream seeded from (seed, member index) at the
// start of every Forecast call, so results are bit-identical whatever the
// number of workers, and a given (E, steps, seed) always gives the same
// answer.
//
// A model that implements EnsembleAdvancer is advanced by one AdvanceEnsemble
// call per Forecast (one per step with model noise, added after each step
// from the same per-member streams), and its NewStepper is not used.
//
// A Forecaster is not safe for concurrent use (its steppers hold scratch).
type Forecaster struct {
	model     Model
	adv       EnsembleAdvancer // non-nil: the model advances whole ensembles
	dim       int
	members   int
	workers   int
	steppers  []Stepper // one per worker; steppers[0] is used by the serial path
	noise     float64
	threshold float64 // serial/parallel cut-off in weighted element steps
	weight    float64

	srcs []rand.PCG   // per-member noise sources
	rngs []*rand.Rand // per-member generators over srcs
}

// ForecasterOption configures a Forecaster.
type ForecasterOption func(*Forecaster) error

// WithNoise sets the additive model-noise standard deviation; see SetNoise.
func WithNoise(std float64) ForecasterOption {
	return func(f *Forecaster) error { return f.SetNoise(std) }
}

// NewForecaster returns a Forecaster for ensembles of exactly members rows of
// model m.
func NewForecaster(m Model, members int, opts ...ForecasterOption) (*Forecaster, error) {
	if m == nil {
		return nil, errors.New("dynamics: forecaster: nil model")
	}
	if members < 1 {
		return nil, fmt.Errorf("dynamics: forecaster: members must be >= 1, got %d", members)
	}
	dim := m.Dim()
	if dim < 1 {
		return nil, fmt.Errorf("dynamics: forecaster: model %q has Dim %d", m.Name(), dim)
	}
	f := &Forecaster{
		model:     m,
		dim:       dim,
		members:   members,
		workers:   runtime.GOMAXPROCS(0),
		threshold: SerialWorkThreshold,
		weight:    1,
	}
	if w, ok := m.(stepWeighter); ok {
		f.weight = float64(max(1, w.stepWeight()))
	}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, err
		}
	}
	if adv, ok := m.(EnsembleAdvancer); ok {
		f.adv, f.workers = adv, members
	} else {
		f.workers = min(f.workers, members)
		f.steppers = make([]Stepper, f.workers)
		for i := range f.steppers {
			f.steppers[i] = m.NewStepper()
		}
	}
	f.srcs = make([]rand.PCG, members)
	f.rngs = make([]*rand.Rand, members)
	for i := range f.rngs {
		f.rngs[i] = rand.New(&f.srcs[i])
	}
	return f, nil
}

// Model returns the model being stepped.
func (f *Forecaster) Model() Model { return f.model }

// Members is the required number of ensemble rows.
func (f *Forecaster) Members() int { return f.members }

// Workers is the number of members advanced at once: the number of worker
// goroutines (after capping at Members), or Members for an
// EnsembleAdvancer, which gets them all in one call.
func (f *Forecaster) Workers() int { return f.workers }

// Noise is the additive model-noise standard deviation (0 = deterministic).
func (f *Forecaster) Noise() float64 { return f.noise }

// SetNoise sets the standard deviation q of additive Gaussian model noise:
// after every model step each member is updated as x ← x + q ξ with
// ξ ~ N(0, I) drawn afresh. q is per step (it is not scaled by Dt or √Dt).
// q must be finite and >= 0; 0 disables the noise.
func (f *Forecaster) SetNoise(std float64) error {
	if math.IsNaN(std) || math.IsInf(std, 0) || std < 0 {
		return fmt.Errorf("dynamics: forecaster: noise std must be finite and >= 0, got %v", std)
	}
	f.noise = std
	return nil
}

// Forecast advances every row of E (members × Dim) by steps model steps, in
// place. If noise is enabled, member i draws its noise from a PCG stream
// seeded from (seed, i) at the start of the call, so the same seed reproduces
// the same noise and the result does not depend on the number of workers;
// use a fresh seed for every call that should get fresh noise. seed is ignored
// without noise. steps == 0 is a no-op.
//
// Small problems (see SerialWorkThreshold) run on the calling goroutine and
// make no allocations.
func (f *Forecaster) Forecast(E *mat.Dense, steps int, seed uint64) error {
	return f.ForecastMembersContext(context.Background(), E, 0, f.members, steps, seed)
}

// ForecastContext is Forecast that stops early when ctx ends (see
// ForecastMembersContext).
func (f *Forecaster) ForecastContext(ctx context.Context, E *mat.Dense, steps int, seed uint64) error {
	return f.ForecastMembersContext(ctx, E, 0, f.members, steps, seed)
}

// CancelCheckWork is the number of element steps (Dim · steps of one
// member) between two looks at the context of ForecastMembersContext:
// 1<<16 element steps of Lorenz-96 take about half a millisecond, so a
// forecast stops within milliseconds of its context's end, and the looks
// cost nothing measurable.
const CancelCheckWork = 1 << 16

// ForecastMembers advances rows lo..hi−1 of E (members × Dim) as Forecast
// does and leaves the other rows alone. Member i's noise depends only on
// (seed, i), so forecasting an ensemble in slices of members, in any order
// and on any machine, gives the bytes of one Forecast call.
func (f *Forecaster) ForecastMembers(E *mat.Dense, lo, hi, steps int, seed uint64) error {
	return f.ForecastMembersContext(context.Background(), E, lo, hi, steps, seed)
}

// ForecastMembersContext is ForecastMembers that looks at ctx every
// CancelCheckWork element steps of each member and, once ctx has ended,
// returns ctx's error with rows lo..hi−1 of E partly advanced (the caller
// discards them). An EnsembleAdvancer model is asked once per call (per
// step with model noise), and the context is looked at between calls.
// The result of a call that runs to the end does not depend on ctx.
func (f *Forecaster) ForecastMembersContext(ctx context.Context, E *mat.Dense, lo, hi, steps int, seed uint64) error {
	if E == nil {
		return errors.New("dynamics: forecaster: nil ensemble")
	}
	if steps < 0 {
		return fmt.Errorf("dynamics: forecaster: steps must be >= 0, got %d", steps)
	}
	r, c := E.Dims()
	if c != f.dim {
		return fmt.Errorf("dynamics: forecaster: ensemble has %d columns, model %q has Dim %d", c, f.model.Name(), f.dim)
	}
	if r != f.members {
		return fmt.Errorf("dynamics: forecaster: ensemble has %d rows, want %d members", r, f.members)
	}
	if lo < 0 || hi > f.members || lo > hi {
		return fmt.Errorf("dynamics: forecaster: members %d..%d outside 0..%d", lo, hi-1, f.members-1)
	}
	n := hi - lo
	if steps == 0 || n == 0 {
		return nil
	}
	if f.adv != nil {
		return f.advance(ctx, E, lo, hi, steps, seed)
	}
	work := float64(f.dim) * float64(n) * float64(steps) * f.weight
	nw := min(f.workers, n)
	if nw == 1 || work < f.threshold {
		return f.run(ctx, f.steppers[0], E, lo, hi, steps, seed)
	}
	var wg sync.WaitGroup
	errs := make([]error, nw)
	for w := 1; w < nw; w++ {
		a, b := lo+w*n/nw, lo+(w+1)*n/nw
		st := f.steppers[w]
		wg.Go(func() { errs[w] = f.run(ctx, st, E, a, b, steps, seed) })
	}
	errs[0] = f.run(ctx, f.steppers[0], E, lo, lo+n/nw, steps, seed)
	wg.Wait()
	return errors.Join(errs...)
}

// run steps members lo..hi−1 of E with stepper st. Each member is advanced
// through all steps before the next one (its state stays in cache), in
// chunks of CancelCheckWork element steps with a look at ctx before each.
func (f *Forecaster) run(ctx context.Context, st Stepper, E *mat.Dense, lo, hi, steps int, seed uint64) error {
	q := f.noise
	done := ctx.Done()
	chunk := steps
	if done != nil {
		chunk = max(1, CancelCheckWork/f.dim)
	}
	for i := lo; i < hi; i++ {
		x := E.RawRowView(i)
		var rng *rand.Rand
		if q != 0 {
			s1, s2 := noiseSeed(seed, uint64(i))
			f.srcs[i].Seed(s1, s2)
			rng = f.rngs[i]
		}
		for s := 0; s < steps; s += chunk {
			select {
			case <-done:
				return fmt.Errorf("dynamics: forecast stopped: %w", ctx.Err())
			default:
			}
			m := min(chunk, steps-s)
			if q == 0 {
				for range m {
					st.Step(x)
				}
				continue
			}
			for range m {
				st.Step(x)
				for j := range x {
					x[j] += q * rng.NormFloat64()
				}
			}
		}
	}
	return nil
}

// advance is ForecastMembers for an EnsembleAdvancer: one call for all
// steps, or one call per step followed by each member's noise, drawn as run
// draws it.
func (f *Forecaster) advance(ctx context.Context, E *mat.Dense, lo, hi, steps int, seed uint64) error {
	X := E.Slice(lo, hi, 0, f.dim).(*mat.Dense)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dynamics: forecast stopped: %w", err)
	}
	if f.noise == 0 {
		return f.adv.AdvanceEnsemble(X, steps)
	}
	for i := lo; i < hi; i++ {
		s1, s2 := noiseSeed(seed, uint64(i))
		f.srcs[i].Seed(s1, s2)
	}
	q := f.noise
	for range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dynamics: forecast stopped: %w", ctx.Err())
		}
		if err := f.adv.AdvanceEnsemble(X, 1); err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			x, rng := E.RawRowView(i), f.rngs[i]
			for j := range x {
				x[j] += q * rng.NormFloat64()
			}
		}
	}
	return nil
}

// Host returns E moved into memory the model shares (EnsembleHost), where
// forecasts of it copy nothing, or E itself, and the function that gives
// the memory back. The caller checks a hosted forecast's values, and
// discards the ensemble after a forecast that fails.
func (f *Forecaster) Host(E *mat.Dense) (*mat.Dense, func()) {
	if h, ok := f.model.(EnsembleHost); ok {
		return h.HostEnsemble(E)
	}
	return E, func() {}
}

// noiseSeed maps (seed, member) injectively to a 128-bit PCG state, passing
// both through the SplitMix64 finaliser so that neighbouring seeds and member
// indices give unrelated streams.
func noiseSeed(seed, member uint64) (uint64, uint64) {
	hi := mix64(seed + mix64(member))
	lo := mix64(hi ^ seed)
	return hi, lo
}

// mix64 is the SplitMix64 output function (a bijection on uint64).
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
