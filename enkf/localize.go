package enkf

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/latentda/latentda/internal/vec"
	"github.com/latentda/latentda/observations"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// GCFactor converts a localisation radius to the Gaspari–Cohn half-width,
// c = GCFactor·radius (√(10/3), so that the taper matches a Gaussian of
// standard deviation radius near the origin; the DAPPER convention).
const GCFactor = 1.82

// gcCutoff drops observations whose taper weight is at most this (as DAPPER).
const gcCutoff = 1e-3

// GaspariCohn is the compactly supported fifth-order piecewise rational
// correlation function of Gaspari and Cohn (1999, eq. 4.10) with half-width
// c: 1 at distance 0, 0 beyond 2c.
func GaspariCohn(dist, c float64) float64 {
	r := math.Abs(dist) / c
	switch {
	case r <= 1:
		return 1 + r*r*(-r*r*r/4+r*r/2+r*5/8-5.0/3)
	case r <= 2:
		return r*r*(r*r*r/12-r*r/2+r*5/8+5.0/3) - 5*r + 4 - 2/(3*r)
	default:
		return 0
	}
}

// localizer runs the LETKF local analyses. Batch b covers the grid points
// [b·bs, min((b+1)·bs, n)); its observations are those whose Gaspari–Cohn
// weight at the mean distance over the batch exceeds gcCutoff, in
// ascending index order.
//
// The observations are indexed by position on the periodic domain, so a
// batch finds its candidates by binary search in a window of half-width
// reach around its centre and the whole analysis costs O(n·p_loc), not
// O(n·p). The window is exact: the mean distance over a batch is within
// (bs-1)/2 of the distance to its centre, and the taper is zero beyond 2c.
// Local analyses run in parallel over contiguous chunks of batches, each
// goroutine with its own workspace sized for the largest window, so the
// analysis allocates nothing per grid point.
//
// With a weight stride s > 1 (Yang, Kalnay, Hunt and Bowler 2009) only the
// batches k = 0, s, 2s, … are analysed; segment g is the batches
// [gs, min((g+1)s, nbatch)), and a batch b in it gets the transform
//
//	W_b = (1 − t) W_{k₀} + t W_{k₁},  t = (b − k₀)/(k₁ − k₀),
//
// between its ends k₀ = gs and k₁ = min((g+1)s, nbatch), where batch nbatch
// is batch 0 again (the domain is periodic). W = T + 1w̄ᵀ/√(N−1) is linear
// in the square root T and the mean weights w̄, so this interpolates both.
type localizer struct {
	members, dim, nobs int
	sqrtN1             float64
	bs, nbatch         int
	stride, nseg       int // weight stride and number of segments (nseg = nbatch when stride = 1)
	c, reach           float64
	coord              []float64 // state coordinates (nil: the index)
	period             float64   // domain length (0: a line)
	centre, reachOf    []float64 // with coord: each batch's window
	all                bool      // every window covers the domain
	pos                []float64 // observation positions as given
	sorted             []float64 // positions wrapped into [0, period), ascending
	order              []int     // observation index of each sorted position
	workers            []*localWork
	parallel           bool
	chunk              int          // batches (stride 1) or segments taken at a time by a goroutine
	next               atomic.Int64 // first batch or segment not yet taken (parallel analyze)
	wg                 sync.WaitGroup
	en                 *EnKFN               // the local EnKF-N (nil: none)
	innov              *InnovationInflation // the local innovation inflation (nil: none)
	lam                []float64            // its carried Λ_b, the prior of each batch
	given              []float64            // Λ_b estimated by the localised hybrid for this analysis (nil: estimate in transform)
	givenN             []float64            // and its EnKF-N's λ_b of the members' part (nil: none, or solve the dual in transform)
	givenEN            []float64            // and that dual's εN, for the Hessian transform (AnalyzeHybridLocal)
	maxObs             int                  // the most observations a batch can have
	infl               []float64            // each batch's inflation this analysis: Λ_b, or without innov the EnKF-N's λ (NaN: failed)
	inflN              []float64            // with both innov and en: each batch's EnKF-N λ on top of √Λ_b (NaN: failed)
	meanN              []float64            // with en.Memory > 1: each batch's carried λ̄ (0 before the first analysis)
}

