package experiment

import (
	"math"

	"github.com/latentda/latentda/store"
)

// CycleStats are the diagnostics of one cycle.
type CycleStats struct {
	Cycle       int     `json:"cycle"`
	Time        float64 `json:"time"`
	RMSEf       float64 `json:"rmse_f"`
	RMSEa       float64 `json:"rmse_a"`
	SpreadF     float64 `json:"spread_f"`
	SpreadA     float64 `json:"spread_a"`
	NIS         float64 `json:"innovation"`
	NISExpected float64 `json:"innovation_expected"`
	NObs        int     `json:"n_obs"`
	NFlagged    int     `json:"n_flagged"`
	// BatchFlag names the batch tests the observations failed ("" if none).
	BatchFlag string `json:"batch_flag,omitempty"`
	// Inflation is the inflation the analysis used: filter.inflation's
	// factor on the analysis anomalies, or with filter.inflation adaptive
	// the factor on the forecast anomalies, the EnKF-N's (for the LETKF the
	// mean over the local analyses) or the innovation scheme's √Λ; 0
	// without an analysis (a forecast-only cycle, a batch that quality
	// control rejected). JSON leaves out this field and the next two when
	// 0 (none), so that a zero is never read as a value.
	Inflation float64 `json:"inflation,omitempty"`
	// ObsVariance is the mean over the observations used of the estimated
	// observation-error variance after the cycle (observations.variance_estimate),
	// 0 without an estimate or without observations.
	ObsVariance float64 `json:"obs_variance,omitempty"`
	// VarianceScale is the mean of the estimated factors on the given
	// observation-error variances after the cycle (the factor itself for
	// one factor for all observations), 0 without an estimate.
	VarianceScale float64 `json:"variance_scale,omitempty"`
	// HybridWeight is the weight α of the ensemble's covariance in the
	// analysis's hybrid covariance (latent.alpha, or with
	// latent.alpha_estimate the estimate the analysis used), 0 without a
	// hybrid covariance or without an analysis.
	HybridWeight float64 `json:"hybrid_weight,omitempty"`
	// Manifold and ManifoldThreshold are the manifold test's statistic
	// and threshold before the analysis (with ood.manifold_memory the
	// chart's, threshold 1), InnovationChart the innovation chart's
	// statistic (flagged above 1); 0 where not computed.
	Manifold          float64 `json:"manifold,omitempty"`
	ManifoldThreshold float64 `json:"manifold_threshold,omitempty"`
	InnovationChart   float64 `json:"innovation_chart,omitempty"`
}

// nanIfZero maps CycleStats' "none" (0; JSON payloads cannot carry NaN) to
// the diagnostics table's (NaN).
func nanIfZero(x float64) float64 {
	if x == 0 {
		return math.NaN()
	}
	return x
}

// zeroIfNaN is nanIfZero's inverse.
func zeroIfNaN(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}

// Row returns the diagnostics-table row of a cycle with statistics st and
// quality control qc; without quality control (qc nil) its columns are NaN.
func (st CycleStats) Row(qc *QCResult) store.DiagRow {
	r := store.DiagRow{
		Cycle: st.Cycle, Time: st.Time, RMSEF: st.RMSEf, RMSEA: st.RMSEa,
		SpreadF: st.SpreadF, SpreadA: st.SpreadA,
		Innovation: st.NIS, InnovationExpected: st.NISExpected,
		NObs: st.NObs, NFlagged: st.NFlagged, BatchFlag: st.BatchFlag,
		QCNIS: math.NaN(), QCNISThreshold: math.NaN(), Projection: math.NaN(), ProjectionThreshold: math.NaN(),
		Manifold: nanIfZero(st.Manifold), ManifoldThreshold: nanIfZero(st.ManifoldThreshold), InnovationChart: nanIfZero(st.InnovationChart),
		Inflation: nanIfZero(st.Inflation), ObsVariance: nanIfZero(st.ObsVariance), VarianceScale: nanIfZero(st.VarianceScale),
		HybridWeight: nanIfZero(st.HybridWeight),
	}
	if qc != nil {
		r.QCNIS, r.QCNISThreshold, r.Projection, r.ProjectionThreshold = qc.NIS, qc.NISThreshold, qc.Projection, qc.ProjectionThreshold
	}
	return r
}

// StatsOfRow returns the statistics a diagnostics row holds (Row's inverse
// but for the quality-control columns).
func StatsOfRow(r store.DiagRow) CycleStats {
	return CycleStats{
		Cycle: r.Cycle, Time: r.Time, RMSEf: r.RMSEF, RMSEa: r.RMSEA,
		SpreadF: r.SpreadF, SpreadA: r.SpreadA,
		NIS: r.Innovation, NISExpected: r.InnovationExpected,
		NObs: r.NObs, NFlagged: r.NFlagged, BatchFlag: r.BatchFlag,
		Inflation: zeroIfNaN(r.Inflation), ObsVariance: zeroIfNaN(r.ObsVariance), VarianceScale: zeroIfNaN(r.VarianceScale),
		HybridWeight: zeroIfNaN(r.HybridWeight),
		Manifold:     zeroIfNaN(r.Manifold), ManifoldThreshold: zeroIfNaN(r.ManifoldThreshold), InnovationChart: zeroIfNaN(r.InnovationChart),
	}
}

