package observations

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Compile-time interface checks.
var (
	_ Operator          = (*Identity)(nil)
	_ Operator          = (*Subset)(nil)
	_ Operator          = (*Square)(nil)
	_ Operator          = (*Abs)(nil)
	_ LinearityReporter = (*Identity)(nil)
	_ LinearityReporter = (*Subset)(nil)
	_ LinearityReporter = (*Square)(nil)
	_ LinearityReporter = (*Abs)(nil)
)

// Identity observes the full state: H(x) = x, Jacobian I_n.
type Identity struct {
	n   int
	pos []float64
}

// NewIdentity returns the identity operator on ℝ^n. n must be positive.
func NewIdentity(n int) (*Identity, error) {
	if err := validateN("identity", n); err != nil {
		return nil, err
	}
	pos := make([]float64, n)
	for i := range pos {
		pos[i] = float64(i)
	}
	return &Identity{n: n, pos: pos}, nil
}

// Name returns "identity".
func (op *Identity) Name() string { return "identity" }

// InDim returns n.
func (op *Identity) InDim() int { return op.n }

// OutDim returns n.
func (op *Identity) OutDim() int { return op.n }

// IsLinear returns true.
func (op *Identity) IsLinear() bool { return true }

// Positions returns 0, 1, …, n−1. The slice must not be modified.
func (op *Identity) Positions() []float64 { return op.pos }

// Apply copies x into dst.
func (op *Identity) Apply(dst, x []float64) {
	checkApply("identity", op.n, op.n, dst, x)
	copy(dst, x)
}

// Jacobian writes the n×n identity into dst. x is not read and may be nil.
func (op *Identity) Jacobian(dst *mat.Dense, x []float64) {
	checkJacobian("identity", op.n, op.n, dst, x, false)
	dst.Zero()
	for i := 0; i < op.n; i++ {
		dst.Set(i, i, 1)
	}
}

// Subset observes selected state components: y_i = x_{k_i} for the index
// list k. Its Jacobian is the selection matrix with H_{i,k_i} = 1 and zeros
// elsewhere.
type Subset struct {
	name string
	s    sites
}

// NewSubset returns the operator y_i = x_{indices[i]} on ℝ^n. indices must
// be non-empty, unique and in [0,n); they are copied, and their order is the
// order of the observations (it need not be sorted).
func NewSubset(n int, indices []int) (*Subset, error) {
	s, err := newSites("subset", n, indices)
	if err != nil {
		return nil, err
	}
	return &Subset{name: "subset", s: s}, nil
}

// NewEveryKth returns the [Subset] operator observing x[offset],
// x[offset+k], x[offset+2k], … (all such indices below n), i.e.
// ⌈(n−offset)/k⌉ observations. It requires n > 0, k ≥ 1 and
// 0 ≤ offset < n. Its Name is "every-k" (e.g. "every-2"), or
// "every-k+offset" when offset ≠ 0 (e.g. "every-3+1").
func NewEveryKth(n, k, offset int) (*Subset, error) {
	const name = "every-kth"
	if err := validateN(name, n); err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, fmt.Errorf("observations: %s: stride k = %d, must be >= 1", name, k)
	}
	if offset < 0 || offset >= n {
		return nil, fmt.Errorf("observations: %s: offset %d out of range [0,%d)", name, offset, n)
	}
	indices := make([]int, 0, (n-offset+k-1)/k)
	for i := offset; i < n; i += k {
		indices = append(indices, i)
	}
	s, err := newSites(name, n, indices)
	if err != nil {
		return nil, err // unreachable: indices are valid by construction
	}
	full := fmt.Sprintf("every-%d", k)
	if offset != 0 {
		full = fmt.Sprintf("every-%d+%d", k, offset)
	}
	return &Subset{name: full, s: s}, nil
}

// Name returns "subset", or "every-k[+offset]" for operators built by
// [NewEveryKth].
func (op *Subset) Name() string { return op.name }

// InDim returns the state dimension n.
func (op *Subset) InDim() int { return op.s.n }

// OutDim returns the number of observed components.
func (op *Subset) OutDim() int { return len(op.s.idx) }

// IsLinear returns true.
func (op *Subset) IsLinear() bool { return true }

// Positions returns the observed indices as float64. The slice must not be
// modified.
func (op *Subset) Positions() []float64 { return op.s.pos }

// Indices returns a copy of the observed state indices.
func (op *Subset) Indices() []int { return op.s.indices() }

