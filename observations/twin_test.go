package observations

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/latentda/latentda/dynamics"
)

// linModel is a tiny linear test model x_{k+1} = A x_k + c with
//
//	(A x)_i = a·x_i + b·x_{i−1 mod n},
//
// standing in for the real dynamics models, which live in another package.
type linModel struct {
	n       int
	dt      float64
	a, b, c float64
}

func (m *linModel) Name() string                 { return "linear-test" }
func (m *linModel) Dim() int                     { return m.n }
func (m *linModel) Dt() float64                  { return m.dt }
func (m *linModel) NewStepper() dynamics.Stepper { return &linStepper{m: m, tmp: make([]float64, m.n)} }

type linStepper struct {
	m   *linModel
	tmp []float64
}

func (s *linStepper) Step(x []float64) {
	n := s.m.n
	for i := 0; i < n; i++ {
		s.tmp[i] = s.m.a*x[i] + s.m.b*x[(i+n-1)%n] + s.m.c
	}
	copy(x, s.tmp)
}

// nilStepperModel returns a nil Stepper.
type nilStepperModel struct{ linModel }

func (m *nilStepperModel) NewStepper() dynamics.Stepper { return nil }

var _ dynamics.Model = (*linModel)(nil)

func newTestModel(n int) *linModel {
	return &linModel{n: n, dt: 0.05, a: 0.9, b: 0.2, c: 0.1}
}

func testX0(n int) []float64 {
	x0 := make([]float64, n)
	for i := range x0 {
		x0[i] = math.Sin(float64(i) + 0.3)
	}
	return x0
}

