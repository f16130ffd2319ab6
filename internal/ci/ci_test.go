package ci

import (
	"math"
	"testing"
)

func TestMeanCI95(t *testing.T) {
	for _, tc := range []struct {
		name         string
		xs           []float64
		mean, half   float64
		okMean, okCI bool
	}{
		{"none", nil, 0, 0, false, false},
		{"one seed: no interval", []float64{0.3}, 0.3, 0, true, false},
		// s = 1, t₀.₉₇₅(2) = 4.302653: 4.302653/√3.
		{"three", []float64{1, 2, 3}, 2, 2.484138, true, true},
		// s = √2.5, t₀.₉₇₅(4) = 2.776445: 2.776445·√(2.5/5).
		{"five", []float64{1, 2, 3, 4, 5}, 3, 1.963243, true, true},
		{"equal values: zero width", []float64{0.2, 0.2, 0.2}, 0.2, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mean, half, okM, okH := MeanCI95(tc.xs)
			if okM != tc.okMean || okH != tc.okCI {
				t.Fatalf("ok = %v, %v; want %v, %v", okM, okH, tc.okMean, tc.okCI)
			}
			// Tolerance: the quantiles above are quoted to 7 digits.
			if math.Abs(mean-tc.mean) > 1e-12 || math.Abs(half-tc.half) > 1e-6 {
				t.Errorf("mean %v ± %v, want %v ± %v", mean, half, tc.mean, tc.half)
			}
		})
	}
}