// localWork is one goroutine's scratch.
type localWork struct {
	sp    *space
	obs   []int     // the batch's observations
	sqrtW []float64 // and the square roots of their weights
	s, d  []float64 // local S (N × p_loc) and d
	w, sd []float64
	tw    []float64 // W (N × N)
	tw1   []float64 // with a weight stride: W at the far end of a segment
	dw    []float64 // and W₁ − W₀
	ts    []float64 // with a weight stride: the anomalies of a segment times t (N × s·bs)
	col   []float64
	res   []float64
	en    *enkfnWork // nil without adaptive inflation
}

// parallelFlops is the work (in multiply-adds per analysis) above which the
// local analyses fan out over goroutines; below it, the ~µs cost of starting
// them would dominate.
const parallelFlops = 1 << 18

// chunksPerWorker is how many chunks of batches each goroutine takes on
// average: enough to even out the load when another process takes a core,
// few enough that the shared counter is not contended.
const chunksPerWorker = 64

func newLocalizer(cfg Config, N, n int, obsPos []float64) (*localizer, error) {
	for k, x := range obsPos {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("enkf: letkf: observation %d has position %v", k, x)
		}
	}
	bs, stride := max(cfg.BatchSize, 1), max(cfg.WeightStride, 1)
	c := GCFactor * cfg.LocRadius
	nbatch := (n + bs - 1) / bs
	if stride > 1 && stride >= nbatch {
		return nil, fmt.Errorf("enkf: letkf: weight stride %d needs more than %d batches of grid points, got %d", stride, stride, nbatch)
	}
	l := &localizer{
		members: N, dim: n, nobs: len(obsPos), sqrtN1: math.Sqrt(float64(N - 1)),
		bs: bs, nbatch: nbatch, stride: stride, nseg: (nbatch + stride - 1) / stride,
		c: c, pos: obsPos, en: cfg.Adaptive, period: float64(n),
		// One grid unit beyond the exact bound absorbs rounding in the
		// wrapped positions; the weights decide membership.
		reach: 2*c + float64(bs-1)/2 + 1,
	}
	l.all = 2*l.reach >= float64(n)
	if cfg.Coords != nil {
		if err := cfg.Coords.validate(n); err != nil {
			return nil, err
		}
		l.coordWindows(cfg.Coords)
	}
	if !l.all {
		l.order = make([]int, len(obsPos))
		wrapped := make([]float64, len(obsPos))
		for k, x := range obsPos {
			l.order[k] = k
			wrapped[k] = x
			if l.period > 0 {
				wrapped[k] = wrap(x, l.period)
			}
		}
		sort.SliceStable(l.order, func(a, b int) bool { return wrapped[l.order[a]] < wrapped[l.order[b]] })
		l.sorted = make([]float64, len(obsPos))
		for i, k := range l.order {
			l.sorted[i] = wrapped[k]
		}
	}
	maxObs, flops := 0, 0
	for b := range l.nbatch {
		k := l.candidates(nil, b)
		maxObs = max(maxObs, k)
		if b%stride == 0 {
			flops += N*N*k + 4*N*N*N
		}
	}
	l.maxObs = maxObs
	if stride > 1 {
		flops += 2 * N * N * n // the interpolated transforms applied
	}
	nw := 1
	if flops >= parallelFlops {
		nw = min(runtime.GOMAXPROCS(0), l.nseg)
		l.parallel = nw > 1
	}
	l.chunk = max(1, l.nseg/(nw*chunksPerWorker))
	for range nw {
		lw := &localWork{
			sp: newSpace(N), obs: make([]int, maxObs), sqrtW: make([]float64, maxObs),
			s: make([]float64, N*maxObs), d: make([]float64, maxObs),
			w: make([]float64, N), sd: make([]float64, N), tw: make([]float64, N*N),
			col: make([]float64, N), res: make([]float64, N),
			en: newENKFNWork(cfg.Adaptive, N),
		}
		if stride > 1 {
			lw.tw1, lw.dw, lw.ts = make([]float64, N*N), make([]float64, N*N), make([]float64, N*min(stride*bs, n))
		}
		l.workers = append(l.workers, lw)
	}
	if in := cfg.Innovation; in != nil && in.Local {
		l.innov = in
		l.lam = make([]float64, l.nbatch)
		for b := range l.lam {
			l.lam[b] = 1
		}
	}
	if l.en != nil || l.innov != nil {
		l.infl = make([]float64, l.nbatch)
	}
	if l.en != nil && l.innov != nil {
		l.inflN = make([]float64, l.nbatch)
	}
	if l.en != nil && l.en.Memory > 1 {
		l.meanN = make([]float64, l.nbatch)
	}
	return l, nil
}

