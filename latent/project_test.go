package latent

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/fixture"
)

// On PCA the objective is quadratic, so the first (undamped) Gauss–Newton
// step lands on the minimiser: the least-squares code E(x), its Tikhonov
// shrinkage σₖ²eₖ/(σₖ² + λ), or the weighted least-squares code. The
// normal equations have condition number (σ₁/σ₃)² ≈ 10 here, so the codes
// agree to ~1e-14; 1e-10 relative is a wide margin.
func TestProjectPCA(t *testing.T) {
	X := fixture.SubspaceData(80, 10, []float64{3, 2, 1}, 0.1, 21)
	p, err := FitPCA(X, PCAOptions{Dim: 3})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	var J mat.Dense
	p.Jacobian(&J, make([]float64, 3))
	sigma2 := p.ExplainedVariance()
	for trial := 0; trial < 10; trial++ {
		x := append([]float64(nil), X.RawRowView(trial)...)
		for i := range x {
			x[i] += rng.NormFloat64() // well off the subspace
		}
		z0 := fixture.RandVec(3, rng)
		e := make([]float64, 3)
		p.Encode(e, x)

		w := make([]float64, 10)
		for i := range w {
			w[i] = 0.5 + rng.Float64()
		}
		// Weighted least squares: (JᵀDJ) z = JᵀD(x − μ).
		var jd mat.Dense
		jd.Apply(func(i, _ int, v float64) float64 { return w[i] * v }, &J)
		var A mat.Dense
		A.Mul(J.T(), &jd)
		r := mat.NewVecDense(10, nil)
		r.SubVec(mat.NewVecDense(10, x), mat.NewVecDense(10, p.Params().Mean))
		var b, zw mat.VecDense
		b.MulVec(jd.T(), r)
		if err := zw.SolveVec(&A, &b); err != nil {
			t.Fatal(err)
		}
		ridge := make([]float64, 3)
		for k := range ridge {
			ridge[k] = sigma2[k] * e[k] / (sigma2[k] + 2)
		}
		for _, tc := range []struct {
			name string
			opts ProjectOptions
			want []float64
		}{
			{"least squares", ProjectOptions{}, e},
			{"ridge", ProjectOptions{Lambda: 2}, ridge},
			{"weighted", ProjectOptions{Weights: w}, zw.RawVector().Data},
		} {
			z, st, err := Project(p, x, z0, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := fixture.MaxAbsDiff(z, tc.want); d > 1e-10*fixture.MaxAbs(tc.want) {
				t.Errorf("%s: z = %v, want %v", tc.name, z, tc.want)
			}
			if st.Iterations != 1 || !st.Converged || !(st.Residual < st.Initial) {
				t.Errorf("%s: stats %+v, want one accepted step and convergence", tc.name, st)
			}
			// The residual of the least-squares code is the distance to the
			// subspace.
			if tc.name == "least squares" {
				x2 := make([]float64, 10)
				p.Decode(x2, z)
				floats.Sub(x2, x)
				if d := math.Abs(floats.Norm(x2, 2) - st.Residual); d > 1e-12*st.Residual {
					t.Errorf("residual %v, ‖x − G(z)‖ = %v", st.Residual, floats.Norm(x2, 2))
				}
			}
		}
	}
}

func TestProjectErrors(t *testing.T) {
	g := NewIdentity(3)
	x, z0 := []float64{1, 2, 3}, []float64{0, 0, 0}
	for _, tc := range []struct {
		name  string
		x, z0 []float64
		opts  ProjectOptions
		want  string
	}{
		{"lambda", x, z0, ProjectOptions{Lambda: -1}, "Lambda"},
		{"weights length", x, z0, ProjectOptions{Weights: []float64{1}}, "Weights"},
		{"negative weight", x, z0, ProjectOptions{Weights: []float64{1, -1, 1}}, "Weights[1]"},
		{"max iter", x, z0, ProjectOptions{MaxIter: -1}, "MaxIter"},
		{"tol", x, z0, ProjectOptions{Tol: -1}, "Tol"},
		{"x length", x[:2], z0, ProjectOptions{}, "len(x)"},
		{"z0 length", x, z0[:1], ProjectOptions{}, "len(z0)"},
	} {
		_, _, err := Project(g, tc.x, tc.z0, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	// Identity: the projection is x itself; a zero weight leaves a variable
	// free, where it stays at z0. JᵀWJ is singular, so the steps are damped
	// and converge linearly down to the step tolerance 1e-8.
	z, st, err := Project(g, x, z0, ProjectOptions{Weights: []float64{1, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(z[0]-1) > 1e-8 || z[1] != 0 || math.Abs(z[2]-3) > 1e-8 || st.Residual > 1e-8 || !st.Converged {
		t.Errorf("identity projection %v, %+v", z, st)
	}
}

// nanJacobian is a generator whose Jacobian is NaN, as an autoencoder's
// becomes for codes that overflow.
type nanJacobian struct{ Identity }

func (g *nanJacobian) Jacobian(J *mat.Dense, z []float64) {
	if J.IsEmpty() {
		J.ReuseAs(g.StateDim(), g.LatentDim())
	}
	r, c := J.Dims()
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			J.Set(i, j, math.NaN())
		}
	}
}

// TestProjectNonFiniteTerminates: a non-finite Jacobian must end the
// projection, not spin in the damping loop (whose exit test compares with
// the NaN curvature and so never fires).
func TestProjectNonFiniteTerminates(t *testing.T) {
	g := &nanJacobian{*NewIdentity(2)}
	pr, err := NewProjector(g, ProjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	z := make([]float64, 2)
	done := make(chan struct{})
	go func() {
		pr.Project(z, []float64{1, 2}, []float64{0, 0})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Project did not return for a non-finite Jacobian")
	}
}
