package ood

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/experiment/anomaly"
)

// Bound is what any test of one cycle's observations alone could see of
// an anomalous case, at best: the detection at the 1% false-alarm rate and
// the AUC of the likelihood-ratio test between the in-distribution and
// the anomalous distribution of one batch of observations, y = Hx + a + ε,
// both Gaussian with the mean and covariance of a simulation archive
// (x from the model's climatology, or from the anomalous regime's; a the
// anomaly's pattern or bias, known to the test; ε ~ N(0, R)). By the
// Neyman–Pearson lemma no snapshot test does better against these Gaussian
// distributions; the manifold score is a snapshot test, the innovation and
// outlier tests are not (they compare with the forecast).
//
// ChartDetection and ChartAUC are the same likelihood ratio accumulated
// over cycles, as the manifold chart accumulates its parts (oracleChart):
// a reference, not a bound, for what a chart of the manifold detector's
// memory can see of a persistent anomaly. Nil for spikes and dynamical
// patterns.
type Bound struct {
	Model          string   `json:"model"`
	Case           string   `json:"case"`
	Detection      float64  `json:"detection"`
	AUC            float64  `json:"auc"`
	ChartDetection *float64 `json:"chart_detection,omitempty"`
	ChartAUC       *float64 `json:"chart_auc,omitempty"`
}

// boundArchiveSeed is the seed of the anomalous regimes' archives
// (the climatology's is 11).
const boundArchiveSeed = 12

// snapshotBounds returns the Bound of every case whose anomaly changes
// what one batch of observations can show: static patterns, sensor
// faults (for spikes, on the spiked cycles) and regime shifts; a
// dynamical pattern has no fixed snapshot distribution and is left out.
// X is the climatology's archive (one state per row), base the model's
// config, rVar the observation-error variance; runs holds each case's
// runs, whose observations the oracle chart reads.
func snapshotBounds(ctx context.Context, model string, base config.Config, X *mat.Dense, cases []oodCase, runs map[string][]oodRun, rVar float64, rng *rand.Rand) ([]Bound, error) {
	var out []Bound
	for _, c := range cases {
		a := c.anomaly
		if a == nil || a.Dynamical {
			continue
		}
		obs := observedIndices(base.WithDefaults().Model.Nx, c.every)
		in := columns(X, obs)
		var anom *mat.Dense
		switch {
		case a.Forcing != 0 || a.Length != 0:
			cfg := base
			if a.Forcing != 0 {
				cfg.Model.Forcing = a.Forcing
			}
			if a.Length != 0 {
				cfg.Model.Length = a.Length
			}
			r, _ := X.Dims()
			Y, _, err := experiment.BuildArchive(ctx, cfg, experiment.ArchiveOptions{Samples: r, Seed: boundArchiveSeed}, nil)
			if err != nil {
				return nil, fmt.Errorf("bench ood: %s, %s: the anomalous regime's archive: %w", model, c.name, err)
			}
			anom = columns(Y, obs)
		default:
			shift, err := anomalyShift(*a, base, obs)
			if err != nil {
				return nil, fmt.Errorf("bench ood: %s, %s: %w", model, c.name, err)
			}
			if !slices.ContainsFunc(shift, func(v float64) bool { return v != 0 }) {
				// The observations do not see it: both laws are one, and
				// any test flags it at its false-alarm rate.
				out = append(out, Bound{Model: model, Case: c.name, Detection: oodAlpha, AUC: 0.5})
				continue
			}
			anom = mat.DenseCopyOf(in)
			r, _ := anom.Dims()
			for i := range r {
				row := anom.RawRowView(i)
				for k, v := range shift {
					row[k] += v
				}
			}
		}
		g0, g1, det, auc, err := gaussianLRT(in, anom, rVar, rng)
		if err != nil {
			return nil, fmt.Errorf("bench ood: %s, %s: %w", model, c.name, err)
		}
		b := Bound{Model: model, Case: c.name, Detection: det, AUC: auc}
		if c.spikes == 0 {
			det, auc := oracleChart(g0, g1, runs[c.reference()], runs[c.name], oodMemory)
			b.ChartDetection, b.ChartAUC = &det, &auc
		}
		out = append(out, b)
	}
	return out, nil
}

