package enkf

import (
	"fmt"
	"math"
	"runtime"
	"sync"

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

// periodicDist is the distance between a and b on a circle of length l.
func periodicDist(a, b, l float64) float64 {
	d := math.Mod(math.Abs(a-b), l)
	return math.Min(d, l-d)
}

// batch is one local analysis: grid points [lo, hi) and the nearby
// observations with the square roots of their taper weights.
type batch struct {
	lo, hi int
	obs    []int
	sqrtW  []float64
}

// localizer runs the LETKF local analyses, in parallel over batches when
// they are large enough to pay for goroutines.
type localizer struct {
	members, dim, nobs int
	sqrtN1             float64
	batches            []batch
	workers            []*localWork
	parallel           bool
}

// localWork is one goroutine's scratch.
type localWork struct {
	sp    *space
	s, d  []float64 // local S (N × p_loc) and d
	w, sd []float64
	tw    []float64 // W (N × N)
	col   []float64
	res   []float64
}

// parallelFlops is the work (in multiply-adds per analysis) above which the
// local analyses fan out over goroutines; below it, the ~µs cost of starting
// them would dominate.
const parallelFlops = 1 << 18

func newLocalizer(cfg Config, N, n int, obsPos []float64) (*localizer, error) {
	for k, x := range obsPos {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("enkf: letkf: observation %d has position %v", k, x)
		}
	}
	bs := max(cfg.BatchSize, 1)
	c := GCFactor * cfg.LocRadius
	l := &localizer{members: N, dim: n, nobs: len(obsPos), sqrtN1: math.Sqrt(float64(N - 1))}
	maxObs, flops := 0, 0
	for lo := 0; lo < n; lo += bs {
		hi := min(lo+bs, n)
		b := batch{lo: lo, hi: hi}
		for k, pos := range obsPos {
			var dist float64
			for j := lo; j < hi; j++ {
				dist += periodicDist(float64(j), pos, float64(n))
			}
			if w := GaspariCohn(dist/float64(hi-lo), c); w > gcCutoff {
				b.obs = append(b.obs, k)
				b.sqrtW = append(b.sqrtW, math.Sqrt(w))
			}
		}
		maxObs = max(maxObs, len(b.obs))
		flops += N*N*len(b.obs) + 4*N*N*N
		l.batches = append(l.batches, b)
	}
	nw := 1
	if flops >= parallelFlops {
		nw = min(runtime.GOMAXPROCS(0), len(l.batches))
		l.parallel = nw > 1
	}
	for range nw {
		l.workers = append(l.workers, &localWork{
			sp: newSpace(N), s: make([]float64, N*maxObs), d: make([]float64, maxObs),
			w: make([]float64, N), sd: make([]float64, N), tw: make([]float64, N*N),
			col: make([]float64, N), res: make([]float64, N),
		})
	}
	return l, nil
}

// analyze writes the analysis 1x̄ᵀ + W_b A into out, batch by batch, given
// the anomalies a (N × n), the mean xm, the global normalised S (N × p) and d.
func (l *localizer) analyze(out, a, xm, s, d []float64) {
	if !l.parallel {
		for i := range l.batches {
			l.local(l.workers[0], &l.batches[i], out, a, xm, s, d)
		}
		return
	}
	var wg sync.WaitGroup
	nw := len(l.workers)
	for w := range nw {
		wg.Add(1)
		go func(lw *localWork, first int) {
			defer wg.Done()
			for i := first; i < len(l.batches); i += nw {
				l.local(lw, &l.batches[i], out, a, xm, s, d)
			}
		}(l.workers[w], w)
	}
	wg.Wait()
}

// local runs the ETKF on one batch with the tapered local observations.
// Batches write disjoint columns of out, so they may run concurrently.
func (l *localizer) local(lw *localWork, b *batch, out, a, xm, s, d []float64) {
	N, n, p := l.members, l.dim, l.nobs
	pl := len(b.obs)
	if pl == 0 {
		for i := 0; i < N; i++ {
			for j := b.lo; j < b.hi; j++ {
				out[i*n+j] = xm[j] + a[i*n+j]
			}
		}
		return
	}
	for i := 0; i < N; i++ {
		for k, o := range b.obs {
			lw.s[i*pl+k] = s[i*p+o] * b.sqrtW[k]
		}
	}
	for k, o := range b.obs {
		lw.d[k] = d[o] * b.sqrtW[k]
	}
	S := blas64.General{Rows: N, Cols: pl, Stride: pl, Data: lw.s[:N*pl]}
	lw.sp.factor(S)
	lw.sp.formT()
	blas64.Gemv(blas.NoTrans, 1, S, blas64.Vector{N: pl, Inc: 1, Data: lw.d[:pl]}, 0, blas64.Vector{N: N, Inc: 1, Data: lw.sd})
	lw.sp.solve(lw.w, lw.sd, lw.res)
	transformETKF(lw.tw, lw.sp.t, lw.w, N, l.sqrtN1)
	W := lw.sp.general(lw.tw)
	for j := b.lo; j < b.hi; j++ {
		for i := 0; i < N; i++ {
			lw.col[i] = a[i*n+j]
		}
		blas64.Gemv(blas.NoTrans, 1, W, blas64.Vector{N: N, Inc: 1, Data: lw.col}, 0, blas64.Vector{N: N, Inc: 1, Data: lw.res})
		for i := 0; i < N; i++ {
			out[i*n+j] = xm[j] + lw.res[i]
		}
	}
}
