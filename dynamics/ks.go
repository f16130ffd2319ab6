package dynamics

import (
	"fmt"
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/dsp/fourier"
)

// DAPPER's bocquet2019 Kuramoto–Sivashinsky configuration.
const (
	KSNx     = 128
	KSLength = 32 * math.Pi
	KSDt     = 0.5
)

// ksContourPoints is the number of points on the upper half of the unit
// circle used for the contour-integral evaluation of the ETD-RK4 φ-functions.
// Taking the real part of the mean over the upper half-circle equals the mean
// over the full circle of 2·ksContourPoints points (the integrands are real
// on the real axis, so the lower half contributes complex conjugates).
const ksContourPoints = 32

// KSSpinUp is the model time over which InitialCondition integrates the
// smooth initial profile to land on the attractor.
const KSSpinUp = 150.0

// KS is the Kuramoto–Sivashinsky equation
//
//	u_t = −u u_x − u_xx − u_xxxx,   x ∈ [0, L) periodic,
//
// discretised pseudo-spectrally on nx equispaced points and integrated with
// the exponential time-differencing RK4 scheme of Cox & Matthews (2002) in the
// form of Kassam & Trefethen (2005). In Fourier space v_k = FFT(u)_k,
//
//	dv_k/dt = L_k v_k + N_k(v),   L_k = q_k² − q_k⁴,
//	N_k(v) = −½ i q_k FFT((IFFT v)²)_k,   q_k = 2πk/L,
//
// for k = 0..nx/2. As in DAPPER, the Nyquist wave number k = nx/2 is given
// q = 0 in both the linear and the derivative symbol, so that mode is frozen.
// No de-aliasing is applied. Construct it with NewKS.
type KS struct {
	nx     int
	length float64
	dt     float64

	// etd holds the ETD-RK4 coefficients of the step dt. g is the
	// derivative factor −½ q_k including the 1/nx² normalisation of the
	// squared inverse FFT (gonum's transforms are unnormalised).
	etd etdCoeffs
	g   []float64
	// lin is L_k, kept for tests and diagnostics.
	lin []float64
}

// etdCoeffs are the ETD-RK4 coefficients of one step h per wave number,
// all real: E = e^{hL}, E₂ = e^{hL/2}, and the Kassam–Trefethen
// φ-function combinations Q, f₁, f₂, f₃.
type etdCoeffs struct {
	e, e2, q, f1, f2, f3 []float64
}

// ksStableCourant bounds dt·max|u| for one ETD-RK4 step of the KS
// equation: above it, Step splits the step into equal substeps of
// dt·max|u| ≤ ksSubstepCourant each. The explicit nonlinear term −u u_x is
// what goes unstable; the linear part is integrated exactly. On the
// standard grid (nx 128, L = 32π) the attractor's max|u| is 3.43 over 4000
// time units, and of 40 of its states with smoothed noise added (max|u| up
// to 16), 39 blow up under unsplit steps of 0.5
// (`go test -v -run TestKSSubstepsOffAttractor ./dynamics` logs both). A
// bound of 3, max|u| 6 at dt 0.5, leaves the attractor unsplit at the
// DAPPER step, so trajectories on it stay bit for bit those of a fixed
// step; members an analysis puts off it get substeps instead of blowing
// up. The KS equation has no finite-time blow-up (its solutions enter a
// bounded absorbing set), so such a blow-up is the integrator's failure,
// not the model's.
const ksStableCourant = 3.0

// ksSubstepCourant is dt·max|u| for each substep of a split step, near the
// attractor's own at the DAPPER step (3.43 × 0.5), for accuracy rather
// than the edge of stability.
const ksSubstepCourant = 1.8

var _ Model = (*KS)(nil)

// NewKS returns a KS model with nx grid points (even, >= 8) on [0, length)
// with ETD-RK4 step dt. length and dt must be finite and > 0.
func NewKS(nx int, length, dt float64) (*KS, error) {
	const name = "ks"
	if nx < 8 || nx%2 != 0 {
		return nil, fmt.Errorf("dynamics: %s: nx must be even and >= 8, got %d", name, nx)
	}
	if err := checkFinite(name, "length", length); err != nil {
		return nil, err
	}
	if length <= 0 {
		return nil, fmt.Errorf("dynamics: %s: length must be > 0, got %v", name, length)
	}
	if err := checkDt(name, dt); err != nil {
		return nil, err
	}
	nk := nx/2 + 1
	m := &KS{nx: nx, length: length, dt: dt, g: make([]float64, nk), lin: make([]float64, nk)}
	inv2 := 1 / (float64(nx) * float64(nx))
	for k := range nk {
		var qk float64
		if k < nx/2 {
			qk = 2 * math.Pi * float64(k) / length
		}
		m.lin[k] = qk*qk - qk*qk*qk*qk
		m.g[k] = -0.5 * qk * inv2
	}
	m.etd = m.coeffs(dt)
	return m, nil
}

