package config

import (
	"fmt"

	"github.com/latentda/latentda/store"
)

// StoreConfig is the config file's store section: which ensembles a run
// keeps (its retention policy). Truths, observations, the estimates
// carried between cycles and the diagnostics are always kept, and so is
// the analysis ensemble of the last cycle of every batch of cycles, which
// the next batch starts from. Each setting is one of
//
//	all      the members of every cycle (the default)
//	every K  the members of the cycles divisible by K (K ≥ 1), the
//	         ensemble's mean and spread of the others
//	mean     the mean and spread only
//
// The defaults keep what the later commands need: `latentda rerun
// --from-cycle K` needs the analysis members of cycle K; `latentda report`
// needs only the analysis means. Cycles stored one at a time (cycle 0,
// a warm start's first cycle, live runs, fanned-out or block-wise cycles)
// keep everything.
type StoreConfig struct {
	// Forecast is the retention of the forecast (prior) ensembles.
	Forecast string `yaml:"forecast" json:"forecast,omitempty"`
	// Analysis is the retention of the analysis (posterior) ensembles.
	Analysis string `yaml:"analysis" json:"analysis,omitempty"`
	// Latent is the retention of a latent filter's codes (forecast and
	// analysis).
	Latent string `yaml:"latent" json:"latent,omitempty"`
}

// StoreAll is the default of the store settings: keep every member.
const StoreAll = "all"

func (s *StoreConfig) withDefaults() {
	for _, v := range []*string{&s.Forecast, &s.Analysis, &s.Latent} {
		if *v == "" {
			*v = StoreAll
		}
	}
}

// Retention returns the retention policy of the store section (keep
// everything without one). The settings must be valid (Validate).
func (s *StoreConfig) Retention() (store.Retention, error) {
	var r store.Retention
	if s == nil {
		return r, nil
	}
	for _, f := range []struct {
		name  string
		value string
		keep  *store.Keep
	}{{"forecast", s.Forecast, &r.Forecast}, {"analysis", s.Analysis, &r.Analysis}, {"latent", s.Latent, &r.Latent}} {
		if f.value == "" {
			continue
		}
		k, err := store.ParseKeep(f.value)
		if err != nil {
			return store.Retention{}, fmt.Errorf("store.%s: %w", f.name, err)
		}
		*f.keep = k
	}
	return r, nil
}

// validate checks the store section.
func (s *StoreConfig) validate() error {
	_, err := s.Retention()
	return err
}