// coordWindows places the state variables at co and sets each batch's
// window: its centre is the middle of the batch's coordinates (wrapped
// into [0, period) on a periodic domain), and its reach 2c beyond half
// their spread. The window is exact by the triangle inequality: the mean
// distance over the batch is at least the distance to the centre minus
// half the spread, and the taper is zero beyond 2c.
func (l *localizer) coordWindows(co *Coordinates) {
	l.coord, l.period = co.Of, co.Period
	if l.period > 0 {
		l.coord = make([]float64, len(co.Of))
		for j, x := range co.Of {
			l.coord[j] = wrap(x, l.period)
		}
	}
	l.centre, l.reachOf = make([]float64, l.nbatch), make([]float64, l.nbatch)
	l.all = l.period > 0
	for b := range l.nbatch {
		lo, hi := l.span(b)
		a, z := slices.Min(l.coord[lo:hi]), slices.Max(l.coord[lo:hi])
		l.centre[b] = (a + z) / 2
		// Rounding in the wrapped positions is absorbed by a relative
		// margin; the weights decide membership.
		l.reachOf[b] = (2*l.c + (z-a)/2) * (1 + 1e-9)
		l.all = l.all && 2*l.reachOf[b] >= l.period
	}
}

// dist is the distance between state variable j and position pos.
func (l *localizer) dist(j int, pos float64) float64 {
	if l.coord == nil {
		return observations.PeriodicDistance(float64(j), pos, float64(l.dim))
	}
	if l.period == 0 {
		return math.Abs(l.coord[j] - pos)
	}
	return observations.PeriodicDistance(l.coord[j], pos, l.period)
}

// wrap maps x into [0, l).
func wrap(x, l float64) float64 {
	x = math.Mod(x, l)
	if x < 0 {
		x += l
	}
	if x >= l { // -tiny + l rounds to l
		x = 0
	}
	return x
}

// span returns the grid points [lo, hi) of batch b.
func (l *localizer) span(b int) (lo, hi int) {
	lo = b * l.bs
	return lo, min(lo+l.bs, l.dim)
}

// candidates writes the indices of the observations in batch b's window
// into dst, in ascending order, and returns their number; with dst nil it
// only counts them.
func (l *localizer) candidates(dst []int, b int) int {
	if l.all {
		if dst != nil {
			for k := range l.nobs {
				dst[k] = k
			}
		}
		return l.nobs
	}
	lo, hi := l.span(b)
	centre, reach := float64(lo+hi-1)/2, l.reach
	if l.coord != nil {
		centre, reach = l.centre[b], l.reachOf[b]
	}
	from, to := centre-reach, centre+reach
	n := l.period
	count := 0
	add := func(a, b float64) { // observations with a <= position <= b
		i := sort.SearchFloat64s(l.sorted, a)
		j := i
		for j < len(l.sorted) && l.sorted[j] <= b {
			j++
		}
		if dst != nil {
			for _, k := range l.order[i:j] {
				dst[count] = k
				count++
			}
		} else {
			count += j - i
		}
	}
	switch {
	case n == 0: // a line
		add(from, to)
	case from < 0:
		add(from+n, n)
		add(0, to)
	case to >= n:
		add(from, n)
		add(0, to-n)
	default:
		add(from, to)
	}
	if dst != nil {
		slices.Sort(dst[:count])
	}
	return count
}

