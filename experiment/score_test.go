package experiment

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestScorer: the RMSE of the mean and the spread of a 2-member ensemble
// worked by hand (mean (2, 3), variances 2 and 2).
func TestScorer(t *testing.T) {
	rmse, spread := NewScorer(2).Score(mat.NewDense(2, 2, []float64{1, 2, 3, 4}), []float64{0, 0})
	if rmse != math.Sqrt(6.5) || spread != math.Sqrt2 {
		t.Errorf("Score = %v, %v; want √6.5, √2", rmse, spread)
	}
}

// TestSumsWithoutInnovation: a cycle without observations (a live run's
// forecast-only cycle) has a NaN NIS, and the time-mean NIS ratio is that
// of the other cycles, where it was NaN (which JSON cannot carry).
func TestSumsWithoutInnovation(t *testing.T) {
	var s Sums
	s.Add(CycleStats{RMSEf: 1, RMSEa: 0.5, NIS: 30, NISExpected: 20}, true)
	s.Add(CycleStats{RMSEf: 2, RMSEa: 2, NIS: math.NaN(), NISExpected: math.NaN()}, true)
	s.Add(CycleStats{RMSEf: 1, RMSEa: 0.5, NIS: 10, NISExpected: 20}, true)
	got := s.Summary()
	if got.NISRatio != 1 || got.Scored != 3 || got.RMSEa != 1 {
		t.Errorf("summary %+v, want nis_ratio 1 over the two cycles with observations, rmse_a 1 over all three", got)
	}
}
