package enkf

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestInfiniteVarianceIgnoresObservation checks that an observation with
// error variance +Inf (a quality-control rejection) leaves the analysis
// exactly as if it had not been made: the analysis of the reduced problem
// without it, to round-off (1e-12 on O(1) values). For the stochastic EnKF
// the perturbation draws differ between the two problems, so only its mean,
// which the centred perturbations do not move, is compared.
func TestInfiniteVarianceIgnoresObservation(t *testing.T) {
	mu, P, H, y, r, pos := testProblem()
	const drop = 1
	p, n := H.Dims()
	keep := make([]int, 0, p-1)
	for k := 0; k < p; k++ {
		if k != drop {
			keep = append(keep, k)
		}
	}
	Hr := mat.NewDense(len(keep), n, nil)
	yr, rr, posr := make([]float64, len(keep)), make([]float64, len(keep)), make([]float64, len(keep))
	for i, k := range keep {
		Hr.SetRow(i, H.RawRowView(k))
		yr[i], rr[i], posr[i] = y[k], r[k], pos[k]
	}
	rInf := append([]float64(nil), r...)
	rInf[drop] = math.Inf(1)
	y[drop] = 1e3 // a gross error that would dominate if it were used

	for _, cfg := range []Config{
		{Method: ETKF, Inflation: 1.1},
		{Method: DEnKF, Inflation: 1},
		{Method: EnKF, Inflation: 1},
		{Method: LETKF, Inflation: 1, LocRadius: 3},
	} {
		t.Run(string(cfg.Method), func(t *testing.T) {
			E1 := gaussianEnsemble(20, mu, P, 3)
			E2 := mat.DenseCopyOf(E1)
			full, err := New(cfg, 20, n, pos)
			if err != nil {
				t.Fatal(err)
			}
			reduced, err := New(cfg, 20, n, posr)
			if err != nil {
				t.Fatal(err)
			}
			in1, err := full.Analyze(E1, applyLinear(H, E1), y, rInf, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			in2, err := reduced.Analyze(E2, applyLinear(Hr, E2), yr, rr, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			if in1.Expected != float64(len(keep)) || math.Abs(in1.NIS-in2.NIS) > 1e-12*in2.NIS {
				t.Errorf("innovation %+v, want %+v", in1, in2)
			}
			m1, P1 := sampleMoments(E1)
			m2, P2 := sampleMoments(E2)
			if d := maxAbsDiff(m1, m2); d > 1e-12 {
				t.Errorf("analysis mean differs by %g", d)
			}
			if cfg.Method != EnKF {
				if d := maxAbsDiffMat(P1, P2); d > 1e-12 {
					t.Errorf("analysis covariance differs by %g", d)
				}
			}
		})
	}
}
