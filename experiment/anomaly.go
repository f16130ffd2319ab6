package experiment

import (
	"fmt"
	"math"

	"github.com/latentda/latentda/dynamics"
)

// AnomalyConfig makes the twin experiment's world leave the filter's
// assumptions from cycle FromCycle on, to test quality control. The
// ensemble forecast keeps the configured model; diagnostics score against
// the nature run's state (without Pattern, which only the observations see).
type AnomalyConfig struct {
	// FromCycle is the first cycle affected (default 1).
	FromCycle int `yaml:"from_cycle" json:"from_cycle"`
	// Forcing, for lorenz96, is the nature run's forcing F (a regime shift);
	// 0 keeps the model's.
	Forcing float64 `yaml:"forcing" json:"forcing"`
	// Length, for ks, is the nature run's domain length L on the same grid
	// of Nx points (a regime shift: the unstable band q < 1 holds more or
	// fewer modes); 0 keeps the model's.
	Length float64 `yaml:"length,omitempty" json:"length,omitempty"`
	// Bias is added to observation BiasIndex (a sensor fault): every cycle,
	// or every SpikeEvery-th cycle (spikes) when SpikeEvery > 0.
	Bias       float64 `yaml:"bias" json:"bias"`
	BiasIndex  int     `yaml:"bias_index" json:"bias_index"`
	SpikeEvery int     `yaml:"spike_every" json:"spike_every"`
	// Pattern, bump or wave, is added to the state the observations see:
	// a bump Amplitude·exp(−δ²/(2 Width²)) at periodic distance δ from
	// Center, or a wave Amplitude·cos(2π Wavenumber j/n).
	Pattern    string  `yaml:"pattern" json:"pattern"`
	Amplitude  float64 `yaml:"amplitude" json:"amplitude"`
	Center     float64 `yaml:"center" json:"center"`
	Width      float64 `yaml:"width" json:"width"`
	Wavenumber int     `yaml:"wavenumber" json:"wavenumber"`
	// UnobservedOnly zeroes the pattern on observed variables: the anomaly
	// lives in the null space of H, where no observation can see it.
	UnobservedOnly bool `yaml:"unobserved_only" json:"unobserved_only"`
	// NoiseVariance, if > 0, is the variance of the observations' noise
	// instead of observations.variance: a misspecified R (the filter
	// still assumes observations.variance).
	NoiseVariance float64 `yaml:"noise_variance" json:"noise_variance"`
	// Dynamical makes the pattern a forcing of the nature run instead of
	// an offset of what the observations see: after each model step of
	// length dt the nature state gets dt·pattern (for lorenz96, the
	// forcing Fⱼ + patternⱼ to first order). With UnobservedOnly the
	// anomaly enters at unobserved variables and the dynamics carry it to
	// observed ones.
	Dynamical bool `yaml:"dynamical,omitempty" json:"dynamical,omitempty"`
}

func (a *AnomalyConfig) withDefaults(nx int) {
	if a.FromCycle == 0 {
		a.FromCycle = 1
	}
	def(&a.Width, 2)
	if a.Pattern == "wave" && a.Wavenumber == 0 {
		a.Wavenumber = nx / 2
	}
}

func (a *AnomalyConfig) validate(c Config) error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case a.FromCycle < 1:
		return fmt.Errorf("anomaly.from_cycle: must be >= 1, got %d", a.FromCycle)
	case a.Forcing != 0 && c.Model.Name != "lorenz96":
		return fmt.Errorf("anomaly.forcing: only lorenz96 has a forcing (model is %s)", c.Model.Name)
	case a.Length != 0 && c.Model.Name != "ks":
		return fmt.Errorf("anomaly.length: only ks has a domain length (model is %s)", c.Model.Name)
	case !(a.Length >= 0) || math.IsInf(a.Length, 0):
		return fmt.Errorf("anomaly.length: must be finite and > 0 (0 keeps the model's), got %v", a.Length)
	case a.Dynamical && a.Pattern == "":
		return fmt.Errorf("anomaly.dynamical: needs a pattern")
	case !finite(a.Forcing) || !finite(a.Bias) || !finite(a.Amplitude) || !finite(a.Center):
		return fmt.Errorf("anomaly: forcing, bias, amplitude and center must be finite")
	case !finite(a.NoiseVariance) || a.NoiseVariance < 0:
		return fmt.Errorf("anomaly.noise_variance: must be finite and >= 0 (0: observations.variance), got %v", a.NoiseVariance)
	case a.SpikeEvery < 0:
		return fmt.Errorf("anomaly.spike_every: must be >= 0, got %d", a.SpikeEvery)
	case !(a.Width > 0) || !finite(a.Width):
		return fmt.Errorf("anomaly.width: must be finite and > 0, got %v", a.Width)
	case a.Pattern != "" && a.Pattern != "bump" && a.Pattern != "wave":
		return fmt.Errorf("anomaly.pattern: want bump or wave, got %q", a.Pattern)
	case a.UnobservedOnly && a.Pattern == "":
		return fmt.Errorf("anomaly.unobserved_only: needs a pattern")
	}
	return nil
}

// anomaly is an AnomalyConfig made concrete for a Setup.
type anomaly struct {
	cfg     AnomalyConfig
	nature  dynamics.Stepper // nil: the nature run follows the model
	pattern []float64        // nil: none
	seen    []float64        // truth + pattern
	noise   float64          // standard deviation of the observation noise over R's (1: R's)
	dt      float64          // model step, for a dynamical pattern
}

func newAnomaly(cfg AnomalyConfig, m ModelConfig, observed []float64) (*anomaly, error) {
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
	if cfg.Pattern == "" {
		return a, nil
	}
	n := m.Nx
	a.pattern, a.seen = make([]float64, n), make([]float64, n)
	for j := range a.pattern {
		switch cfg.Pattern {
		case "bump":
			d := math.Abs(float64(j) - cfg.Center)
			d = math.Min(math.Mod(d, float64(n)), float64(n)-math.Mod(d, float64(n)))
			a.pattern[j] = cfg.Amplitude * math.Exp(-d*d/(2*cfg.Width*cfg.Width))
		case "wave":
			a.pattern[j] = cfg.Amplitude * math.Cos(2*math.Pi*float64(cfg.Wavenumber*j)/float64(n))
		}
	}
	if cfg.UnobservedOnly {
		for _, p := range observed {
			a.pattern[int(math.Round(p))%n] = 0
		}
	}
	return a, nil
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