// observedIndices are the grid points observed when every k-th is.
func observedIndices(n, every int) []int {
	var idx []int
	for j := 0; j < n; j += max(every, 1) {
		idx = append(idx, j)
	}
	return idx
}

// columns returns the columns idx of X.
func columns(X *mat.Dense, idx []int) *mat.Dense {
	r, _ := X.Dims()
	out := mat.NewDense(r, len(idx), nil)
	for i := range r {
		row := X.RawRowView(i)
		for k, j := range idx {
			out.Set(i, k, row[j])
		}
	}
	return out
}

// anomalyShift is what a static anomaly adds to the observations of the
// grid points obs: its pattern there, or the sensor fault's bias.
func anomalyShift(a config.AnomalyConfig, base config.Config, obs []int) ([]float64, error) {
	shift := make([]float64, len(obs))
	if a.Bias != 0 {
		if a.BiasIndex < 0 || a.BiasIndex >= len(obs) {
			return nil, fmt.Errorf("sensor fault on observation %d of %d", a.BiasIndex, len(obs))
		}
		shift[a.BiasIndex] = a.Bias
		return shift, nil
	}
	pos := make([]float64, len(obs))
	for k, j := range obs {
		pos[k] = float64(j)
	}
	p := anomaly.Pattern(a, base.WithDefaults().Model.Nx, pos)
	if p == nil {
		return nil, fmt.Errorf("the anomaly has neither a pattern nor a bias")
	}
	for k, j := range obs {
		shift[k] = p[j]
	}
	return shift, nil
}

// gaussianLRT fits a Gaussian to the first half of the rows of in and of
// anom (noise-free observations, one batch per row), each with R = rVar·I
// added to its covariance, and scores the log-likelihood ratio
// log N(y; μₐ, Cₐ) − log N(y; μ₀, C₀) on the second halves with noise
// ε ~ N(0, R) drawn from rng: the fraction of anomalous batches above the
// in-distribution batches' 0.99 quantile, and the AUC. It returns the two
// fitted laws too.
func gaussianLRT(in, anom *mat.Dense, rVar float64, rng *rand.Rand) (g0, g1 *gaussian, det, auc float64, err error) {
	if g0, err = fitGaussian(half(in, 0), rVar); err != nil {
		return nil, nil, 0, 0, err
	}
	if g1, err = fitGaussian(half(anom, 0), rVar); err != nil {
		return nil, nil, 0, 0, err
	}
	score := func(Y *mat.Dense) []float64 {
		r, c := Y.Dims()
		out := make([]float64, r)
		y := make([]float64, c)
		for i := range r {
			for k, v := range Y.RawRowView(i) {
				y[k] = v + math.Sqrt(rVar)*rng.NormFloat64()
			}
			out[i] = g1.logDensity(y) - g0.logDensity(y)
		}
		return out
	}
	det, auc = detectAt(score(half(in, 1)), score(half(anom, 1)))
	return g0, g1, det, auc, nil
}

// detectAt returns the fraction of the statistics pos above the (1 − α)
// quantile of neg at the bench's α, and the AUC of pos against neg.
func detectAt(neg, pos []float64) (det, auc float64) {
	sorted := slices.Clone(neg)
	slices.Sort(sorted)
	thr := quantileSorted(sorted, 1-oodAlpha)
	n := 0
	for _, v := range pos {
		if v > thr {
			n++
		}
	}
	return float64(n) / float64(len(pos)), rocAUC(neg, pos)
}

