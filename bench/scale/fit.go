package scale

import (
	"fmt"
	"math"
)

// LogLogSlope fits log y = a + b log x by least squares and returns b, the
// exponent of the power law y ∝ xᵇ (b = 1: linear cost). It needs at least
// two distinct x and positive values.
func LogLogSlope(x, y []float64) (float64, error) {
	if len(x) != len(y) || len(x) < 2 {
		return 0, fmt.Errorf("scale: slope: need two or more (x, y) pairs, got %d x and %d y", len(x), len(y))
	}
	var mx, my float64
	for i := range x {
		if !(x[i] > 0) || !(y[i] > 0) || math.IsInf(x[i], 0) || math.IsInf(y[i], 0) {
			return 0, fmt.Errorf("scale: slope: point %d (%v, %v) is not positive and finite", i, x[i], y[i])
		}
		mx += math.Log(x[i])
		my += math.Log(y[i])
	}
	mx /= float64(len(x))
	my /= float64(len(x))
	var sxx, sxy float64
	for i := range x {
		dx := math.Log(x[i]) - mx
		sxx += dx * dx
		sxy += dx * (math.Log(y[i]) - my)
	}
	if sxx == 0 {
		return 0, fmt.Errorf("scale: slope: all x are equal")
	}
	return sxy / sxx, nil
}
