package bench

import (
	"gonum.org/v1/gonum/stat"

	"github.com/latentda/latentda/internal/ci"
)

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
	m, h, okM, okH := ci.MeanCI95(rmse)
	if okM {
		r.RMSEMean = &m
		sp, ni := stat.Mean(spread, nil), stat.Mean(nis, nil)
		r.SpreadMean, r.NISRatio = &sp, &ni
	}
	if okH {
		r.RMSECI95 = &h
	}
}