// oracleChart accumulates the per-batch log-likelihood ratio
// ℓ = log N(y; μₐ, Cₐ) − log N(y; μ₀, C₀) of the fitted laws g1 and g0
// over the observations of the runs, cycle by cycle, in an EWMA of weight
// λ = 1/memory from 0 at the first scored cycle:
//
//	s_k = (1 − λ) s_{k−1} + λ (ℓ_k − ℓ̄₀),
//
// with ℓ̄₀ the mean of ℓ over the in-distribution runs ref. It flags the
// anomalous runs' cycles above the 0.99 quantile of s over ref, and
// returns that fraction and the AUC of s. It knows the anomaly (its
// pattern, bias or regime) and its start, which no detector does, and it
// sees the runs' own observations, autocorrelated cycle to cycle as the
// detectors' are. It is the manifold chart's form with the best
// one-batch statistic of these Gaussian laws in its parts' place: not a
// bound (the batches are not independent, and another accumulation could
// see more), but where it misses a target, a chart of this memory on the
// climatology's second-order statistics is unlikely to meet it.
func oracleChart(g0, g1 *gaussian, ref, got []oodRun, memory int) (det, auc float64) {
	llr := func(runs []oodRun) [][]float64 {
		out := make([][]float64, len(runs))
		for i, r := range runs {
			out[i] = make([]float64, len(r.ys))
			for k, y := range r.ys {
				out[i][k] = g1.logDensity(y) - g0.logDensity(y)
			}
		}
		return out
	}
	l0, l1 := llr(ref), llr(got)
	var centre float64
	var n int
	for _, run := range l0 {
		for _, v := range run {
			centre += v
			n++
		}
	}
	centre /= float64(n)
	lambda := 1 / float64(memory)
	chart := func(runs [][]float64) []float64 {
		var out []float64
		for _, run := range runs {
			var s float64
			for _, v := range run {
				s = (1-lambda)*s + lambda*(v-centre)
				out = append(out, s)
			}
		}
		return out
	}
	return detectAt(chart(l0), chart(l1))
}

// half returns the first (h = 0) or second (h = 1) half of the rows of X.
func half(X *mat.Dense, h int) *mat.Dense {
	r, c := X.Dims()
	m := r / 2
	if h == 0 {
		return X.Slice(0, m, 0, c).(*mat.Dense)
	}
	return X.Slice(m, r, 0, c).(*mat.Dense)
}

// gaussian is a fitted normal law with the Cholesky factor of its
// covariance, and scratch for logDensity.
type gaussian struct {
	mean   []float64
	chol   mat.Cholesky
	logDet float64
	d, x   *mat.VecDense
}

// fitGaussian fits the sample mean and covariance of the rows of X, plus
// rVar on the diagonal.
func fitGaussian(X *mat.Dense, rVar float64) (*gaussian, error) {
	r, c := X.Dims()
	if r < 2 {
		return nil, fmt.Errorf("a Gaussian fit needs 2 samples or more, got %d", r)
	}
	g := &gaussian{mean: make([]float64, c), d: mat.NewVecDense(c, nil), x: mat.NewVecDense(c, nil)}
	for k := range c {
		g.mean[k] = stat.Mean(mat.Col(nil, k, X), nil)
	}
	var cov mat.SymDense
	stat.CovarianceMatrix(&cov, X, nil)
	for k := range c {
		cov.SetSym(k, k, cov.At(k, k)+rVar)
	}
	if !g.chol.Factorize(&cov) {
		return nil, fmt.Errorf("the covariance is not positive definite")
	}
	g.logDet = g.chol.LogDet()
	return g, nil
}

// logDensity is log N(y; μ, C) up to the constant −(c/2) log 2π, which
// cancels in a ratio.
func (g *gaussian) logDensity(y []float64) float64 {
	for k, v := range y {
		g.d.SetVec(k, v-g.mean[k])
	}
	if err := g.chol.SolveVecTo(g.x, g.d); err != nil {
		return math.NaN()
	}
	return -0.5 * (mat.Dot(g.d, g.x) + g.logDet)
}
