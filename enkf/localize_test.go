package enkf

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/observations"
)

// bruteObs is the O(n·p) selection the window search must reproduce: every
// observation whose taper weight at the mean distance over the batch
// exceeds the cut-off, in index order.
func bruteObs(lo, hi, n int, pos []float64, c float64) ([]int, []float64) {
	var obs []int
	var sqrtW []float64
	for k, x := range pos {
		var dist float64
		for j := lo; j < hi; j++ {
			dist += observations.PeriodicDistance(float64(j), x, float64(n))
		}
		if w := GaspariCohn(dist/float64(hi-lo), c); w > gcCutoff {
			obs = append(obs, k)
			sqrtW = append(sqrtW, math.Sqrt(w))
		}
	}
	return obs, sqrtW
}

func TestLocalSelectionMatchesFullScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	shuffled := make([]float64, 300)
	for k := range shuffled {
		// Unsorted, with positions outside [0, n) that wrap around.
		shuffled[k] = rng.Float64()*600 - 150
	}
	every2 := make([]float64, 500)
	for k := range every2 {
		every2[k] = float64(2 * k)
	}
	for _, tc := range []struct {
		name   string
		n      int
		pos    []float64
		radius float64
		batch  int
	}{
		{"every 2nd, radius 10", 1000, every2, 10, 1},
		{"every 2nd, batches of 7", 1000, every2, 10, 7},
		{"every 2nd, batches of 32", 1000, every2, 8, 32},
		{"shuffled, radius 4", 300, shuffled, 4, 1},
		{"shuffled, batches of 5", 300, shuffled, 2.5, 5},
		{"window covers the domain", 300, shuffled, 100, 3},
		{"duplicates and edges", 50, []float64{0, 0, 49.9, 49.999999, 25, -0.0000001, 50}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := newLocalizer(Config{Method: LETKF, Inflation: 1, LocRadius: tc.radius, BatchSize: tc.batch}, 4, tc.n, tc.pos)
			if err != nil {
				t.Fatal(err)
			}
			lw := l.workers[0]
			total := 0
			for b := range l.nbatch {
				lo, hi := l.span(b)
				wantObs, wantW := bruteObs(lo, hi, tc.n, tc.pos, l.c)
				pl := l.selectObs(lw, b)
				if !slices.Equal(lw.obs[:pl], wantObs) || !slices.Equal(lw.sqrtW[:pl], wantW) {
					t.Fatalf("batch %d [%d, %d): got observations %v, want %v", b, lo, hi, lw.obs[:pl], wantObs)
				}
				total += pl
			}
			if total == 0 {
				t.Fatal("no batch has an observation: the cases test nothing")
			}
		})
	}
}

// TestLETKFParallelMatchesSerial checks that the chunked parallel local
// analyses give the same bits as one goroutine.
func TestLETKFParallelMatchesSerial(t *testing.T) {
	n, N := 2000, 10
	pos := make([]float64, n/2)
	for k := range pos {
		pos[k] = float64(2 * k)
	}
	cfg := Config{Method: LETKF, Inflation: 1.02, LocRadius: 5}
	rng := rand.New(rand.NewPCG(3, 3))
	E0 := randomDense(rng, N, n)
	HE := randomDense(rng, N, len(pos))
	y, r := make([]float64, len(pos)), make([]float64, len(pos))
	for k := range r {
		y[k], r[k] = rng.NormFloat64(), 0.5
	}
	var got [2][]float64
	for i, parallel := range []bool{false, true} {
		f, err := New(cfg, N, n, pos)
		if err != nil {
			t.Fatal(err)
		}
		if !f.loc.parallel && parallel {
			t.Skip("one CPU: nothing to compare")
		}
		f.loc.parallel = parallel
		E := randomDense(rand.New(rand.NewPCG(0, 0)), N, n)
		E.Copy(E0)
		if _, err := f.Analyze(E, HE, y, r, nil); err != nil {
			t.Fatal(err)
		}
		got[i] = E.RawMatrix().Data
	}
	for j := range got[0] {
		if math.Float64bits(got[0][j]) != math.Float64bits(got[1][j]) {
			t.Fatalf("entry %d: serial %v, parallel %v", j, got[0][j], got[1][j])
		}
	}
}

func randomDense(rng *rand.Rand, r, c int) *mat.Dense {
	m := mat.NewDense(r, c, nil)
	for i := range m.RawMatrix().Data {
		m.RawMatrix().Data[i] = rng.NormFloat64()
	}
	return m
}
