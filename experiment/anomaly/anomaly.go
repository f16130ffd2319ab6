// Package anomaly makes a twin experiment's world leave the model
// ([config.AnomalyConfig]): a nature run with other parameters, a pattern
// added to what the observations see or forced into the nature run, and
// sensor faults, all from a given cycle on. Quality control is measured
// against them (latentda bench ood).
package anomaly

import (
	"fmt"
	"math"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/dynamics"
	"github.com/latentda/latentda/observations"
)

// Anomaly is a [config.AnomalyConfig] made concrete for a twin
// experiment. A nil *Anomaly is none: its methods leave the world as the
// model makes it.
type Anomaly struct {
	cfg     config.AnomalyConfig
	nature  dynamics.Stepper // nil: the nature run follows the model
	pattern []float64        // nil: none
	seen    []float64        // truth + pattern
	noise   float64          // standard deviation of the observation noise over R's (1: R's)
	dt      float64          // model step, for a dynamical pattern
}

// New returns the anomaly of cfg on the model m, whose observations are at
// the grid positions observed; noise is the standard deviation of the
// anomalous observation noise over R's (1: R's).
func New(cfg config.AnomalyConfig, m config.ModelConfig, observed []float64, noise float64) (*Anomaly, error) {
	a := &Anomaly{cfg: cfg, noise: noise, dt: m.Dt}
	if cfg.Forcing != 0 {
		model, err := dynamics.NewLorenz96(m.Nx, cfg.Forcing, m.Dt)
		if err != nil {
			return nil, fmt.Errorf("anomaly.forcing: %w", err)
		}
		a.nature = model.NewStepper()
	}
	if cfg.Length != 0 {
		model, err := dynamics.NewKS(m.Nx, cfg.Length, m.Dt)
		if err != nil {
			return nil, fmt.Errorf("anomaly.length: %w", err)
		}
		a.nature = model.NewStepper()
	}
	if a.pattern = Pattern(cfg, m.Nx, observed); a.pattern != nil {
		a.seen = make([]float64, m.Nx)
	}
	return a, nil
}

// Pattern returns the anomaly's pattern on the n grid points (nil
// without one): a bump or a wave, zero at the observed positions if it
// is on the unobserved variables only.
func Pattern(cfg config.AnomalyConfig, n int, observed []float64) []float64 {
	if cfg.Pattern == "" {
		return nil
	}
	pattern := make([]float64, n)
	for j := range pattern {
		switch cfg.Pattern {
		case "bump":
			d := observations.PeriodicDistance(float64(j), cfg.Center, float64(n))
			pattern[j] = cfg.Amplitude * math.Exp(-d*d/(2*cfg.Width*cfg.Width))
		case "wave":
			pattern[j] = cfg.Amplitude * math.Cos(2*math.Pi*float64(cfg.Wavenumber*j)/float64(n))
		}
	}
	if cfg.UnobservedOnly {
		for _, p := range observed {
			pattern[int(math.Round(p))%n] = 0
		}
	}
	return pattern
}

func (a *Anomaly) active(k int) bool { return a != nil && k >= a.cfg.FromCycle }

// Forces reports whether a dynamical anomaly forces the nature run at cycle k.
func (a *Anomaly) Forces(k int) bool { return a.active(k) && a.pattern != nil && a.cfg.Dynamical }

// NatureStepper returns the nature run's stepper for cycle k, or nil if the
// nature run follows the model.
func (a *Anomaly) NatureStepper(k int) dynamics.Stepper {
	if a.active(k) {
		return a.nature
	}
	return nil
}

// Force adds a dynamical pattern's dt·pattern to the nature state after a
// model step of cycle k.
func (a *Anomaly) Force(truth []float64, k int) {
	if !a.Forces(k) {
		return
	}
	for j, p := range a.pattern {
		truth[j] += a.dt * p
	}
}

// SeenState returns the state the observations of cycle k see.
func (a *Anomaly) SeenState(truth []float64, k int) []float64 {
	if !a.active(k) || a.pattern == nil || a.cfg.Dynamical {
		return truth
	}
	for j, v := range truth {
		a.seen[j] = v + a.pattern[j]
	}
	return a.seen
}

// NoiseScale returns the factor on the observation noise of cycle k.
func (a *Anomaly) NoiseScale(k int) float64 {
	if !a.active(k) {
		return 1
	}
	return a.noise
}

// Bias returns the sensor fault's offset of observation i in cycle k.
func (a *Anomaly) Bias(i, k int) float64 {
	if !a.active(k) || i != a.cfg.BiasIndex {
		return 0
	}
	if a.cfg.SpikeEvery > 0 && (k-a.cfg.FromCycle)%a.cfg.SpikeEvery != 0 {
		return 0
	}
	return a.cfg.Bias
}
