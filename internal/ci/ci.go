// Package ci holds the confidence intervals the benchmark reports share.
package ci

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// MeanCI95 returns the mean of xs and the half-width of its two-sided 95%
// Student-t confidence interval, t₀.₉₇₅(n−1)·s/√n with s the sample
// standard deviation. ok is false for the half-width when n < 2 (and for
// both when n = 0).
func MeanCI95(xs []float64) (mean, half float64, okMean, okHalf bool) {
	n := len(xs)
	if n == 0 {
		return 0, 0, false, false
	}
	mean = stat.Mean(xs, nil)
	if n < 2 {
		return mean, 0, true, false
	}
	s := stat.StdDev(xs, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
	return mean, t * s / math.Sqrt(float64(n)), true, true
}
