package dynamics

import (
	"fmt"
	"math"
)

// Field is the right-hand side f of an autonomous ODE dx/dt = f(x).
type Field interface {
	// Deriv writes f(x) into dst. dst and x have the same length and do not
	// overlap. Deriv must not allocate or keep references to its arguments.
	Deriv(dst, x []float64)
}

// BlockField is an optional extension of Field for vector fields that can
// evaluate a contiguous block of components: DerivBlock writes f(x)_{lo+j}
// into dst[j] for 0 <= j < len(dst), reading whatever it needs of the full
// state x. RK4 uses it for states longer than rk4Block to fuse each stage's
// derivative with the stage update block by block, so the derivative never
// travels to main memory (≈25% faster at nx = 10⁶ for Lorenz-96). Results
// are bit-identical to the unblocked path.
type BlockField interface {
	Field
	DerivBlock(dst, x []float64, lo int)
}

// rk4Block is the block length for the fused RK4 path: 256 float64 = 2 KiB,
// so the block derivative plus the five block slices touched per update fit
// comfortably in a 32 KiB L1 cache. Measured on Lorenz-96 at nx = 10⁶: 128
// and 256 are equally fast, 512 slightly and 4096 clearly slower.
const rk4Block = 256

// FieldFunc adapts an ordinary function to the Field interface.
type FieldFunc func(dst, x []float64)

// Deriv calls fn(dst, x).
func (fn FieldFunc) Deriv(dst, x []float64) { fn(dst, x) }

// RK4 is the classical fourth-order Runge–Kutta scheme for dx/dt = f(x),
//
//	k1 = f(x)
//	k2 = f(x + h/2 k1)
//	k3 = f(x + h/2 k2)
//	k4 = f(x + h k3)
//	x ← x + h/6 (k1 + 2 k2 + 2 k3 + k4),
//
// with a fixed step h. It owns its scratch space, so Step does not allocate.
// Only three scratch vectors are kept (the current stage k, the stage input,
// and the running weighted sum k1 + 2k2 + 2k3), which is algebraically the
// same as storing k1..k4 but uses less memory traffic for large states.
//
// An RK4 is not safe for concurrent use; make one per goroutine.
type RK4 struct {
	f   Field
	bf  BlockField // non-nil when f supports blocks and n > rk4Block
	n   int
	dt  float64
	k   []float64 // current stage derivative (block-sized on the fused path)
	tmp []float64 // stage input x + c h k
	tm2 []float64 // second stage input for the fused path (ping-pong)
	acc []float64 // k1 + 2 k2 + 2 k3
}

// NewRK4 returns an RK4 stepper for states of length n with step dt.
// It panics if n < 1; dt is not checked (model constructors validate it).
func NewRK4(f Field, n int, dt float64) *RK4 {
	if n < 1 {
		panic(fmt.Sprintf("dynamics: NewRK4: n must be >= 1, got %d", n))
	}
	r := &RK4{
		f:   f,
		n:   n,
		dt:  dt,
		tmp: make([]float64, n),
		acc: make([]float64, n),
	}
	if bf, ok := f.(BlockField); ok && n > rk4Block {
		r.bf = bf
		r.k = make([]float64, rk4Block)
		r.tm2 = make([]float64, n)
	} else {
		r.k = make([]float64, n)
	}
	return r
}

// Dt is the time step h.
func (r *RK4) Dt() float64 { return r.dt }

// Len is the state length the stepper was built for.
func (r *RK4) Len() int { return r.n }

// Step advances x by one step of length Dt, in place. It panics if
// len(x) != Len().
func (r *RK4) Step(x []float64) {
	n := r.n
	if len(x) != n {
		panic(fmt.Sprintf("dynamics: RK4.Step: len(x) = %d, want %d", len(x), n))
	}
	if r.bf != nil {
		r.stepBlocked(x)
		return
	}
	h := r.dt
	hh := 0.5 * h
	k, tmp, acc := r.k[:n], r.tmp[:n], r.acc[:n]

	r.f.Deriv(k, x) // k1
	for i, ki := range k {
		acc[i] = ki
		tmp[i] = x[i] + hh*ki
	}
	r.f.Deriv(k, tmp) // k2
	for i, ki := range k {
		acc[i] += 2 * ki
		tmp[i] = x[i] + hh*ki
	}
	r.f.Deriv(k, tmp) // k3
	for i, ki := range k {
		acc[i] += 2 * ki
		tmp[i] = x[i] + h*ki
	}
	r.f.Deriv(k, tmp) // k4
	h6 := h / 6
	for i, ki := range k {
		x[i] += h6 * (acc[i] + ki)
	}
}

// stepBlocked is Step for BlockFields: every stage sweeps the state in
// blocks, computing the block's derivative into the small k buffer and
// immediately applying the stage update. Stage inputs alternate between tmp
// and tm2 because a block's derivative reads neighbouring components of the
// previous stage input, which must not be overwritten yet. The arithmetic per
// component is exactly that of the unblocked loops.
func (r *RK4) stepBlocked(x []float64) {
	n, h := r.n, r.dt
	hh, h6 := 0.5*h, h/6
	a, b, acc := r.tmp[:n], r.tm2[:n], r.acc[:n]
	x = x[:n]
	// Stage 1: k1 = f(x); acc = k1; a = x + h/2 k1.
	for lo := 0; lo < n; lo += rk4Block {
		k := r.k[:min(rk4Block, n-lo)]
		r.bf.DerivBlock(k, x, lo)
		xs, as, ts := x[lo:][:len(k)], acc[lo:][:len(k)], a[lo:][:len(k)]
		for j, kj := range k {
			as[j] = kj
			ts[j] = xs[j] + hh*kj
		}
	}
	// Stage 2: k2 = f(a); acc += 2 k2; b = x + h/2 k2.
	for lo := 0; lo < n; lo += rk4Block {
		k := r.k[:min(rk4Block, n-lo)]
		r.bf.DerivBlock(k, a, lo)
		xs, as, ts := x[lo:][:len(k)], acc[lo:][:len(k)], b[lo:][:len(k)]
		for j, kj := range k {
			as[j] += 2 * kj
			ts[j] = xs[j] + hh*kj
		}
	}
	// Stage 3: k3 = f(b); acc += 2 k3; a = x + h k3.
	for lo := 0; lo < n; lo += rk4Block {
		k := r.k[:min(rk4Block, n-lo)]
		r.bf.DerivBlock(k, b, lo)
		xs, as, ts := x[lo:][:len(k)], acc[lo:][:len(k)], a[lo:][:len(k)]
		for j, kj := range k {
			as[j] += 2 * kj
			ts[j] = xs[j] + h*kj
		}
	}
	// Stage 4: k4 = f(a); x += h/6 (acc + k4). Writing x is safe: no later
	// block reads it through the derivative.
	for lo := 0; lo < n; lo += rk4Block {
		k := r.k[:min(rk4Block, n-lo)]
		r.bf.DerivBlock(k, a, lo)
		xs, as := x[lo:][:len(k)], acc[lo:][:len(k)]
		for j, kj := range k {
			xs[j] += h6 * (as[j] + kj)
		}
	}
}

// checkFinite reports a non-finite model parameter.
func checkFinite(model, name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("dynamics: %s: %s must be finite, got %v", model, name, v)
	}
	return nil
}

// checkDt validates a time step: finite and strictly positive.
func checkDt(model string, dt float64) error {
	if err := checkFinite(model, "dt", dt); err != nil {
		return err
	}
	if dt <= 0 {
		return fmt.Errorf("dynamics: %s: dt must be > 0, got %v", model, dt)
	}
	return nil
}
