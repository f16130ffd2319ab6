package experiment

import (
	"fmt"
	"math"

	"github.com/latentda/latentda/internal/vec"

	"gonum.org/v1/gonum/mat"
)

// Scorer computes the error and spread of ensembles against a truth without
// allocating. It is not safe for concurrent use.
type Scorer struct {
	mean []float64
}

// NewScorer returns a Scorer for states of dimension n.
func NewScorer(n int) *Scorer { return &Scorer{mean: make([]float64, n)} }

// Score returns the root-mean-square error of the ensemble mean against the
// truth, √(Σⱼ(x̄ⱼ - xⱼ)²/n), and the spread √(Σⱼ varⱼ/n), with the unbiased
// ensemble variance varⱼ = Σᵢ(Eᵢⱼ - x̄ⱼ)²/(N-1) (DAPPER's rmse and rmv). It
// panics if the dimensions disagree (a programming error).
func (s *Scorer) Score(E *mat.Dense, truth []float64) (rmse, spread float64) {
	m := E.RawMatrix()
	n := len(s.mean)
	if m.Cols != n || len(truth) != n {
		panic(fmt.Sprintf("experiment: score: ensemble has %d columns and truth %d values, want %d", m.Cols, len(truth), n))
	}
	vec.MeanRows(s.mean, m.Data, m.Rows, m.Stride)
	var se, v float64
	for j := 0; j < n; j++ {
		d := s.mean[j] - truth[j]
		se += d * d
	}
	for i := 0; i < m.Rows; i++ {
		v += sumSquaredDiff(m.Data[i*m.Stride:i*m.Stride+n], s.mean)
	}
	return math.Sqrt(se / float64(n)), math.Sqrt(v / float64(n*(m.Rows-1)))
}

// sumSquaredDiff returns Σⱼ(xⱼ - yⱼ)² with four partial sums, which run in
// parallel where one would wait on each addition.
func sumSquaredDiff(x, y []float64) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(x); j += 4 {
		d0, d1, d2, d3 := x[j]-y[j], x[j+1]-y[j+1], x[j+2]-y[j+2], x[j+3]-y[j+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; j < len(x); j++ {
		d := x[j] - y[j]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}
