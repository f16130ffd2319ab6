package dynamics

// Standard Lorenz-63 parameters (Lorenz 1963) and the customary step.
const (
	Lorenz63Sigma = 10.0
	Lorenz63Rho   = 28.0
	Lorenz63Beta  = 8.0 / 3.0
	Lorenz63Dt    = 0.01
)

// Lorenz63 is the Lorenz (1963) convection model
//
//	dx/dt = σ (y − x)
//	dy/dt = x (ρ − z) − y
//	dz/dt = x y − β z
//
// integrated with RK4 at a fixed step. Construct it with NewLorenz63.
type Lorenz63 struct {
	sigma, rho, beta, dt float64
}

var _ Model = (*Lorenz63)(nil)

// NewLorenz63 returns a Lorenz-63 model. All parameters must be finite and dt
// must be > 0. The classical chaotic regime is Lorenz63Sigma, Lorenz63Rho,
// Lorenz63Beta.
func NewLorenz63(sigma, rho, beta, dt float64) (*Lorenz63, error) {
	const name = "lorenz63"
	for _, p := range []struct {
		n string
		v float64
	}{{"sigma", sigma}, {"rho", rho}, {"beta", beta}} {
		if err := checkFinite(name, p.n, p.v); err != nil {
			return nil, err
		}
	}
	if err := checkDt(name, dt); err != nil {
		return nil, err
	}
	return &Lorenz63{sigma: sigma, rho: rho, beta: beta, dt: dt}, nil
}

// Name returns "lorenz63".
func (m *Lorenz63) Name() string { return "lorenz63" }

// Dim returns 3.
func (m *Lorenz63) Dim() int { return 3 }

// Dt is the RK4 step.
func (m *Lorenz63) Dt() float64 { return m.dt }

// Params returns σ, ρ, β.
func (m *Lorenz63) Params() (sigma, rho, beta float64) { return m.sigma, m.rho, m.beta }

// Deriv writes the Lorenz-63 vector field at x into dst (both length 3).
func (m *Lorenz63) Deriv(dst, x []float64) {
	_, _ = dst[2], x[2]
	dst[0] = m.sigma * (x[1] - x[0])
	dst[1] = x[0]*(m.rho-x[2]) - x[1]
	dst[2] = x[0]*x[1] - m.beta*x[2]
}

// NewStepper returns an *RK4 over m.
func (m *Lorenz63) NewStepper() Stepper { return NewRK4(m, 3, m.dt) }