// selectObs fills lw.obs and lw.sqrtW with batch b's observations and
// returns their number.
func (l *localizer) selectObs(lw *localWork, b int) int {
	lo, hi := l.span(b)
	nc := l.candidates(lw.obs, b)
	pl := 0
	for _, k := range lw.obs[:nc] {
		pos := l.pos[k]
		var dist float64
		for j := lo; j < hi; j++ {
			dist += l.dist(j, pos)
		}
		if w := GaspariCohn(dist/float64(hi-lo), l.c); w > gcCutoff {
			lw.obs[pl] = k
			lw.sqrtW[pl] = math.Sqrt(w)
			pl++
		}
	}
	return pl
}

// analyze writes the analysis 1x̄ᵀ + W_b A into out, batch by batch, given
// the anomalies a (N × n), the mean xm, the global normalised S (N × p) and d.
func (l *localizer) analyze(out, a, xm, s, d []float64) {
	l.analyzeRange(out, a, xm, s, d, 0, l.nbatch)
}

// analyzeRange is analyze for the batches b0..b1-1 only. With a weight
// stride it also analyses the batches at the ends of the segments that
// b0..b1-1 touch, inside the range or not, so that any range gives the
// columns of the whole analysis bit for bit.
func (l *localizer) analyzeRange(out, a, xm, s, d []float64, b0, b1 int) {
	// The work items: batches, or with a stride the segments b0..b1-1 touch.
	i0, i1 := b0, b1
	if l.stride > 1 {
		i0, i1 = b0/l.stride, (b1+l.stride-1)/l.stride
	}
	if !l.parallel {
		l.run(l.workers[0], i0, i1, b0, b1, out, a, xm, s, d)
		return
	}
	l.next.Store(int64(i0))
	for _, lw := range l.workers {
		l.wg.Go(func() {
			for {
				first := int(l.next.Add(int64(l.chunk))) - l.chunk
				if first >= i1 {
					return
				}
				l.run(lw, first, min(first+l.chunk, i1), b0, b1, out, a, xm, s, d)
			}
		})
	}
	l.wg.Wait()
}

// run does the work items first..last-1 of analyzeRange(b0, b1): batches,
// or with a weight stride segments.
func (l *localizer) run(lw *localWork, first, last, b0, b1 int, out, a, xm, s, d []float64) {
	if l.stride == 1 {
		for b := first; b < last; b++ {
			l.local(lw, b, out, a, xm, s, d)
		}
		return
	}
	l.segments(lw, first, last, b0, b1, out, a, xm, s, d)
}

// local runs the ETKF on batch b with its tapered local observations and
// applies it. Batches write disjoint columns of out, so they may run
// concurrently.
func (l *localizer) local(lw *localWork, b int, out, a, xm, s, d []float64) {
	N, n := l.members, l.dim
	lo, hi := l.span(b)
	infl, inflN, pl := l.transform(lw, lw.tw, b, s, d)
	if l.infl != nil {
		l.infl[b] = infl
	}
	if l.inflN != nil {
		l.inflN[b] = inflN
	}
	if pl == 0 {
		for i := 0; i < N; i++ {
			for j := lo; j < hi; j++ {
				out[i*n+j] = xm[j] + a[i*n+j]
			}
		}
		return
	}
	W := lw.sp.general(lw.tw)
	for j := lo; j < hi; j++ {
		for i := 0; i < N; i++ {
			lw.col[i] = a[i*n+j]
		}
		blas64.Gemv(blas.NoTrans, 1, W, blas64.Vector{N: N, Inc: 1, Data: lw.col}, 0, blas64.Vector{N: N, Inc: 1, Data: lw.res})
		for i := 0; i < N; i++ {
			out[i*n+j] = xm[j] + lw.res[i]
		}
	}
}

