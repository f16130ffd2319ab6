// Command l96go is the Lorenz-96 model as an external latentda model, a
// worked example of docs/external-models.md in Go: it reads latentda's
// requests on stdin and answers on stdout through external.Serve, and logs
// to stderr only.
//
// The model is Lorenz (1996) on a ring of n sites (n from the handshake),
//
//	dx_i/dt = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F,
//
// stepped by classical RK4 with the handshake's dt, in the same floating-
// point operations, in the same order, as latentda's built-in lorenz96
// model, so a run through this program gives the built-in run's bytes.
//
// With -spacing h > 0 the handshake also gives the sites' coordinates,
// h·i on a ring of length h·n, which the LETKF then localises by (its
// loc_radius in the same units); the default, 0, leaves latentda to use the
// site index.
//
// Usage: l96go [-forcing F] [-spacing h]
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/latentda/latentda/external"
)

func main() {
	forcing := flag.Float64("forcing", 8, "the forcing F")
	spacing := flag.Float64("spacing", 0, "if > 0, send the coordinates of the sites, this far apart")
	flag.Parse()
	log.SetPrefix("l96go: ")
	var h external.Handler = &model{forcing: *forcing}
	if *spacing > 0 {
		h = &withCoords{model: h.(*model), spacing: *spacing}
	}
	if err := external.Serve(os.Stdin, os.Stdout, h); err != nil {
		log.Fatal(err)
	}
}

// withCoords is the model with the coordinates of its sites.
type withCoords struct {
	*model
	spacing float64
}

// Coordinates places site i at spacing·i on a ring of length spacing·n.
func (m *withCoords) Coordinates(n int) ([]float64, float64) {
	c := make([]float64, n)
	for i := range c {
		c[i] = m.spacing * float64(i)
	}
	return c, m.spacing * float64(n)
}

// model is Lorenz-96 with RK4 scratch space.
type model struct {
	forcing float64
	n       int
	dt      float64
	k, tmp  []float64 // stage derivative and stage input
	acc     []float64 // k1 + 2 k2 + 2 k3
}

// Hello sets the size and step, and returns the reference state that the
// built-in model uses: F everywhere, x₀ += 0.01, spun up for 50 time units.
func (m *model) Hello(n int, dt float64) ([]float64, error) {
	if n < 4 {
		return nil, fmt.Errorf("lorenz-96 needs n >= 4 sites, got %d", n)
	}
	if !(dt > 0) {
		return nil, errors.New("dt must be > 0")
	}
	m.n, m.dt = n, dt
	m.k, m.tmp, m.acc = make([]float64, n), make([]float64, n), make([]float64, n)
	x := make([]float64, n)
	for i := range x {
		x[i] = m.forcing
	}
	x[0] += 0.01
	for range int(50 / dt) {
		m.step(x)
	}
	log.Printf("n = %d, dt = %v, F = %v", n, dt, m.forcing)
	return x, nil
}

// Advance steps every row of X.
func (m *model) Advance(X []float64, rows, steps int) error {
	for i := range rows {
		x := X[i*m.n : (i+1)*m.n]
		for range steps {
			m.step(x)
		}
	}
	return nil
}

// deriv writes the Lorenz-96 vector field at x into dst.
func (m *model) deriv(dst, x []float64) {
	n, F := m.n, m.forcing
	for i := range n {
		dst[i] = (x[(i+1)%n]-x[(i+n-2)%n])*x[(i+n-1)%n] - x[i] + F
	}
}

// step advances x by one RK4 step:
//
//	k1 = f(x), k2 = f(x + h/2 k1), k3 = f(x + h/2 k2), k4 = f(x + h k3),
//	x ← x + h/6 (k1 + 2 k2 + 2 k3 + k4).
func (m *model) step(x []float64) {
	h := m.dt
	hh := 0.5 * h
	k, tmp, acc := m.k, m.tmp, m.acc
	m.deriv(k, x) // k1
	for i, ki := range k {
		acc[i] = ki
		tmp[i] = x[i] + hh*ki
	}
	m.deriv(k, tmp) // k2
	for i, ki := range k {
		acc[i] += 2 * ki
		tmp[i] = x[i] + hh*ki
	}
	m.deriv(k, tmp) // k3
	for i, ki := range k {
		acc[i] += 2 * ki
		tmp[i] = x[i] + h*ki
	}
	m.deriv(k, tmp) // k4
	h6 := h / 6
	for i, ki := range k {
		x[i] += h6 * (acc[i] + ki)
	}
}
