package config

import (
	"fmt"
	"math"
)

// AnomalyConfig makes the twin experiment's world leave the filter's
// assumptions from cycle FromCycle on, to test quality control. The
// ensemble forecast keeps the configured model; diagnostics score against
// the nature run's state (without Pattern, which only the observations see).
type AnomalyConfig struct {
	// FromCycle is the first cycle affected (default 1); only with an
	// anomaly (Forcing, Length, Bias, Pattern or NoiseVariance).
	FromCycle int `yaml:"from_cycle" json:"from_cycle"`
	// Forcing, for lorenz96, is the nature run's forcing F (a regime shift);
	// 0 keeps the model's.
	Forcing float64 `yaml:"forcing" json:"forcing"`
	// Length, for ks, is the nature run's domain length L on the same grid
	// of Nx points (a regime shift: the unstable band q < 1 holds more or
	// fewer modes); 0 keeps the model's.
	Length float64 `yaml:"length,omitempty" json:"length,omitempty"`
	// Bias is added to observation BiasIndex (a sensor fault): every cycle,
	// or every SpikeEvery-th cycle (spikes) when SpikeEvery > 0. BiasIndex
	// and SpikeEvery only with a Bias other than 0.
	Bias       float64 `yaml:"bias" json:"bias"`
	BiasIndex  int     `yaml:"bias_index" json:"bias_index"`
	SpikeEvery int     `yaml:"spike_every" json:"spike_every"`
	// Pattern, bump or wave, is added to the state the observations see:
	// a bump Amplitude·exp(−δ²/(2 Width²)) at periodic distance δ from
	// Center, or a wave Amplitude·cos(2π Wavenumber j/n). Amplitude,
	// UnobservedOnly and Dynamical only with a Pattern; Center and Width
	// only with a bump, Wavenumber only with a wave.
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