// transform writes into dst (N × N) the transform W of the ETKF on batch b
// with its tapered local observations, Eᵃ = 1x̄ᵀ + W A on the batch, and
// returns the batch's adaptive inflations and the number of local
// observations; with none, W = I. infl is the local innovation
// inflation's posterior Λ_b (the carried one without observations), or
// without it the local EnKF-N's λ (1 without observations, NaN if its
// Hessian was not positive definite), or 1 without adaptive inflation.
// inflN is the EnKF-N's λ when it runs on top of Λ_b (1 otherwise).
func (l *localizer) transform(lw *localWork, dst []float64, b int, s, d []float64) (infl, inflN float64, pl int) {
	N, p := l.members, l.nobs
	pl = l.selectObs(lw, b)
	if pl == 0 {
		clear(dst)
		for i := 0; i < N; i++ {
			dst[i*N+i] = 1
		}
		if l.innov != nil {
			return l.lam[b], 1, 0
		}
		return 1, 1, 0 // 1: the EnKF-N's inflation without observations
	}
	obs, sqrtW := lw.obs[:pl], lw.sqrtW[:pl]
	for i := 0; i < N; i++ {
		for k, o := range obs {
			lw.s[i*pl+k] = s[i*p+o] * sqrtW[k]
		}
	}
	for k, o := range obs {
		lw.d[k] = d[o] * sqrtW[k]
	}
	S := blas64.General{Rows: N, Cols: pl, Stride: pl, Data: lw.s[:N*pl]}
	sd := func() {
		blas64.Gemv(blas.NoTrans, 1, S, blas64.Vector{N: pl, Inc: 1, Data: lw.d[:pl]}, 0, blas64.Vector{N: N, Inc: 1, Data: lw.sd})
	}
	lambda := 1.0
	infl, inflN = 1, 1
	if l.innov != nil {
		if l.given != nil {
			infl = l.given[b]
		} else {
			infl = l.innov.localInflation(l.lam[b], S.Data, lw.d[:pl], sqrtW)
		}
		lambda = math.Sqrt(infl)
		scale(lambda, S.Data)
	}
	if l.givenN != nil {
		inflN = l.givenN[b]
		lambda *= inflN
		scale(inflN, S.Data)
	}
	lw.sp.factor(S)
	T := lw.sp.t
	if lw.en == nil {
		lw.sp.formT()
		sd()
		lw.sp.solve(lw.w, lw.sd, lw.res)
	} else {
		// The local EnKF-N: λ given by the localised hybrid (already in S),
		// or from the dual with the tapered local observations (inflated by
		// √Λ_b with the local innovation inflation).
		lambdaN, eN := inflN, 0.0
		if l.givenN != nil {
			eN = l.givenEN[b]
		} else {
			sd()
			lambdaN, eN = lw.en.inflation(lw.sp, lw.sd)
			lambdaN = l.carriedN(b, lambdaN)
			scale(lambdaN, S.Data)
			lw.sp.factor(S)
			lambda *= lambdaN
		}
		sd()
		lw.sp.solve(lw.w, lw.sd, lw.res)
		switch {
		case lw.en.hessianRoot(lw.sp, S, lw.w, eN):
			T = lw.en.hs.t
		case l.meanN != nil || l.givenN != nil:
			// λ is not this dual's optimum (an average, or the hybrid
			// dual's), where the Hessian is positive definite: the
			// ETKF's transform instead.
			lw.sp.formT()
		default:
			lambdaN = math.NaN()
		}
		switch {
		case l.givenN != nil:
		case l.innov != nil:
			inflN = lambdaN
		default:
			infl = lambdaN
		}
	}
	transformETKF(dst, T, lw.w, N, N, l.sqrtN1, 1)
	if lambda != 1 {
		scale(lambda, dst) // W acts on the inflated anomalies λA
	}
	return infl, inflN, pl
}

// carriedN returns the local EnKF-N's inflation of batch b given its
// dual's λ: λ itself, or with a memory the moving average carried in
// meanN (EnKFN.Memory).
func (l *localizer) carriedN(b int, lambda float64) float64 {
	if l.meanN == nil {
		return lambda
	}
	return l.en.smooth(l.meanN[b], lambda)
}

