package observations

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestInnovationQCMatchesDirectFormula checks the ensemble-space NIS against
// dᵀ(HPHᵀ + R)⁻¹d formed and solved in observation space, and the outlier
// scores against dᵢ/√(σᵢ² + vᵢ), to 1e-10 relative (both routes are
// backward stable on these well-conditioned O(1) problems).
func TestInnovationQCMatchesDirectFormula(t *testing.T) {
	for _, tc := range []struct{ N, p int }{{5, 12}, {20, 8}, {3, 1}} {
		rng := rand.New(rand.NewPCG(uint64(tc.N), uint64(tc.p)))
		HE := mat.NewDense(tc.N, tc.p, nil)
		for i := 0; i < tc.N; i++ {
			for k := 0; k < tc.p; k++ {
				HE.Set(i, k, rng.NormFloat64()+float64(k))
			}
		}
		y, rVar := make([]float64, tc.p), make([]float64, tc.p)
		for k := range y {
			y[k] = float64(k) + 2*rng.NormFloat64()
			rVar[k] = 0.2 + rng.Float64()
		}
		q, err := NewInnovationQC(tc.N, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := q.Test(HE, y, rVar, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Direct: C = HPHᵀ + R with the sample covariance of HE.
		mean := make([]float64, tc.p)
		for k := range mean {
			mean[k] = mat.Sum(HE.ColView(k)) / float64(tc.N)
		}
		C := mat.NewSymDense(tc.p, nil)
		for a := 0; a < tc.p; a++ {
			for b := a; b < tc.p; b++ {
				var c float64
				for i := 0; i < tc.N; i++ {
					c += (HE.At(i, a) - mean[a]) * (HE.At(i, b) - mean[b])
				}
				c /= float64(tc.N - 1)
				if a == b {
					c += rVar[a]
				}
				C.SetSym(a, b, c)
			}
		}
		d := mat.NewVecDense(tc.p, nil)
		for k := range y {
			d.SetVec(k, y[k]-mean[k])
		}
		var chol mat.Cholesky
		chol.Factorize(C)
		var sol mat.VecDense
		if err := chol.SolveVecTo(&sol, d); err != nil {
			t.Fatal(err)
		}
		if want := mat.Dot(d, &sol); math.Abs(rep.NIS-want) > 1e-10*want {
			t.Errorf("N=%d p=%d: NIS %v, direct %v", tc.N, tc.p, rep.NIS, want)
		}
		for k := range y {
			want := d.AtVec(k) / math.Sqrt(C.At(k, k))
			if math.Abs(rep.Scores[k]-want) > 1e-10*math.Abs(want) {
				t.Errorf("score %d: %v, want %v", k, rep.Scores[k], want)
			}
		}
	}
}

func TestInnovationQCRejectsBadShapes(t *testing.T) {
	if _, err := NewInnovationQC(1, 3); err == nil {
		t.Error("one member accepted")
	}
	q, _ := NewInnovationQC(3, 2)
	if _, err := q.Test(mat.NewDense(3, 3, nil), []float64{1, 2}, []float64{1, 1}, 1); err == nil {
		t.Error("wrong HE shape accepted")
	}
}

func TestChiSquareThreshold(t *testing.T) {
	// Reference values from standard χ² tables.
	for _, tc := range []struct {
		dof   int
		alpha float64
		want  float64
	}{{1, 0.05, 3.841458820694124}, {10, 0.01, 23.209251158954356}, {40, 0.01, 63.69073975}} {
		if got := ChiSquareThreshold(tc.dof, tc.alpha); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("χ²(%d) %v quantile: %v, want %v", tc.dof, 1-tc.alpha, got, tc.want)
		}
	}
}

func TestEmpiricalThreshold(t *testing.T) {
	seq := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(n - i) // reversed: the function sorts
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		stats []float64
		alpha float64
		want  float64
		err   string
	}{
		{"1..101 at 1%", seq(101), 0.01, 100, ""},
		{"1..100 at 10%", seq(100), 0.1, 90.1, ""},
		{"too few", seq(50), 0.01, 0, "too few"},
		{"alpha 0", seq(100), 0, 0, "must be in (0, 1)"},
		{"alpha 1", seq(100), 1, 0, "must be in (0, 1)"},
		{"NaN", append(seq(99), math.NaN()), 0.01, 0, "NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EmpiricalThreshold(tc.stats, tc.alpha)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestInnovationQCIgnoresRejected: an infinite error variance removes the
// observation from the NIS exactly (the NIS of the reduced problem).
func TestInnovationQCIgnoresRejected(t *testing.T) {
	HE := mat.NewDense(4, 3, []float64{1, 2, 0, 2, 1, 1, 0, 3, 2, 1, 1, 5})
	y, r := []float64{1, 2, 9}, []float64{1, 0.5, 2}
	q, _ := NewInnovationQC(4, 3)
	full, _ := q.Test(HE, y, []float64{1, 0.5, math.Inf(1)}, 1)
	nis := full.NIS
	q2, _ := NewInnovationQC(4, 2)
	red, _ := q2.Test(mat.DenseCopyOf(HE.Slice(0, 4, 0, 2)), y[:2], r[:2], 1)
	if math.Abs(nis-red.NIS) > 1e-12*red.NIS {
		t.Errorf("NIS with a rejected observation %v, reduced problem %v", nis, red.NIS)
	}
}