// Apply writes dst[i] = x[k_i].
func (op *Subset) Apply(dst, x []float64) {
	checkApply(op.name, op.s.n, len(op.s.idx), dst, x)
	for i, k := range op.s.idx {
		dst[i] = x[k]
	}
}

// Jacobian writes the selection matrix into dst. x is not read and may be
// nil.
func (op *Subset) Jacobian(dst *mat.Dense, x []float64) {
	checkJacobian(op.name, op.s.n, len(op.s.idx), dst, x, false)
	dst.Zero()
	for i, k := range op.s.idx {
		dst.Set(i, k, 1)
	}
}

// Square observes squared state components: y_i = x_{k_i}². Its Jacobian
// has H_{i,k_i} = 2 x_{k_i} and zeros elsewhere.
type Square struct {
	s sites
}

// NewSquare returns the operator y_i = x_{indices[i]}² on ℝ^n. indices must
// be non-empty, unique and in [0,n); they are copied.
func NewSquare(n int, indices []int) (*Square, error) {
	s, err := newSites("square", n, indices)
	if err != nil {
		return nil, err
	}
	return &Square{s: s}, nil
}

// Name returns "square".
func (op *Square) Name() string { return "square" }

// InDim returns the state dimension n.
func (op *Square) InDim() int { return op.s.n }

// OutDim returns the number of observed components.
func (op *Square) OutDim() int { return len(op.s.idx) }

// IsLinear returns false.
func (op *Square) IsLinear() bool { return false }

// Positions returns the observed indices as float64. The slice must not be
// modified.
func (op *Square) Positions() []float64 { return op.s.pos }

// Indices returns a copy of the observed state indices.
func (op *Square) Indices() []int { return op.s.indices() }

// Apply writes dst[i] = x[k_i]².
func (op *Square) Apply(dst, x []float64) {
	checkApply("square", op.s.n, len(op.s.idx), dst, x)
	for i, k := range op.s.idx {
		dst[i] = x[k] * x[k]
	}
}

// Jacobian writes ∂y_i/∂x_j = 2 x_{k_i} δ_{j,k_i} into dst.
func (op *Square) Jacobian(dst *mat.Dense, x []float64) {
	checkJacobian("square", op.s.n, len(op.s.idx), dst, x, true)
	dst.Zero()
	for i, k := range op.s.idx {
		dst.Set(i, k, 2*x[k])
	}
}

// Abs observes absolute values of state components: y_i = |x_{k_i}|. The
// sign of the observed component is unobservable, so the posterior given y
// is symmetric under x_{k_i} → −x_{k_i} (bimodal for a broad prior).
//
// The Jacobian is H_{i,k_i} = sign(x_{k_i}), using the convention
// sign(0) = 0 at the kink (which is also what a central difference gives
// there).
type Abs struct {
	s sites
}

// NewAbs returns the operator y_i = |x_{indices[i]}| on ℝ^n. indices must
// be non-empty, unique and in [0,n); they are copied.
func NewAbs(n int, indices []int) (*Abs, error) {
	s, err := newSites("abs", n, indices)
	if err != nil {
		return nil, err
	}
	return &Abs{s: s}, nil
}

// Name returns "abs".
func (op *Abs) Name() string { return "abs" }

// InDim returns the state dimension n.
func (op *Abs) InDim() int { return op.s.n }

// OutDim returns the number of observed components.
func (op *Abs) OutDim() int { return len(op.s.idx) }

// IsLinear returns false.
func (op *Abs) IsLinear() bool { return false }

// Positions returns the observed indices as float64. The slice must not be
// modified.
func (op *Abs) Positions() []float64 { return op.s.pos }

// Indices returns a copy of the observed state indices.
func (op *Abs) Indices() []int { return op.s.indices() }

// Apply writes dst[i] = |x[k_i]|.
func (op *Abs) Apply(dst, x []float64) {
	checkApply("abs", op.s.n, len(op.s.idx), dst, x)
	for i, k := range op.s.idx {
		dst[i] = math.Abs(x[k])
	}
}

// Jacobian writes ∂y_i/∂x_j = sign(x_{k_i}) δ_{j,k_i} into dst, with
// sign(0) = 0 (and sign(NaN) = NaN).
func (op *Abs) Jacobian(dst *mat.Dense, x []float64) {
	checkJacobian("abs", op.s.n, len(op.s.idx), dst, x, true)
	dst.Zero()
	for i, k := range op.s.idx {
		dst.Set(i, k, sign(x[k]))
	}
}

// sign returns −1, 0 or +1 according to the sign of v, and NaN for NaN.
func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	case v == 0:
		return 0
	default:
		return v // NaN
	}
}
