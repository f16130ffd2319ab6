package bench

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// meanCI95 returns the mean of xs and the half-width of its two-sided 95%
// Student-t confidence interval, t₀.₉₇₅(n−1)·s/√n with s the sample
// standard deviation. ok is false for the half-width when n < 2 (and for
// both when n = 0).
func meanCI95(xs []float64) (mean, half float64, okMean, okHalf bool) {
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

// setStats fills the row's statistics from its evaluation runs: the mean
// RMSE with its 95% confidence interval, the mean spread and the mean NIS
// ratio over the seeds that did not diverge, and the number that did.
func (r *LatentRow) setStats() {
	var rmse, spread, nis, proj []float64
	r.Diverged = 0
	for _, s := range r.Evaluation {
		if s.Diverged {
			r.Diverged++
			continue
		}
		rmse, spread, nis = append(rmse, s.RMSE), append(spread, s.Spread), append(nis, s.NISRatio)
		if s.Projected != nil {
			proj = append(proj, *s.Projected)
		}
	}
	r.RMSEMean, r.RMSECI95, r.SpreadMean, r.NISRatio, r.ProjectedMean = nil, nil, nil, nil, nil
	if len(proj) > 0 && len(proj) == len(rmse) {
		pm := stat.Mean(proj, nil)
		r.ProjectedMean = &pm
	}
	m, h, okM, okH := meanCI95(rmse)
	if okM {
		r.RMSEMean = &m
		sp, ni := stat.Mean(spread, nil), stat.Mean(nis, nil)
		r.SpreadMean, r.NISRatio = &sp, &ni
	}
	if okH {
		r.RMSECI95 = &h
	}
}
