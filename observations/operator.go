// Package observations holds observation operators H with their Jacobians,
// diagonal observation-error models R, and the innovation tests of quality
// control.
//
// # Observation model
//
// Observations y ∈ ℝ^p of a state x ∈ ℝ^n are modelled as
//
//	y = H(x) + ε,   ε ~ N(0, R),
//
// where H: ℝ^n → ℝ^p is an [Operator] and R is the p×p observation-error
// covariance. Only diagonal R is provided ([DiagR], built by [NewScalarR]):
// observation errors are independent with variances R_ii = σ_i².
//
// Every Operator also provides its Jacobian
//
//	H_ij = ∂H_i/∂x_j   (p × n).
//
// For a linear operator H(x) = H x and the Jacobian is constant; [Linear]
// reports whether an operator declares itself linear. The ensemble filters
// of latentda apply H to each member and need neither.
//
// # Operators
//
//   - [Identity]: H(x) = x.
//   - [Subset] (from [NewSubset] or [NewEveryKth]): y_i = x_{k_i}, a
//     selection of state components.
//   - [Square]: y_i = x_{k_i}², nonlinear.
//   - [Abs]: y_i = |x_{k_i}|, nonlinear and not invertible in sign: x and −x
//     produce the same observation, the classic sign-ambiguity test case for
//     non-Gaussian posteriors.
//
// Apply and Jacobian never allocate; they panic (with a message) only on
// programmer errors such as buffers of the wrong size. Constructors validate
// their input and return errors naming the bad value.
//
// # Quality control
//
// [InnovationQC] scores one cycle's observations against the forecast
// ensemble (outlier scores and the normalised innovation squared), and
// [ChiSquareThreshold] and [EmpiricalThreshold] give the thresholds the
// experiment's quality-control policy compares them with.
package observations

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Operator is an observation operator y = H(x).
//
// Implementations must be safe for concurrent use by multiple goroutines
// (all operators in this package are immutable after construction).
type Operator interface {
	// Name is a short identifier such as "identity" or "every-2".
	Name() string
	// InDim is the state dimension, OutDim the number of observations.
	InDim() int
	OutDim() int
	// Apply writes H(x) into dst (len OutDim) without allocating.
	// len(x) must be InDim.
	Apply(dst, x []float64)
	// Jacobian writes dH/dx at x into dst (OutDim × InDim). It overwrites
	// every element of dst (entries that are structurally zero are set to
	// zero) and does not allocate.
	Jacobian(dst *mat.Dense, x []float64)
	// Positions gives, for each observation, its location on the model
	// grid in grid-index units (used by localisation). The returned slice
	// has length OutDim and is owned by the operator: callers must not
	// modify it.
	Positions() []float64
}

// LinearityReporter is an optional interface for an [Operator] to declare
// that it is linear, H(x) = H x, so that its Jacobian does not depend on x
// and can be computed once. All operators in this package implement it.
type LinearityReporter interface {
	IsLinear() bool
}

// Linear reports whether op is linear. Operators that do not implement
// [LinearityReporter] are conservatively assumed to be nonlinear.
func Linear(op Operator) bool {
	l, ok := op.(LinearityReporter)
	return ok && l.IsLinear()
}

// validateN returns an error unless the state dimension n is positive.
func validateN(name string, n int) error {
	if n <= 0 {
		return fmt.Errorf("observations: %s: state dimension n = %d, must be > 0", name, n)
	}
	return nil
}

// validateIndices checks that indices is non-empty, in [0,n) and free of
// duplicates.
func validateIndices(name string, n int, indices []int) error {
	if len(indices) == 0 {
		return fmt.Errorf("observations: %s: empty index list", name)
	}
	seen := make(map[int]int, len(indices))
	for i, k := range indices {
		if k < 0 || k >= n {
			return fmt.Errorf("observations: %s: index %d out of range [0,%d)", name, k, n)
		}
		if j, dup := seen[k]; dup {
			return fmt.Errorf("observations: %s: duplicate index %d (positions %d and %d)", name, k, j, i)
		}
		seen[k] = i
	}
	return nil
}

// sites is the index bookkeeping shared by the operators that observe a
// subset of the state components.
type sites struct {
	n   int
	idx []int
	pos []float64
}

func newSites(name string, n int, indices []int) (sites, error) {
	if err := validateN(name, n); err != nil {
		return sites{}, err
	}
	if err := validateIndices(name, n, indices); err != nil {
		return sites{}, err
	}
	s := sites{n: n, idx: make([]int, len(indices)), pos: make([]float64, len(indices))}
	copy(s.idx, indices)
	for i, k := range indices {
		s.pos[i] = float64(k)
	}
	return s, nil
}

func (s *sites) indices() []int {
	out := make([]int, len(s.idx))
	copy(out, s.idx)
	return out
}

func checkApply(name string, inDim, outDim int, dst, x []float64) {
	if len(dst) != outDim {
		panic(fmt.Sprintf("observations: %s: Apply: len(dst) = %d, want OutDim = %d", name, len(dst), outDim))
	}
	if len(x) != inDim {
		panic(fmt.Sprintf("observations: %s: Apply: len(x) = %d, want InDim = %d", name, len(x), inDim))
	}
}

// checkJacobian panics unless dst is outDim × inDim and, when needX is set,
// len(x) == inDim. For linear operators (needX false) x is not read and
// may be nil; a non-nil x of the wrong length is still reported.
func checkJacobian(name string, inDim, outDim int, dst *mat.Dense, x []float64, needX bool) {
	if dst == nil {
		panic(fmt.Sprintf("observations: %s: Jacobian: nil dst", name))
	}
	if r, c := dst.Dims(); r != outDim || c != inDim {
		panic(fmt.Sprintf("observations: %s: Jacobian: dst is %d×%d, want %d×%d", name, r, c, outDim, inDim))
	}
	if (needX || x != nil) && len(x) != inDim {
		panic(fmt.Sprintf("observations: %s: Jacobian: len(x) = %d, want InDim = %d", name, len(x), inDim))
	}
}

// PeriodicDistance is the distance between positions a and b on a circle
// of length period: the distance between grid points, or a grid point and
// an observation's position, on a periodic domain of period points.
func PeriodicDistance(a, b, period float64) float64 {
	d := math.Mod(math.Abs(a-b), period)
	return math.Min(d, period-d)
}