// Sums are running sums of the scored cycles' diagnostics: small, plain
// data, so a workflow can carry them across Continue-As-New.
type Sums struct {
	Cycles  int     `json:"cycles"` // cycles seen
	Scored  int     `json:"scored"` // cycles past the burn-in
	RMSEf   float64 `json:"rmse_f"`
	RMSEa   float64 `json:"rmse_a"`
	SpreadF float64 `json:"spread_f"`
	SpreadA float64 `json:"spread_a"`
	NIS     float64 `json:"nis"`
	NISExp  float64 `json:"nis_expected"`
	// Flagged counts flagged observations and FlaggedBatches cycles whose
	// whole batch was flagged, over all cycles (scored or not).
	Flagged        int `json:"flagged"`
	FlaggedBatches int `json:"flagged_batches"`
}

// Add accumulates one cycle; scored says whether it is past the burn-in.
func (s *Sums) Add(st CycleStats, scored bool) {
	s.Cycles++
	s.Flagged += st.NFlagged
	if st.BatchFlag != "" {
		s.FlaggedBatches++
	}
	if !scored {
		return
	}
	s.Scored++
	s.RMSEf += st.RMSEf
	s.RMSEa += st.RMSEa
	s.SpreadF += st.SpreadF
	s.SpreadA += st.SpreadA
	// A cycle without observations (forecast-only in a live run, or every
	// observation rejected) has no innovation: its NIS is NaN.
	if !math.IsNaN(st.NIS) && !math.IsNaN(st.NISExpected) {
		s.NIS += st.NIS
		s.NISExp += st.NISExpected
	}
}

// Merge adds the sums of a later batch of cycles.
func (s *Sums) Merge(o Sums) {
	s.Cycles += o.Cycles
	s.Scored += o.Scored
	s.RMSEf += o.RMSEf
	s.RMSEa += o.RMSEa
	s.SpreadF += o.SpreadF
	s.SpreadA += o.SpreadA
	s.NIS += o.NIS
	s.NISExp += o.NISExp
	s.Flagged += o.Flagged
	s.FlaggedBatches += o.FlaggedBatches
}

// Summary is the time mean over the scored cycles (DAPPER's rmse.a etc.:
// the mean over analysis times of the instantaneous RMSE).
type Summary struct {
	Cycles  int     `json:"cycles"`
	Scored  int     `json:"scored"`
	RMSEf   float64 `json:"rmse_f"`
	RMSEa   float64 `json:"rmse_a"`
	SpreadF float64 `json:"spread_f"`
	SpreadA float64 `json:"spread_a"`
	// NISRatio is mean NIS / mean expected NIS (1 when the ensemble spread
	// is consistent with the actual errors).
	NISRatio float64 `json:"nis_ratio"`
	// Inflation and ObsVariance are the time means of CycleStats' over
	// the scored cycles, for runs in process (Run) and in `latentda
	// compare`; 0 in the sums the workflows carry (the diagnostics table
	// has them per cycle). JSON leaves them out when 0, as CycleStats
	// does.
	Inflation   float64 `json:"inflation,omitempty"`
	ObsVariance float64 `json:"obs_variance,omitempty"`
	// Flagged observations and flagged batches over all cycles.
	Flagged        int `json:"flagged"`
	FlaggedBatches int `json:"flagged_batches"`
}

// HyperMeans accumulates the time means of the inflation and the
// estimated observation variance over scored cycles, which Sums, a
// workflow payload, does not carry.
type HyperMeans struct {
	infl, obsVar float64
	n            int
}

// Add accumulates one scored cycle.
func (h *HyperMeans) Add(st CycleStats) {
	h.infl += st.Inflation
	h.obsVar += st.ObsVariance
	h.n++
}

// Set puts the means into s (left 0 without a cycle).
func (h HyperMeans) Set(s *Summary) {
	if h.n > 0 {
		s.Inflation, s.ObsVariance = h.infl/float64(h.n), h.obsVar/float64(h.n)
	}
}

// Summary returns the time means; they are zero while no cycle is scored
// (JSON, and so Temporal payloads, cannot carry NaN).
func (s Sums) Summary() Summary {
	out := Summary{Cycles: s.Cycles, Scored: s.Scored, Flagged: s.Flagged, FlaggedBatches: s.FlaggedBatches}
	if s.Scored == 0 {
		return out
	}
	n := float64(s.Scored)
	out.RMSEf, out.RMSEa = s.RMSEf/n, s.RMSEa/n
	out.SpreadF, out.SpreadA = s.SpreadF/n, s.SpreadA/n
	if s.NISExp > 0 {
		out.NISRatio = s.NIS / s.NISExp
	}
	return out
}
