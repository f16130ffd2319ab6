package experiment

import "math"

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
}

// Add accumulates one cycle; scored says whether it is past the burn-in.
func (s *Sums) Add(st CycleStats, scored bool) {
	s.Cycles++
	if !scored {
		return
	}
	s.Scored++
	s.RMSEf += st.RMSEf
	s.RMSEa += st.RMSEa
	s.SpreadF += st.SpreadF
	s.SpreadA += st.SpreadA
	s.NIS += st.NIS
	s.NISExp += st.NISExpected
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
}

// Summary returns the time means (NaN when nothing was scored).
func (s Sums) Summary() Summary {
	n := float64(s.Scored)
	if s.Scored == 0 {
		n = math.NaN()
	}
	return Summary{
		Cycles: s.Cycles, Scored: s.Scored,
		RMSEf: s.RMSEf / n, RMSEa: s.RMSEa / n,
		SpreadF: s.SpreadF / n, SpreadA: s.SpreadA / n,
		NISRatio: s.NIS / s.NISExp,
	}
}
