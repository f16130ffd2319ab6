package enkf

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/latentda/latentda/observations"
)

// The window search with coordinates selects what a scan of every
// observation at the mean distance over each batch selects, on a ring and
// on a line, for uneven and unordered coordinates.
func TestCoordsSelectionMatchesFullScan(t *testing.T) {
	const n = 240
	rng := rand.New(rand.NewPCG(7, 7))
	stretched := make([]float64, n) // increasing, uneven, in [0, 30)
	for j := range stretched {
		u := float64(j) / n
		stretched[j] = 30 * (u + 0.1*math.Sin(2*math.Pi*u))
	}
	shuffled := slices.Clone(stretched)
	rng.Shuffle(n, func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
	obsAt := func(co []float64) []float64 { // every 3rd variable, and strays
		var pos []float64
		for j := 0; j < n; j += 3 {
			pos = append(pos, co[j])
		}
		for range 20 {
			pos = append(pos, rng.Float64()*40-5)
		}
		return pos
	}
	for _, tc := range []struct {
		name   string
		co     []float64
		period float64
		radius float64
		batch  int
	}{
		{"stretched ring", stretched, 30, 0.5, 1},
		{"stretched ring, batches of 4", stretched, 30, 0.5, 4},
		{"stretched line", stretched, 0, 0.5, 1},
		{"stretched line, batches of 5", stretched, 0, 1, 5},
		{"shuffled ring, batches of 3", shuffled, 30, 0.4, 3},
		{"shuffled line", shuffled, 0, 0.4, 1},
		{"window covers the ring", stretched, 30, 10, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pos := obsAt(tc.co)
			co := &Coordinates{Of: tc.co, Period: tc.period}
			l, err := newLocalizer(Config{Method: LETKF, Inflation: 1, LocRadius: tc.radius, BatchSize: tc.batch, Coords: co}, 4, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			lw := l.workers[0]
			total := 0
			for b := range l.nbatch {
				lo, hi := l.span(b)
				var wantObs []int
				var wantW []float64
				for k, x := range pos {
					var dist float64
					for j := lo; j < hi; j++ {
						if tc.period > 0 {
							dist += observations.PeriodicDistance(wrap(tc.co[j], tc.period), x, tc.period)
						} else {
							dist += math.Abs(tc.co[j] - x)
						}
					}
					if w := GaspariCohn(dist/float64(hi-lo), l.c); w > gcCutoff {
						wantObs, wantW = append(wantObs, k), append(wantW, math.Sqrt(w))
					}
				}
				pl := l.selectObs(lw, b)
				if !slices.Equal(lw.obs[:pl], wantObs) || !slices.Equal(lw.sqrtW[:pl], wantW) {
					t.Fatalf("batch %d [%d, %d): got observations %v, want %v", b, lo, hi, lw.obs[:pl], wantObs)
				}
				total += pl
			}
			if total == 0 {
				t.Fatal("no batch has an observation: the case tests nothing")
			}
		})
	}
}

// Coordinates that are the grid index scaled by 2, with the period and
// radius scaled alike, give the analysis without coordinates bit for bit
// (scaling by 2 is exact), with and without a weight stride.
func TestCoordsScaledIndex(t *testing.T) {
	n, N := 400, 8
	for _, stride := range []int{1, 4} {
		var got [2][]float64
		for i, scale := range []float64{0, 2} {
			cfg := Config{Method: LETKF, Inflation: 1.02, LocRadius: 3, BatchSize: 2, WeightStride: stride}
			var pos []float64
			for k := 0; k < n; k += 2 {
				pos = append(pos, float64(k))
			}
			if scale > 0 {
				co := make([]float64, n)
				for j := range co {
					co[j] = scale * float64(j)
				}
				for k := range pos {
					pos[k] *= scale
				}
				cfg.LocRadius *= scale
				cfg.Coords = &Coordinates{Of: co, Period: scale * float64(n)}
			}
			f, err := New(cfg, N, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 3))
			E, HE := randomDense(rng, N, n), randomDense(rng, N, len(pos))
			y, r := make([]float64, len(pos)), make([]float64, len(pos))
			for k := range r {
				y[k], r[k] = rng.NormFloat64(), 0.5
			}
			if _, err := f.Analyze(E, HE, y, r, nil); err != nil {
				t.Fatal(err)
			}
			got[i] = E.RawMatrix().Data
		}
		for j := range got[0] {
			if math.Float64bits(got[0][j]) != math.Float64bits(got[1][j]) {
				t.Fatalf("stride %d, entry %d: %v by index, %v by coordinates", stride, j, got[0][j], got[1][j])
			}
		}
	}
}

func TestCoordsInvalid(t *testing.T) {
	co := func(period float64, of ...float64) *Coordinates { return &Coordinates{Of: of, Period: period} }
	for _, tc := range []struct {
		name   string
		coords *Coordinates
		stride int
		want   string
	}{
		{"too few", co(0, 0, 1, 2), 1, "3 coordinates for 4 state variables"},
		{"NaN", co(0, 0, 1, math.NaN(), 3), 1, "state variable 2 has coordinate NaN"},
		{"Inf", co(0, 0, 1, 2, math.Inf(1)), 1, "state variable 3 has coordinate +Inf"},
		{"negative period", co(-1, 0, 1, 2, 3), 1, "period"},
		{"infinite period", co(math.Inf(1), 0, 1, 2, 3), 1, "period"},
		{"stride on a line", co(0, 0, 1, 2, 3), 2, "needs a periodic domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Method: LETKF, Inflation: 1, LocRadius: 1, WeightStride: tc.stride, Coords: tc.coords}, 3, 4, []float64{0, 2})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
