package observations

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Innovation tests: the consistency checks of operational quality control,
// applied to one cycle's observations y against the forecast ensemble in
// observation space HE (N members × p observations).
//
// With the innovation d = y − mean(HE), the ensemble variance vᵢ of
// observation i and R = diag(σ²):
//
//   - the outlier score of observation i is zᵢ = dᵢ / √(σᵢ² + vᵢ); the
//     observation is an outlier when |zᵢ| > k (k = 3 by default);
//   - the batch statistic is the normalised innovation squared
//     NIS = dᵀ(HPHᵀ + R)⁻¹d, χ²(p) distributed when forecast errors and
//     observation errors are Gaussian with the assumed covariances.
//
// An InnovationQC owns its work space; it is not safe for concurrent use.
type InnovationQC struct {
	members, nobs int
	mean, ensVar  []float64 // per observation
	s             []float64 // S = R^{-1/2}(HE − ȳ)/√(N−1), N × p
	d, sd         []float64
	m             []float64 // I + S Sᵀ, N × N
}

// InnovationReport is the result of the innovation tests of one cycle.
type InnovationReport struct {
	NIS    float64   // dᵀ(HPHᵀ + R)⁻¹d over all p observations
	Scores []float64 // zᵢ; owned by the InnovationQC, overwritten by the next Test
	EnsVar []float64 // vᵢ; owned likewise
}

// NewInnovationQC returns the tests for ensembles of N members observed
// through p observations.
func NewInnovationQC(members, nobs int) (*InnovationQC, error) {
	if members < 2 || nobs < 1 {
		return nil, fmt.Errorf("observations: innovation QC needs >= 2 members and >= 1 observation, got %d and %d", members, nobs)
	}
	return &InnovationQC{
		members: members, nobs: nobs,
		mean: make([]float64, nobs), ensVar: make([]float64, nobs),
		s: make([]float64, members*nobs), d: make([]float64, nobs), sd: make([]float64, members),
		m: make([]float64, members*members),
	}, nil
}

// Test computes the outlier scores and the NIS. The NIS is evaluated in
// ensemble space by the Woodbury identity,
// dᵀ(SᵀS + I)⁻¹d = |d̃|² − (Sd̃)ᵀ(I + SSᵀ)⁻¹(Sd̃) with d̃ = R^{-1/2}d,
// which costs O(N²p + N³) instead of O(p³). Inputs must be finite with
// rVar > 0 (the readers and the filter check this before); an observation
// with rVar = +Inf (rejected) drops out of the NIS and scores 0. The
// forecast covariance is inflation·HPHᵀ, the ensemble's times the factor
// the analysis will apply to it (1: none; an adaptive inflation estimate
// carried to the analysis).
func (q *InnovationQC) Test(HE *mat.Dense, y, rVar []float64, inflation float64) (InnovationReport, error) {
	N, p := q.members, q.nobs
	if r, c := HE.Dims(); r != N || c != p || len(y) != p || len(rVar) != p {
		return InnovationReport{}, fmt.Errorf("observations: innovation QC: HE is %d×%d with %d observations and %d variances, want %d×%d, %d, %d", r, c, len(y), len(rVar), N, p, p, p)
	}
	for k := 0; k < p; k++ {
		col := 0.0
		for i := 0; i < N; i++ {
			col += HE.At(i, k)
		}
		q.mean[k] = col / float64(N)
	}
	sqrtN1, f := math.Sqrt(float64(N-1)), math.Sqrt(inflation)
	for k := range q.ensVar {
		q.ensVar[k] = 0
	}
	for i := 0; i < N; i++ {
		row := HE.RawRowView(i)
		for k, v := range row {
			a := f * (v - q.mean[k])
			q.ensVar[k] += a * a
			q.s[i*p+k] = a / math.Sqrt(rVar[k]) / sqrtN1
		}
	}
	var dd float64
	for k := 0; k < p; k++ {
		q.ensVar[k] /= float64(N - 1)
		dk := y[k] - q.mean[k]
		q.d[k] = dk / math.Sqrt(rVar[k])
		dd += q.d[k] * q.d[k]
		q.mean[k] = dk / math.Sqrt(rVar[k]+q.ensVar[k]) // the score, reusing mean
	}
	S := blas64.General{Rows: N, Cols: p, Stride: p, Data: q.s}
	M := blas64.Symmetric{N: N, Stride: N, Uplo: blas.Upper, Data: q.m}
	blas64.Syrk(blas.NoTrans, 1, S, 0, M)
	for i := 0; i < N; i++ {
		q.m[i*N+i]++
	}
	blas64.Gemv(blas.NoTrans, 1, S, blas64.Vector{N: p, Inc: 1, Data: q.d}, 0, blas64.Vector{N: N, Inc: 1, Data: q.sd})
	sdsd := slices.Clone(q.sd)
	t, ok := lapack64.Potrf(M)
	if !ok {
		return InnovationReport{}, fmt.Errorf("observations: innovation QC: I + SSᵀ is not positive definite (non-finite ensemble?)")
	}
	lapack64.Potrs(t, blas64.General{Rows: N, Cols: 1, Stride: 1, Data: q.sd})
	var quad float64
	for i, v := range q.sd {
		quad += sdsd[i] * v
	}
	return InnovationReport{NIS: dd - quad, Scores: q.mean, EnsVar: q.ensVar}, nil
}

// ChiSquareThreshold is the (1 − alpha) quantile of the χ² distribution
// with dof degrees of freedom: a statistic that is χ²(dof) exceeds it with
// probability alpha.
func ChiSquareThreshold(dof int, alpha float64) float64 {
	return distuv.ChiSquared{K: float64(dof)}.Quantile(1 - alpha)
}

// EmpiricalThreshold is the (1 − alpha) quantile of the sample stats (type 7
// linear interpolation between order statistics): the threshold that a
// fraction alpha of the sample exceeds. stats is sorted in place. It needs
// at least ⌈1/alpha⌉ values, so that the quantile lies inside the sample.
func EmpiricalThreshold(stats []float64, alpha float64) (float64, error) {
	if !(alpha > 0 && alpha < 1) {
		return 0, fmt.Errorf("observations: false-alarm rate %v must be in (0, 1)", alpha)
	}
	if need := int(math.Ceil(1 / alpha)); len(stats) < need {
		return 0, fmt.Errorf("observations: %d calibration values are too few for a false-alarm rate of %v (need >= %d)", len(stats), alpha, need)
	}
	for i, v := range stats {
		if math.IsNaN(v) {
			return 0, fmt.Errorf("observations: calibration value %d is NaN", i)
		}
	}
	slices.Sort(stats)
	h := (1 - alpha) * float64(len(stats)-1)
	lo := int(math.Floor(h))
	if lo+1 >= len(stats) {
		return stats[lo], nil
	}
	return stats[lo] + (h-float64(lo))*(stats[lo+1]-stats[lo]), nil
}