// carryN keeps each batch's local EnKF-N inflation of the analysis just
// made, lam, as the average the next one starts from (with a memory).
func (l *localizer) carryN(lam []float64) {
	if l.meanN != nil {
		copy(l.meanN, lam)
	}
}

// segments runs the segments g0..g1-1 of a weight-strided analysis,
// writing the columns of the batches b0..b1-1 among them: the transforms
// at both ends of each segment, and in between their interpolation
// (localizer). Each end is computed once per call (the far end of one
// segment is the near end of the next) and the inflation of an analysed
// batch is written by the call whose segment it starts, so that concurrent
// calls on disjoint segments write disjoint entries.
func (l *localizer) segments(lw *localWork, g0, g1, b0, b1 int, out, a, xm, s, d []float64) {
	w0, w1 := lw.tw, lw.tw1
	infl0, inflN0, _ := l.transform(lw, w0, g0*l.stride, s, d)
	for g := g0; g < g1; g++ {
		k0 := g * l.stride
		k1 := min(k0+l.stride, l.nbatch)
		infl1, inflN1, _ := l.transform(lw, w1, k1%l.nbatch, s, d)
		c0, c1 := max(k0, b0), min(k1, b1)
		for b := c0; b < c1; b++ {
			t := float64(b-k0) / float64(k1-k0)
			if l.infl != nil {
				l.infl[b] = (1-t)*infl0 + t*infl1
			}
			if l.inflN != nil {
				l.inflN[b] = (1-t)*inflN0 + t*inflN1
			}
		}
		l.interpolate(lw, w0, w1, k0, k1, c0, c1, out, a, xm)
		w0, w1, infl0, inflN0 = w1, w0, infl1, inflN1
	}
}

// interpolate writes the columns of the batches c0..c1-1 of the segment
// from batch k0 to k1 whose end transforms are W₀ (w0) and W₁ (w1):
//
//	Eᵃ = 1x̄ᵀ + W₀ A + (W₁ − W₀) A diag(t),
//
// with t the interpolation weight of each column's batch.
func (l *localizer) interpolate(lw *localWork, w0, w1 []float64, k0, k1, c0, c1 int, out, a, xm []float64) {
	N, n := l.members, l.dim
	lo, _ := l.span(c0)
	_, hi := l.span(c1 - 1)
	m := hi - lo
	for i, v := range w1 {
		lw.dw[i] = v - w0[i]
	}
	ts := lw.ts[:N*m]
	for b := c0; b < c1; b++ {
		t := float64(b-k0) / float64(k1-k0)
		blo, bhi := l.span(b)
		for i := 0; i < N; i++ {
			row, arow := ts[i*m+blo-lo:i*m+bhi-lo], a[i*n+blo:i*n+bhi]
			for j, v := range arow {
				row[j] = t * v
			}
		}
	}
	for i := 0; i < N; i++ {
		copy(out[i*n+lo:i*n+hi], xm[lo:hi])
	}
	vec.Gemm(N, m, N, w0, N, a[lo:], n, out[lo:], n)
	vec.Gemm(N, m, N, lw.dw, N, ts, m, out[lo:], n)
}

// meanInflation returns the mean of the local inflations of the anomalies
// over the batches b0..b1-1 (the EnKF-N's λ, √Λ_b, or both: √Λ_b·λ), or an
// error naming a batch whose EnKF-N Hessian was not positive definite.
func (l *localizer) meanInflation(b0, b1 int) (float64, error) {
	var sum float64
	for b, v := range l.infl[b0:b1] {
		if l.innov != nil {
			v = math.Sqrt(v)
		}
		if l.inflN != nil {
			v *= l.inflN[b0+b]
		}
		if math.IsNaN(v) {
			lo, hi := l.span(b0 + b)
			return 0, fmt.Errorf("enkf: local EnKF-N at grid points %d..%d: the Hessian of the primal cost is not positive definite", lo, hi-1)
		}
		sum += v
	}
	return sum / float64(b1-b0), nil
}
