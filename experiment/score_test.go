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
