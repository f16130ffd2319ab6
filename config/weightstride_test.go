package config

import (
	"strings"
	"testing"
)

// TestParseWeightStride: filter.weight_stride round-trips through the
// recorded config, a config without it records no such key, and rerun's
// --set adds it.
func TestParseWeightStride(t *testing.T) {
	letkf := strings.Replace(validYAML, "method: etkf", "method: letkf, loc_radius: 4", 1)
	for _, tc := range []struct {
		yaml   string
		stride int
	}{
		{letkf, 0},
		{strings.Replace(letkf, "loc_radius: 4", "loc_radius: 4, weight_stride: 3", 1), 3},
	} {
		cfg, err := Parse([]byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Filter.WeightStride != tc.stride || cfg.Filter.EnKF().WeightStride != tc.stride {
			t.Errorf("weight stride %d, want %d", cfg.Filter.WeightStride, tc.stride)
		}
		data, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if has, want := strings.Contains(string(data), "weight_stride"), tc.stride != 0; has != want {
			t.Errorf("stride %d: recorded config mentions weight_stride: %v, want %v:\n%s", tc.stride, has, want, data)
		}
		again, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if again.Filter != cfg.Filter {
			t.Errorf("round trip: %+v, want %+v", again.Filter, cfg.Filter)
		}
	}
	cfg, err := Parse([]byte(letkf))
	if err != nil {
		t.Fatal(err)
	}
	set, err := cfg.Override([]string{"filter.weight_stride=4"})
	if err != nil || set.Filter.WeightStride != 4 {
		t.Errorf("--set filter.weight_stride=4: stride %d, error %v", set.Filter.WeightStride, err)
	}
}
