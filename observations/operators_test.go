package observations

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// mustPanic runs f and fails unless it panics with a message that mentions
// the package prefix and want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("expected panic containing %q, got none", want)
		}
		msg, ok := r.(string)
		if !ok {
			t.Fatalf("panic value %#v is not a string", r)
		}
		if !strings.Contains(msg, "observations:") || !strings.Contains(msg, want) {
			t.Fatalf("panic %q does not contain %q", msg, want)
		}
	}()
	f()
}

func TestOperatorsApplyPositions(t *testing.T) {
	x := []float64{-2, -0.5, 0, 1.5, 3, -4, 2.5}
	tests := []struct {
		name       string
		build      func() (Operator, error)
		wantName   string
		wantLinear bool
		wantY      []float64
		wantPos    []float64
	}{
		{
			name:       "identity",
			build:      func() (Operator, error) { return NewIdentity(7) },
			wantName:   "identity",
			wantLinear: true,
			wantY:      []float64{-2, -0.5, 0, 1.5, 3, -4, 2.5},
			wantPos:    []float64{0, 1, 2, 3, 4, 5, 6},
		},
		{
			name:       "subset unsorted",
			build:      func() (Operator, error) { return NewSubset(7, []int{5, 0, 3}) },
			wantName:   "subset",
			wantLinear: true,
			wantY:      []float64{-4, -2, 1.5},
			wantPos:    []float64{5, 0, 3},
		},
		{
			name:       "every-2",
			build:      func() (Operator, error) { return NewEveryKth(7, 2, 0) },
			wantName:   "every-2",
			wantLinear: true,
			wantY:      []float64{-2, 0, 3, 2.5},
			wantPos:    []float64{0, 2, 4, 6},
		},
		{
			name:       "every-3 offset 1",
			build:      func() (Operator, error) { return NewEveryKth(7, 3, 1) },
			wantName:   "every-3+1",
			wantLinear: true,
			wantY:      []float64{-0.5, 3},
			wantPos:    []float64{1, 4},
		},
		{
			name:       "every-1 is identity selection",
			build:      func() (Operator, error) { return NewEveryKth(3, 1, 0) },
			wantName:   "every-1",
			wantLinear: true,
			wantY:      []float64{-2, -0.5, 0},
			wantPos:    []float64{0, 1, 2},
		},
		{
			name:       "every-k larger than n",
			build:      func() (Operator, error) { return NewEveryKth(7, 10, 6) },
			wantName:   "every-10+6",
			wantLinear: true,
			wantY:      []float64{2.5},
			wantPos:    []float64{6},
		},
		{
			name:       "square",
			build:      func() (Operator, error) { return NewSquare(7, []int{0, 1, 2, 4}) },
			wantName:   "square",
			wantLinear: false,
			wantY:      []float64{4, 0.25, 0, 9},
			wantPos:    []float64{0, 1, 2, 4},
		},
		{
			name:       "abs",
			build:      func() (Operator, error) { return NewAbs(7, []int{5, 2, 3, 1}) },
			wantName:   "abs",
			wantLinear: false,
			wantY:      []float64{4, 0, 1.5, 0.5},
			wantPos:    []float64{5, 2, 3, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, err := tc.build()
			if err != nil {
				t.Fatalf("constructor: %v", err)
			}
			if got := op.Name(); got != tc.wantName {
				t.Errorf("Name = %q, want %q", got, tc.wantName)
			}
			if got := Linear(op); got != tc.wantLinear {
				t.Errorf("Linear = %v, want %v", got, tc.wantLinear)
			}
			xin := x[:op.InDim()]
			if op.OutDim() != len(tc.wantY) {
				t.Fatalf("OutDim = %d, want %d", op.OutDim(), len(tc.wantY))
			}
			y := make([]float64, op.OutDim())
			op.Apply(y, xin)
			if !slices.Equal(y, tc.wantY) {
				t.Errorf("Apply = %v, want %v", y, tc.wantY)
			}
			if got := op.Positions(); !slices.Equal(got, tc.wantPos) {
				t.Errorf("Positions = %v, want %v", got, tc.wantPos)
			}
		})
	}
}

