package experiment

import (
	"fmt"
	"math"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/dynamics"
)

// anomaly is a [config.AnomalyConfig] made concrete for a Setup.
type anomaly struct {
	cfg     config.AnomalyConfig
	nature  dynamics.Stepper // nil: the nature run follows the model
	pattern []float64        // nil: none
	seen    []float64        // truth + pattern
	noise   float64          // standard deviation of the observation noise over R's (1: R's)
	dt      float64          // model step, for a dynamical pattern
}

func newAnomaly(cfg config.AnomalyConfig, m config.ModelConfig, observed []float64) (*anomaly, error) {
	a := &anomaly{cfg: cfg, noise: 1, dt: m.Dt}
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
	if a.pattern = AnomalyPattern(cfg, m.Nx, observed); a.pattern != nil {
		a.seen = make([]float64, m.Nx)
	}
	return a, nil
}

// AnomalyPattern returns the anomaly's pattern on the n grid points (nil
// without one): a bump or a wave, zero at the observed positions if it
// is on the unobserved variables only.
func AnomalyPattern(cfg config.AnomalyConfig, n int, observed []float64) []float64 {
	if cfg.Pattern == "" {
		return nil
	}
	pattern := make([]float64, n)
	for j := range pattern {
		switch cfg.Pattern {
		case "bump":
			d := math.Abs(float64(j) - cfg.Center)
			d = math.Min(math.Mod(d, float64(n)), float64(n)-math.Mod(d, float64(n)))
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

func (a *anomaly) active(k int) bool { return a != nil && k >= a.cfg.FromCycle }

// forces reports whether a dynamical anomaly forces the nature run at cycle k.
func (a *anomaly) forces(k int) bool { return a.active(k) && a.pattern != nil && a.cfg.Dynamical }

// natureStepper returns the nature run's stepper for cycle k, or nil if the
// nature run follows the model.
func (a *anomaly) natureStepper(k int) dynamics.Stepper {
	if a.active(k) {
		return a.nature
	}
	return nil
}

// force adds a dynamical pattern's dt·pattern to the nature state after a
// model step of cycle k.
func (a *anomaly) force(truth []float64, k int) {
	if !a.forces(k) {
		return
	}
	for j, p := range a.pattern {
		truth[j] += a.dt * p
	}
}

// seenState returns the state the observations of cycle k see.
func (a *anomaly) seenState(truth []float64, k int) []float64 {
	if !a.active(k) || a.pattern == nil || a.cfg.Dynamical {
		return truth
	}
	for j, v := range truth {
		a.seen[j] = v + a.pattern[j]
	}
	return a.seen
}

// noiseScale returns the factor on the observation noise of cycle k.
func (a *anomaly) noiseScale(k int) float64 {
	if !a.active(k) {
		return 1
	}
	return a.noise
}

// bias returns the sensor fault's offset of observation i in cycle k.
func (a *anomaly) bias(i, k int) float64 {
	if !a.active(k) || i != a.cfg.BiasIndex {
		return 0
	}
	if a.cfg.SpikeEvery > 0 && (k-a.cfg.FromCycle)%a.cfg.SpikeEvery != 0 {
		return 0
	}
	return a.cfg.Bias
}