func newTestNature(t testing.TB, seed uint64, stepsPerObs int) *Nature {
	t.Helper()
	const n = 8
	op, err := NewEveryKth(n, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewDiagR([]float64{0.01, 0.04, 0.09, 0.16})
	if err != nil {
		t.Fatal(err)
	}
	nat, err := NewNature(newTestModel(n), op, r, testX0(n), stepsPerObs, seed)
	if err != nil {
		t.Fatal(err)
	}
	return nat
}

func TestNatureReproducible(t *testing.T) {
	const cycles = 20
	run := func(seed uint64) (truths, ys [][]float64) {
		nat := newTestNature(t, seed, 3)
		for k := 1; k <= cycles; k++ {
			truth := make([]float64, 8)
			y := make([]float64, 4)
			if got := nat.Next(truth, y); got != k {
				t.Fatalf("Next returned cycle %d, want %d", got, k)
			}
			truths = append(truths, truth)
			ys = append(ys, y)
		}
		return truths, ys
	}
	t1, y1 := run(99)
	t2, y2 := run(99)
	t3, y3 := run(100)
	for k := range y1 {
		if !slices.Equal(t1[k], t2[k]) || !slices.Equal(y1[k], y2[k]) {
			t.Fatalf("cycle %d: same seed gave different output", k+1)
		}
		if !slices.Equal(t1[k], t3[k]) {
			t.Fatalf("cycle %d: truth depends on the noise seed", k+1)
		}
		if slices.Equal(y1[k], y3[k]) {
			t.Fatalf("cycle %d: seeds 99 and 100 gave identical observations", k+1)
		}
	}
}

// TestNatureMatchesContract regenerates, for every cycle k, the truth by
// stepping a separate stepper by hand and the noise from an independent
// rand.New(rand.NewPCG(seed, k)) stream, and requires bitwise equality.
func TestNatureMatchesContract(t *testing.T) {
	const (
		seed        = 12345
		stepsPerObs = 5
		cycles      = 12
	)
	for _, stepsPerObs := range []int{1, stepsPerObs} {
		t.Run(fmt.Sprintf("stepsPerObs=%d", stepsPerObs), func(t *testing.T) {
			nat := newTestNature(t, seed, stepsPerObs)
			op, r := nat.Operator(), nat.R()
			model := newTestModel(8)
			ref := model.NewStepper()
			xRef := testX0(8)

			if nat.Cycle() != 0 || nat.Time() != 0 || !slices.Equal(nat.Truth(), xRef) {
				t.Fatalf("initial state: cycle %d time %v truth %v", nat.Cycle(), nat.Time(), nat.Truth())
			}
			truth := make([]float64, 8)
			y := make([]float64, op.OutDim())
			hx := make([]float64, op.OutDim())
			for k := 1; k <= cycles; k++ {
				if got := nat.Next(truth, y); got != k || nat.Cycle() != k {
					t.Fatalf("Next returned %d, Cycle %d; want %d", got, nat.Cycle(), k)
				}
				for s := 0; s < stepsPerObs; s++ {
					ref.Step(xRef)
				}
				if !slices.Equal(truth, xRef) || !slices.Equal(nat.Truth(), xRef) {
					t.Fatalf("cycle %d: truth %v, want %v after %d hand steps", k, truth, xRef, k*stepsPerObs)
				}
				if want := float64(k*stepsPerObs) * model.Dt(); math.Abs(nat.Time()-want) > 1e-15*want {
					t.Errorf("cycle %d: Time = %v, want %v", k, nat.Time(), want)
				}
				rng := rand.New(rand.NewPCG(seed, uint64(k)))
				op.Apply(hx, xRef)
				for i := range hx {
					want := hx[i] + r.Std(i)*rng.NormFloat64()
					if y[i] != want {
						t.Fatalf("cycle %d: y[%d] = %v, want %v", k, i, y[i], want)
					}
				}
				// The exported helper gives the same noise.
				eps := make([]float64, op.OutDim())
				r.ObsNoise(eps, seed, k)
				for i := range eps {
					if y[i] != hx[i]+eps[i] {
						t.Fatalf("cycle %d: y[%d] = %v, H(x)+ObsNoise = %v", k, i, y[i], hx[i]+eps[i])
					}
				}
			}
		})
	}
}

func TestNatureNilTruthAndViews(t *testing.T) {
	a := newTestNature(t, 7, 2)
	b := newTestNature(t, 7, 2)
	ya, yb := make([]float64, 4), make([]float64, 4)
	truth := make([]float64, 8)
	for k := 0; k < 3; k++ {
		a.Next(nil, ya)
		b.Next(truth, yb)
		if !slices.Equal(ya, yb) || !slices.Equal(a.Truth(), truth) {
			t.Fatalf("nil truth changed the result")
		}
	}
	if a.Seed() != 7 || a.StepsPerObs() != 2 {
		t.Errorf("Seed, StepsPerObs = %d, %d", a.Seed(), a.StepsPerObs())
	}
}

func TestNatureCopiesX0(t *testing.T) {
	op, _ := NewIdentity(3)
	r, _ := NewScalarR(3, 1)
	x0 := []float64{1, 2, 3}
	nat, err := NewNature(newTestModel(3), op, r, x0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	x0[0] = 100
	if nat.Truth()[0] != 1 {
		t.Errorf("NewNature did not copy x0")
	}
}

func TestNatureNoAlloc(t *testing.T) {
	nat := newTestNature(t, 1, 4)
	truth := make([]float64, 8)
	y := make([]float64, 4)
	if a := testing.AllocsPerRun(200, func() { nat.Next(truth, y) }); a != 0 {
		t.Errorf("Next allocates %v times per call", a)
	}
}

func TestNatureNextPanics(t *testing.T) {
	nat := newTestNature(t, 1, 1)
	mustPanic(t, "len(truth)", func() { nat.Next(make([]float64, 7), make([]float64, 4)) })
	mustPanic(t, "len(y)", func() { nat.Next(make([]float64, 8), make([]float64, 5)) })
	if nat.Cycle() != 0 {
		t.Errorf("a rejected Next advanced the cycle to %d", nat.Cycle())
	}
}

func TestNatureConstructorErrors(t *testing.T) {
	const n = 6
	model := newTestModel(n)
	id, _ := NewIdentity(n)
	wrongIn, _ := NewIdentity(n + 1)
	sub, _ := NewSubset(n, []int{0, 3})
	r6, _ := NewScalarR(n, 1)
	r2, _ := NewScalarR(2, 1)
	x0 := testX0(n)
	badX0 := testX0(n)
	badX0[4] = math.NaN()
	infX0 := testX0(n)
	infX0[1] = math.Inf(-1)
	tests := []struct {
		name        string
		model       dynamics.Model
		op          Operator
		r           *DiagR
		x0          []float64
		stepsPerObs int
		want        string
	}{
		{"nil model", nil, id, r6, x0, 1, "nil model"},
		{"nil operator", model, nil, r6, x0, 1, "nil operator"},
		{"nil R", model, id, nil, x0, 1, "nil R"},
		{"op InDim mismatch", model, wrongIn, r6, x0, 1, "InDim 7, model \"linear-test\" has Dim 6"},
		{"R dim mismatch", model, sub, r6, x0, 1, "R has Dim 6, operator \"subset\" has OutDim 2"},
		{"R dim mismatch identity", model, id, r2, x0, 1, "R has Dim 2"},
		{"stepsPerObs 0", model, id, r6, x0, 0, "stepsPerObs = 0"},
		{"stepsPerObs negative", model, id, r6, x0, -3, "stepsPerObs = -3"},
		{"x0 short", model, id, r6, x0[:5], 1, "len(x0) = 5"},
		{"x0 nil", model, id, r6, nil, 1, "len(x0) = 0"},
		{"x0 NaN", model, id, r6, badX0, 1, "x0[4] = NaN"},
		{"x0 Inf", model, id, r6, infX0, 1, "x0[1] = -Inf"},
		{"model Dt zero", &linModel{n: n}, id, r6, x0, 1, "Dt = 0"},
		{"model Dt NaN", &linModel{n: n, dt: math.NaN()}, id, r6, x0, 1, "Dt = NaN"},
		{"model Dim zero", &linModel{n: 0, dt: 1}, id, r6, x0, 1, "dimension 0"},
		{"nil stepper", &nilStepperModel{linModel{n: n, dt: 1}}, id, r6, x0, 1, "nil Stepper"},
		{"ok", model, sub, r2, x0, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nat, err := NewNature(tc.model, tc.op, tc.r, tc.x0, tc.stepsPerObs, 1)
			if tc.want == "" {
				if err != nil || nat == nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("expected error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "observations: nature: ") {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