// coeffs returns the ETD-RK4 coefficients of a step h.
func (m *KS) coeffs(h float64) etdCoeffs {
	nk := len(m.lin)
	alloc := func() []float64 { return make([]float64, nk) }
	c := etdCoeffs{e: alloc(), e2: alloc(), q: alloc(), f1: alloc(), f2: alloc(), f3: alloc()}
	// Contour nodes r_j = exp(iπ(j − ½)/M), j = 1..M, on the upper half circle.
	var r [ksContourPoints]complex128
	for j := range r {
		r[j] = cmplx.Exp(complex(0, math.Pi*(float64(j)+0.5)/ksContourPoints))
	}
	for k, lk := range m.lin {
		z := h * lk
		c.e[k] = math.Exp(z)
		c.e2[k] = math.Exp(z / 2)
		// φ-type functions by the Cauchy integral mean around z; the direct
		// formulas suffer catastrophic cancellation for small |z|.
		var sq, s1, s2, s3 complex128
		for _, rj := range r {
			c := complex(z, 0) + rj
			c2 := c * c
			c3 := c2 * c
			ec := cmplx.Exp(c)
			sq += (cmplx.Exp(c/2) - 1) / c
			s1 += (-4 - c + ec*(4-3*c+c2)) / c3
			s2 += (2 + c + ec*(-2+c)) / c3
			s3 += (-4 - 3*c - c2 + ec*(4-c)) / c3
		}
		const inv = 1.0 / ksContourPoints
		c.q[k] = h * real(sq) * inv
		c.f1[k] = h * real(s1) * inv
		c.f2[k] = h * real(s2) * inv
		c.f3[k] = h * real(s3) * inv
	}
	return c
}

// stepWeight tells the Forecaster that a KS element step (10 real FFTs of
// length nx per step) costs ≈ 35× a Lorenz-96 RK4 element step at nx = 128
// (measured ≈ 370 ns vs ≈ 10 ns per element step under the same load).
func (m *KS) stepWeight() int { return 32 }

// Name returns "ks".
func (m *KS) Name() string { return "ks" }

// Dim is the number of grid points nx.
func (m *KS) Dim() int { return m.nx }

// Dt is the ETD-RK4 step.
func (m *KS) Dt() float64 { return m.dt }

// Length is the domain length L.
func (m *KS) Length() float64 { return m.length }

// Grid returns the grid x_j = L (j+1)/nx, j = 0..nx−1 (the Kassam–Trefethen /
// DAPPER convention; the dynamics are shift invariant so the offset only
// matters when building initial conditions).
func (m *KS) Grid() []float64 {
	x := make([]float64, m.nx)
	for j := range x {
		x[j] = m.length * float64(j+1) / float64(m.nx)
	}
	return x
}

// InitialCondition returns a state on the attractor: the Kassam–Trefethen
// profile u(x) = cos(x/16)(1 + sin(x/16)) on Grid, integrated forward
// round(150/Dt) steps (≈150 time units). The profile is periodic only for
// L = 32π (the standard setup); for other L it is still smooth in the interior
// and the transient is discarded by the spin-up.
func (m *KS) InitialCondition() []float64 {
	u := m.Grid()
	for j, x := range u {
		u[j] = math.Cos(x/16) * (1 + math.Sin(x/16))
	}
	s := m.NewKSStepper()
	n := int(math.Round(KSSpinUp / m.dt))
	for range n {
		s.Step(u)
	}
	return u
}

// NewStepper returns a *KSStepper for m.
func (m *KS) NewStepper() Stepper { return m.NewKSStepper() }

// NewKSStepper returns a stepper owning its own FFT plan and buffers.
func (m *KS) NewKSStepper() *KSStepper {
	nk := m.nx/2 + 1
	c := func() []complex128 { return make([]complex128, nk) }
	s := &KSStepper{
		m:   m,
		fft: fourier.NewFFT(m.nx),
		u:   make([]float64, m.nx),
		v:   c(), v1: c(), v2: c(),
		n1: c(), n2a: c(), n2b: c(), n3: c(),
	}
	s.nl = s.nonlinear
	return s
}

// ksMaxSubsteps caps the substeps of one step: a state that needs more
// has left any physical range, and its step's result is reported by the
// caller's divergence check.
const ksMaxSubsteps = 64

// substeps returns 1 when a step of dt from x stays within
// ksStableCourant (always on the attractor at the usual steps), and
// otherwise the number of equal substeps that keeps each within
// ksSubstepCourant (at most ksMaxSubsteps). A non-finite x, which the
// caller's divergence check reports, gets one step.
func (m *KS) substeps(x []float64) int {
	peak := 0.0
	for _, v := range x {
		peak = math.Max(peak, math.Abs(v))
	}
	if !(m.dt*peak > ksStableCourant) || math.IsInf(peak, 1) {
		return 1
	}
	return int(min(math.Ceil(m.dt*peak/ksSubstepCourant), ksMaxSubsteps))
}