// TestJacobianFiniteDifference compares every Jacobian entry with the
// central difference
//
//	D_ij = (H_i(x + h e_j) − H_i(x − h e_j)) / ((x_j+h) − (x_j−h)),   h = 1e-6,
//
// requiring |D_ij − J_ij| ≤ 1e-6 · max(1, |J_ij|).
//
// Justification: the truncation error of a central difference is
// h²/6 · |∂³H|, and every operator here is piecewise polynomial of degree ≤ 2
// (|x| is linear on each side of 0), so it vanishes provided no component
// observed by Abs lies within h of 0 without being exactly 0 (at exactly 0
// the symmetric difference is 0 = sign(0)). What remains is rounding,
// ≈ ε_mach·|H|/h ≈ 1e-16·10/1e-6 = 1e-9 for |x| ≤ 3. The tolerance sits three
// orders of magnitude above that, and far below the O(1) discrepancy of any
// real bug (wrong index, factor or sign). Dividing by the actually
// represented step (x_j+h) − (x_j−h) removes the representation error of h.
func TestJacobianFiniteDifference(t *testing.T) {
	const (
		n   = 6
		h   = 1e-6
		tol = 1e-6
	)
	points := map[string][]float64{
		"mixed":      {-2, -0.5, 0, 1.5, 3, -1},
		"zeros":      {0, 0, 0, 0, 0, 0},
		"kinks-near": {1e-3, -1e-3, 2, -2, 0.7, -0.3},
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for p := 0; p < 3; p++ {
		x := make([]float64, n)
		for i := range x {
			// Keep |x_i| > 10h so Abs stays away from its kink.
			x[i] = rng.Float64()*4 - 2
			if math.Abs(x[i]) < 10*h {
				x[i] = 1
			}
		}
		points[fmt.Sprintf("random-%d", p)] = x
	}
	ops := map[string]func() (Operator, error){
		"identity": func() (Operator, error) { return NewIdentity(n) },
		"subset":   func() (Operator, error) { return NewSubset(n, []int{4, 1, 5}) },
		"every-kth": func() (Operator, error) {
			return NewEveryKth(n, 2, 1)
		},
		"square": func() (Operator, error) { return NewSquare(n, []int{0, 2, 3, 5}) },
		"abs":    func() (Operator, error) { return NewAbs(n, []int{5, 0, 2, 1}) },
	}
	for _, opName := range slices.Sorted(maps.Keys(ops)) {
		for _, ptName := range slices.Sorted(maps.Keys(points)) {
			t.Run(opName+"/"+ptName, func(t *testing.T) {
				op, err := ops[opName]()
				if err != nil {
					t.Fatal(err)
				}
				x := points[ptName]
				p := op.OutDim()
				jac := mat.NewDense(p, n, nil)
				op.Jacobian(jac, x)

				xp := make([]float64, n)
				xm := make([]float64, n)
				yp := make([]float64, p)
				ym := make([]float64, p)
				for j := 0; j < n; j++ {
					copy(xp, x)
					copy(xm, x)
					xp[j] += h
					xm[j] -= h
					op.Apply(yp, xp)
					op.Apply(ym, xm)
					step := xp[j] - xm[j]
					for i := 0; i < p; i++ {
						fd := (yp[i] - ym[i]) / step
						got := jac.At(i, j)
						if math.Abs(fd-got) > tol*math.Max(1, math.Abs(got)) {
							t.Errorf("J[%d,%d] = %v, central difference %v", i, j, got, fd)
						}
					}
				}
			})
		}
	}
}

func TestJacobianHandValues(t *testing.T) {
	x := []float64{-2, 0, 3, 0.5}
	tests := []struct {
		name  string
		build func() (Operator, error)
		want  []float64 // row-major OutDim × 4
	}{
		{"identity", func() (Operator, error) { return NewIdentity(4) }, []float64{
			1, 0, 0, 0,
			0, 1, 0, 0,
			0, 0, 1, 0,
			0, 0, 0, 1,
		}},
		{"subset", func() (Operator, error) { return NewSubset(4, []int{3, 0}) }, []float64{
			0, 0, 0, 1,
			1, 0, 0, 0,
		}},
		{"every-kth", func() (Operator, error) { return NewEveryKth(4, 2, 1) }, []float64{
			0, 1, 0, 0,
			0, 0, 0, 1,
		}},
		{"square", func() (Operator, error) { return NewSquare(4, []int{0, 1, 2}) }, []float64{
			-4, 0, 0, 0,
			0, 0, 0, 0,
			0, 0, 6, 0,
		}},
		{"abs sign and zero at kink", func() (Operator, error) { return NewAbs(4, []int{0, 1, 3}) }, []float64{
			-1, 0, 0, 0,
			0, 0, 0, 0,
			0, 0, 0, 1,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			// Pre-fill with garbage: Jacobian must overwrite every entry.
			garbage := make([]float64, op.OutDim()*op.InDim())
			for i := range garbage {
				garbage[i] = math.NaN()
			}
			jac := mat.NewDense(op.OutDim(), op.InDim(), garbage)
			op.Jacobian(jac, x)
			want := mat.NewDense(op.OutDim(), op.InDim(), tc.want)
			if !mat.Equal(jac, want) {
				t.Errorf("Jacobian =\n%v\nwant\n%v", mat.Formatted(jac), mat.Formatted(want))
			}
		})
	}
}

// TestJacobianIntoView checks that Jacobian works on a strided sub-matrix
// view and leaves the surrounding entries alone.
func TestJacobianIntoView(t *testing.T) {
	op, err := NewSquare(3, []int{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	big := mat.NewDense(4, 5, nil)
	for i := 0; i < 4; i++ {
		for j := 0; j < 5; j++ {
			big.Set(i, j, 9)
		}
	}
	view := big.Slice(1, 3, 1, 4).(*mat.Dense)
	op.Jacobian(view, []float64{1, 2, 3})
	want := mat.NewDense(4, 5, []float64{
		9, 9, 9, 9, 9,
		9, 0, 0, 6, 9,
		9, 2, 0, 0, 9,
		9, 9, 9, 9, 9,
	})
	if !mat.Equal(big, want) {
		t.Errorf("got\n%v\nwant\n%v", mat.Formatted(big), mat.Formatted(want))
	}
}

func TestOperatorsNoAlloc(t *testing.T) {
	const n = 40
	idx := []int{3, 7, 11, 39}
	id, _ := NewIdentity(n)
	sub, _ := NewSubset(n, idx)
	ek, _ := NewEveryKth(n, 4, 2)
	sq, _ := NewSquare(n, idx)
	ab, _ := NewAbs(n, idx)
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i) - 20
	}
	for _, op := range []Operator{id, sub, ek, sq, ab} {
		t.Run(op.Name(), func(t *testing.T) {
			y := make([]float64, op.OutDim())
			jac := mat.NewDense(op.OutDim(), op.InDim(), nil)
			if a := testing.AllocsPerRun(100, func() { op.Apply(y, x) }); a != 0 {
				t.Errorf("Apply allocates %v times per call", a)
			}
			if a := testing.AllocsPerRun(100, func() { op.Jacobian(jac, x) }); a != 0 {
				t.Errorf("Jacobian allocates %v times per call", a)
			}
		})
	}
}

func TestOperatorsPanicOnBadBuffers(t *testing.T) {
	const n = 5
	id, _ := NewIdentity(n)
	sub, _ := NewSubset(n, []int{1, 3})
	ek, _ := NewEveryKth(n, 2, 0)
	sq, _ := NewSquare(n, []int{1, 3})
	ab, _ := NewAbs(n, []int{1, 3})
	for _, op := range []Operator{id, sub, ek, sq, ab} {
		t.Run(op.Name(), func(t *testing.T) {
			x := make([]float64, n)
			y := make([]float64, op.OutDim())
			mustPanic(t, "len(dst)", func() { op.Apply(y[:len(y)-1], x) })
			mustPanic(t, "len(x)", func() { op.Apply(y, x[:n-1]) })
			mustPanic(t, "dst is", func() { op.Jacobian(mat.NewDense(op.OutDim()+1, n, nil), x) })
			mustPanic(t, "dst is", func() { op.Jacobian(&mat.Dense{}, x) })
			mustPanic(t, "nil dst", func() { op.Jacobian(nil, x) })
			mustPanic(t, "len(x)", func() { op.Jacobian(mat.NewDense(op.OutDim(), n, nil), x[:2]) })
			if Linear(op) {
				// Linear operators do not read x, so nil is fine.
				op.Jacobian(mat.NewDense(op.OutDim(), n, nil), nil)
			} else {
				mustPanic(t, "len(x)", func() { op.Jacobian(mat.NewDense(op.OutDim(), n, nil), nil) })
			}
		})
	}
}

func TestConstructorErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func() (Operator, error)
		want  string // substring of the error message
	}{
		{"identity n=0", func() (Operator, error) { return NewIdentity(0) }, "n = 0"},
		{"identity n<0", func() (Operator, error) { return NewIdentity(-3) }, "n = -3"},
		{"subset n<0", func() (Operator, error) { return NewSubset(-1, []int{0}) }, "n = -1"},
		{"subset out of range high", func() (Operator, error) { return NewSubset(40, []int{0, 41}) }, "observations: subset: index 41 out of range [0,40)"},
		{"subset index == n", func() (Operator, error) { return NewSubset(40, []int{40}) }, "index 40 out of range [0,40)"},
		{"subset negative index", func() (Operator, error) { return NewSubset(10, []int{-1}) }, "index -1 out of range [0,10)"},
		{"subset duplicate", func() (Operator, error) { return NewSubset(10, []int{2, 5, 2}) }, "duplicate index 2"},
		{"subset empty", func() (Operator, error) { return NewSubset(10, []int{}) }, "empty index list"},
		{"subset nil", func() (Operator, error) { return NewSubset(10, nil) }, "empty index list"},
		{"every-kth n=0", func() (Operator, error) { return NewEveryKth(0, 1, 0) }, "n = 0"},
		{"every-kth k=0", func() (Operator, error) { return NewEveryKth(10, 0, 0) }, "k = 0"},
		{"every-kth k<0", func() (Operator, error) { return NewEveryKth(10, -2, 0) }, "k = -2"},
		{"every-kth offset<0", func() (Operator, error) { return NewEveryKth(10, 2, -1) }, "offset -1 out of range [0,10)"},
		{"every-kth offset=n", func() (Operator, error) { return NewEveryKth(10, 2, 10) }, "offset 10 out of range [0,10)"},
		{"square n=0", func() (Operator, error) { return NewSquare(0, []int{0}) }, "n = 0"},
		{"square out of range", func() (Operator, error) { return NewSquare(4, []int{4}) }, "observations: square: index 4 out of range [0,4)"},
		{"square duplicate", func() (Operator, error) { return NewSquare(4, []int{1, 1}) }, "duplicate index 1"},
		{"square empty", func() (Operator, error) { return NewSquare(4, nil) }, "empty index list"},
		{"abs n<0", func() (Operator, error) { return NewAbs(-5, []int{0}) }, "n = -5"},
		{"abs out of range", func() (Operator, error) { return NewAbs(4, []int{0, -7}) }, "observations: abs: index -7 out of range [0,4)"},
		{"abs duplicate", func() (Operator, error) { return NewAbs(4, []int{3, 0, 3}) }, "duplicate index 3"},
		{"abs empty", func() (Operator, error) { return NewAbs(4, []int{}) }, "empty index list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				op  Operator
				err error
			)
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("constructor panicked: %v", r)
					}
				}()
				op, err = tc.build()
			}()
			if err == nil {
				t.Fatalf("expected error containing %q, got operator %v", tc.want, op.Name())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestConstructorsCopyIndices(t *testing.T) {
	idx := []int{4, 1, 2}
	sub, _ := NewSubset(5, idx)
	sq, _ := NewSquare(5, idx)
	ab, _ := NewAbs(5, idx)
	idx[0] = 0 // must not affect the operators
	x := []float64{10, 11, 12, 13, 14}
	y := make([]float64, 3)
	sub.Apply(y, x)
	if want := []float64{14, 11, 12}; !slices.Equal(y, want) {
		t.Errorf("subset after caller mutation: %v, want %v", y, want)
	}
	for name, got := range map[string][]int{"subset": sub.Indices(), "square": sq.Indices(), "abs": ab.Indices()} {
		if want := []int{4, 1, 2}; !slices.Equal(got, want) {
			t.Errorf("%s Indices = %v, want %v", name, got, want)
		}
		got[0] = 99 // Indices returns a copy
	}
	if sub.Indices()[0] != 4 || sq.Indices()[0] != 4 || ab.Indices()[0] != 4 {
		t.Errorf("Indices did not return a copy")
	}
}

func TestLinearDefault(t *testing.T) {
	sub, _ := NewSubset(3, []int{0})
	var op Operator = struct{ Operator }{sub} // hides IsLinear
	if Linear(op) {
		t.Errorf("Linear on an operator without IsLinear = true, want false")
	}
	sq, _ := NewSquare(3, []int{0})
	if !Linear(sub) || Linear(sq) {
		t.Errorf("Linear(subset), Linear(square) = %v, %v; want true, false", Linear(sub), Linear(sq))
	}
}

func TestPeriodicDistance(t *testing.T) {
	for _, tc := range []struct{ a, b, l, want float64 }{
		{0, 1, 40, 1}, {0, 39, 40, 1}, {5, 25, 40, 20}, {38, 2, 40, 4}, {3, 3, 40, 0}, {0.5, 39.5, 40, 1},
	} {
		if got := PeriodicDistance(tc.a, tc.b, tc.l); got != tc.want {
			t.Errorf("PeriodicDistance(%v, %v, %v) = %v, want %v", tc.a, tc.b, tc.l, got, tc.want)
		}
	}
}
