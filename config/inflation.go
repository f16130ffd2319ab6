package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Inflation is filter.inflation: a fixed factor > 0 that multiplies the
// analysis anomalies, or AdaptiveInflation, written "adaptive" in YAML and
// JSON. The zero value is unset (default 1); an explicit 0 in YAML is an
// error.
type Inflation float64

// AdaptiveInflation selects the EnKF-N's adaptive inflation
// (enkf.EnKFN; filter.adaptive tunes it).
const AdaptiveInflation Inflation = -1

// inflationWord is AdaptiveInflation's spelling in configs.
const inflationWord = "adaptive"

// Adaptive reports whether v is AdaptiveInflation.
func (v Inflation) Adaptive() bool { return v == AdaptiveInflation }

// String returns "adaptive" or the factor.
func (v Inflation) String() string {
	if v.Adaptive() {
		return inflationWord
	}
	return strconv.FormatFloat(float64(v), 'g', -1, 64)
}

// parseInflation reads "adaptive" or a finite number > 0.
func parseInflation(s string) (Inflation, error) {
	if s == inflationWord {
		return AdaptiveInflation, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("filter.inflation: want a finite number > 0 or %s, got %q", inflationWord, s)
	}
	return Inflation(f), nil
}

// UnmarshalYAML accepts a number > 0 or the word adaptive.
func (v *Inflation) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("filter.inflation: want a number > 0 or %s", inflationWord)
	}
	p, err := parseInflation(n.Value)
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// MarshalYAML writes the word adaptive or the number.
func (v Inflation) MarshalYAML() (any, error) {
	if v.Adaptive() {
		return inflationWord, nil
	}
	return float64(v), nil
}

// MarshalJSON writes "adaptive" or the number.
func (v Inflation) MarshalJSON() ([]byte, error) {
	if v.Adaptive() {
		return json.Marshal(inflationWord)
	}
	return json.Marshal(float64(v))
}

// UnmarshalJSON reads what MarshalJSON writes (0 is unset, as in a Go
// literal).
func (v *Inflation) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		p, err := parseInflation(s)
		if err != nil {
			return err
		}
		*v = p
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("filter.inflation: want a number or %q: %w", inflationWord, err)
	}
	*v = Inflation(f)
	return nil
}

// AdaptiveConfig tunes the adaptive inflation (filter.inflation: adaptive).
type AdaptiveConfig struct {
	// XN is the certainty of the EnKF-N's hyperprior on the forecast
	// covariance, in units of the ensemble size (DAPPER's xN; default 1,
	// the original EnKF-N; 2 suits the weakly nonlinear Lorenz-96 set-ups;
	// below 1 lets the innovations move the inflation further). Must be > 0.
	XN *float64 `yaml:"xn" json:"xn,omitempty"`
}