// KSStepper advances a KS state (physical-space values on the grid) by dt
// (Step). It owns a *fourier.FFT, which has internal work space, so a
// KSStepper is not safe for concurrent use.
type KSStepper struct {
	m   *KS
	fft *fourier.FFT
	u   []float64 // physical-space scratch
	// Spectral state and stage buffers (length nx/2+1).
	v, v1, v2, n1, n2a, n2b, n3 []complex128
	// nl evaluates the nonlinear term; a field so tests can substitute a
	// known forcing to check the scheme in isolation.
	nl func(dst, v []complex128)
	// sub holds the coefficients of the substeps dt/n used so far, by n.
	sub map[int]*etdCoeffs
}

// sc multiplies a complex number by a real scalar (2 flops instead of the 6
// of a full complex product).
func sc(a float64, z complex128) complex128 { return complex(a*real(z), a*imag(z)) }

// nonlinear computes N(v) = −½ i q FFT((IFFT v)²). gonum's Sequence is the
// unnormalised inverse (it returns nx·IFFT), so the square carries nx², which
// is folded into g.
func (s *KSStepper) nonlinear(dst, v []complex128) {
	u := s.fft.Sequence(s.u, v)
	for j, uj := range u {
		u[j] = uj * uj
	}
	s.fft.Coefficients(dst, u)
	g := s.m.g[:len(dst)]
	for k, d := range dst {
		// (i g)(a + ib) = −g b + i g a
		dst[k] = complex(-g[k]*imag(d), g[k]*real(d))
	}
}

// Step advances the grid values x (length nx) by dt in place: one ETD-RK4
// step, or the equal substeps of substeps(x) when dt·max|x| exceeds
// ksStableCourant. It does not allocate on the attractor; the first use
// of each number of substeps computes its coefficients.
func (s *KSStepper) Step(x []float64) {
	m := s.m
	if len(x) != m.nx {
		panic(fmt.Sprintf("dynamics: KSStepper.Step: len(x) = %d, want %d", len(x), m.nx))
	}
	n := m.substeps(x)
	if n == 1 {
		s.step(x, &m.etd)
		return
	}
	c, ok := s.sub[n]
	if !ok {
		cn := m.coeffs(m.dt / float64(n))
		c = &cn
		if s.sub == nil {
			s.sub = map[int]*etdCoeffs{}
		}
		s.sub[n] = c
	}
	for range n {
		s.step(x, c)
	}
}

// step advances x by one ETD-RK4 step with coefficients c:
//
//	a  = E₂ v + Q N(v)
//	b  = E₂ v + Q N(a)
//	c  = E₂ a + Q (2N(b) − N(v))
//	v ← E v + f₁ N(v) + 2 f₂ (N(a) + N(b)) + f₃ N(c)
func (s *KSStepper) step(x []float64, c *etdCoeffs) {
	m := s.m
	nk := len(s.v)
	v, v1, v2 := s.v, s.v1[:nk], s.v2[:nk]
	n1, n2a, n2b, n3 := s.n1[:nk], s.n2a[:nk], s.n2b[:nk], s.n3[:nk]
	e, e2, q := c.e[:nk], c.e2[:nk], c.q[:nk]
	f1, f2, f3 := c.f1[:nk], c.f2[:nk], c.f3[:nk]

	s.fft.Coefficients(v, x)
	s.nl(n1, v)
	for k := range v {
		v1[k] = sc(e2[k], v[k]) + sc(q[k], n1[k])
	}
	s.nl(n2a, v1)
	for k := range v {
		v2[k] = sc(e2[k], v[k]) + sc(q[k], n2a[k])
	}
	s.nl(n2b, v2)
	for k := range v {
		v2[k] = sc(e2[k], v1[k]) + sc(q[k], 2*n2b[k]-n1[k])
	}
	s.nl(n3, v2)
	for k := range v {
		v[k] = sc(e[k], v[k]) + sc(f1[k], n1[k]) + sc(2*f2[k], n2a[k]+n2b[k]) + sc(f3[k], n3[k])
	}
	s.fft.Sequence(x, v)
	inv := 1 / float64(m.nx)
	for j := range x {
		x[j] *= inv
	}
}

// Deriv writes the KS right-hand side −u u_x − u_xx − u_xxxx at the grid
// values u into dst (both length nx), computed spectrally with the same
// symbols as Step (Nyquist mode dropped from the derivatives). It is meant for
// diagnostics and tests; it does not allocate.
func (s *KSStepper) Deriv(dst, u []float64) {
	m := s.m
	if len(u) != m.nx || len(dst) != m.nx {
		panic(fmt.Sprintf("dynamics: KSStepper.Deriv: lengths %d, %d, want %d", len(dst), len(u), m.nx))
	}
	s.fft.Coefficients(s.v, u)
	s.nonlinear(s.n1, s.v)
	for k := range s.v {
		s.n1[k] += sc(m.lin[k], s.v[k])
	}
	s.fft.Sequence(dst, s.n1)
	inv := 1 / float64(m.nx)
	for j := range dst {
		dst[j] *= inv
	}
}
