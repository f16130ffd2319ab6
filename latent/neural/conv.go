package neural

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/internal/check"
)

// circConv is the circular (periodic) 1-D convolution op with cin input
// and cout output channels, kernel width k (odd) and stride s, between a
// long grid of length long = s·short and a short one, samples stored
// channel by channel. With h = k/2 and the index map
//
//	ι(t, j) = (s t + j − h) mod long,   t < short, j < k,
//
// the convolution maps long → short,
//
//	pre[o][t] = b[o] + Σ_c Σ_j W[o][c][j] a[c][ι(t, j)],   W cout × cin × k,
//
// and the transposed convolution maps short → long, as the adjoint of a
// convolution plus a bias,
//
//	pre[o][ι(t, j)] += Σ_c W[c][o][j] a[c][t],   pre[o][·] starting at b[o],   W cin × cout × k,
//
// the layouts of torch.nn.Conv1d and ConvTranspose1d weights. Both commute
// with circular shifts by multiples of s on the long grid (one step on the
// short grid).
type circConv struct {
	cin, cout   int
	short, long int
	k, stride   int
	transposed  bool
	idx         []int // k × short, ι(t, j) at j*short + t
}

func newCircConv(cin, cout, long, k, stride int, transposed bool) circConv {
	o := circConv{cin: cin, cout: cout, short: long / stride, long: long, k: k, stride: stride, transposed: transposed}
	o.idx = make([]int, k*o.short)
	for j := 0; j < k; j++ {
		for t := 0; t < o.short; t++ {
			o.idx[j*o.short+t] = ((stride*t+j-k/2)%long + long) % long
		}
	}
	return o
}

func (o circConv) sizes() (int, int) {
	if o.transposed {
		return o.cin * o.short, o.cout * o.long
	}
	return o.cin * o.long, o.cout * o.short
}

func (o circConv) params() (int, int) { return o.cin * o.cout * o.k, o.cout }

func (o circConv) fans() (float64, float64) { return float64(o.cin * o.k), float64(o.cout * o.k) }

// gather sets y[t] += w x[ι(t)], scatter x[ι(t)] += w y[t], and dot
// returns Σ_t y[t] x[ι(t)], with ι one row of the index map.
func gather(y, x []float64, w float64, ix []int) {
	y = y[:len(ix)]
	for t, j := range ix {
		y[t] += w * x[j]
	}
}

func scatter(x, y []float64, w float64, ix []int) {
	y = y[:len(ix)]
	for t, j := range ix {
		x[j] += w * y[t]
	}
}

func dotIdx(y, x []float64, ix []int) float64 {
	y = y[:len(ix)]
	var s float64
	for t, j := range ix {
		s += y[t] * x[j]
	}
	return s
}

// pairs calls f(s, l, wi) for every channel pair of one sample: s the
// channel's values on the short grid, l those on the long grid and wi the
// offset of their k weights.
func (o circConv) pairs(shortArr, longArr []float64, f func(s, l []float64, wi int)) {
	S, L := o.short, o.long
	for c := 0; c < o.cin; c++ {
		for oc := 0; oc < o.cout; oc++ {
			var s, l []float64
			var wi int
			if o.transposed { // input short (c), output long (oc), W[c][oc]
				s, l, wi = shortArr[c*S:(c+1)*S], longArr[oc*L:(oc+1)*L], (c*o.cout+oc)*o.k
			} else { // input long (c), output short (oc), W[oc][c]
				s, l, wi = shortArr[oc*S:(oc+1)*S], longArr[c*L:(c+1)*L], (oc*o.cin+c)*o.k
			}
			f(s, l, wi)
		}
	}
}

// split returns the short- and long-grid arrays of sample i among a and
// pre (input and output).
func (o circConv) split(a, pre []float64, i int) (short, long []float64) {
	in, out := o.sizes()
	a, pre = a[i*in:(i+1)*in], pre[i*out:(i+1)*out]
	if o.transposed {
		return a, pre
	}
	return pre, a
}

func (o circConv) forward(pre, a, w, b []float64, r int) {
	_, out := o.sizes()
	n := out / o.cout
	for i := 0; i < r; i++ {
		p := pre[i*out : (i+1)*out]
		for oc, v := range b[:o.cout] {
			row := p[oc*n : (oc+1)*n]
			for t := range row {
				row[t] = v
			}
		}
		sh, lg := o.split(a, pre, i)
		o.pairs(sh, lg, func(s, l []float64, wi int) {
			for j, wj := range w[wi : wi+o.k] {
				ix := o.idx[j*o.short : (j+1)*o.short]
				if o.transposed {
					scatter(l, s, wj, ix)
				} else {
					gather(s, l, wj, ix)
				}
			}
		})
	}
}

func (o circConv) grads(gw, gb, delta, a []float64, r int) {
	clear(gw)
	clear(gb)
	_, out := o.sizes()
	n := out / o.cout
	for i := 0; i < r; i++ {
		dl := delta[i*out : (i+1)*out]
		for oc := range gb {
			for _, v := range dl[oc*n : (oc+1)*n] {
				gb[oc] += v
			}
		}
		sh, lg := o.split(a, delta, i)
		o.pairs(sh, lg, func(s, l []float64, wi int) {
			for j := range o.k {
				gw[wi+j] += dotIdx(s, l, o.idx[j*o.short:(j+1)*o.short])
			}
		})
	}
}

func (o circConv) backData(da, delta, w []float64, r int) {
	in, _ := o.sizes()
	clear(da[:r*in])
	for i := 0; i < r; i++ {
		sh, lg := o.split(da, delta, i)
		o.pairs(sh, lg, func(s, l []float64, wi int) {
			for j, wj := range w[wi : wi+o.k] {
				ix := o.idx[j*o.short : (j+1)*o.short]
				if o.transposed { // da short ← δ long
					gather(s, l, wj, ix)
				} else { // da long ← δ short
					scatter(l, s, wj, ix)
				}
			}
		})
	}
}

// ConvSpec is the architecture of a circular-convolution autoencoder on a
// periodic 1-D grid of n points; see ConvAutoencoder.
type ConvSpec struct {
	// Channels are the widths C₁ … C_S of the S convolution stages.
	Channels []int `json:"channels"`
	// Strides s₁ … s_S of the stages; their product must divide n.
	Strides []int `json:"strides"`
	// Kernel is the odd kernel width k of every convolution.
	Kernel int `json:"kernel"`
}

// Validate reports whether the spec fits a grid of n points.
func (s ConvSpec) Validate(n int) error {
	switch {
	case len(s.Channels) == 0:
		return errors.New("no convolution stages")
	case len(s.Strides) != len(s.Channels):
		return fmt.Errorf("%d strides for %d stages", len(s.Strides), len(s.Channels))
	case s.Kernel < 1 || s.Kernel%2 == 0:
		return fmt.Errorf("kernel width must be odd and ≥ 1, got %d", s.Kernel)
	}
	L := n
	for i, c := range s.Channels {
		st := s.Strides[i]
		if c < 1 || st < 1 {
			return fmt.Errorf("stage %d has %d channels and stride %d, want ≥ 1", i, c, st)
		}
		if L%st != 0 {
			return fmt.Errorf("stage %d: stride %d does not divide the grid length %d", i, st, L)
		}
		L /= st
	}
	return nil
}

// convShape returns the network of the autoencoder of spec on n points with
// code dimension d: S circular convolutions (1 → C₁ → … → C_S channels,
// strides s_i) and a dense layer to d in the encoder; a dense layer from d
// and the transposed convolutions back (C_S → … → C₁ → 1) in the decoder.
func convShape(n int, spec ConvSpec, d int, act Activation) netShape {
	var enc, dec []op
	L, cin := n, 1
	for i, c := range spec.Channels {
		conv := newCircConv(cin, c, L, spec.Kernel, spec.Strides[i], false)
		enc = append(enc, conv)
		dec = append(dec, newCircConv(c, cin, L, spec.Kernel, spec.Strides[i], true))
		L, cin = conv.short, c
	}
	enc = append(enc, dense{in: cin * L, out: d})
	dec = append(dec, dense{in: d, out: cin * L})
	slices.Reverse(dec)
	return chainShape(append(enc, dec...), len(enc), act)
}

// ConvParams are the parameters of a convolutional autoencoder, for
// storage. Params holds the layers in order (encoder then decoder), each as
// its weights (torch layouts, see ConvAutoencoder) followed by its biases.
type ConvParams struct {
	StateDim   int           `json:"state_dim"`
	Latent     int           `json:"latent"`
	Spec       ConvSpec      `json:"spec"`
	Activation Activation    `json:"activation"`
	Params     []float64     `json:"params"`
	Norm       Normalization `json:"norm"`
}

// ConvAutoencoder is the generator of a circular-convolution autoencoder
// for a periodic 1-D grid of n points. With u = (x − μ)/σ the normalised
// state (see [Normalization]) seen as one channel of n points, the encoder
// applies S stages u ↦ φ(conv_i(u)), circular convolutions of stride s_i
// from C_{i−1} to C_i channels (C₀ = 1), and a linear dense layer from the
// C_S × n/(s₁⋯s_S) features to the code z ∈ ℝᵈ; the decoder applies a dense
// layer from z to those features with φ, then the transposed convolutions
// back to one channel of n points, with φ after every one but the last
// (linear), and maps u back to x = μ + σ ⊙ u.
//
// Convolution weights use the layout of torch.nn.Conv1d (out × in × k) and
// transposed ones that of ConvTranspose1d (in × out × k), with circular
// padding of k/2 on both sides (for stride s > 1 the output point t sits
// at input point s t). The convolution stages commute with circular shifts
// of the grid by multiples of s₁⋯s_S; the dense bottleneck, which gives an
// arbitrary d, and a non-uniform normalisation do not.
//
// The Jacobian is exact, by forward-mode differentiation of the decoder.
// A ConvAutoencoder owns scratch space and is not safe for concurrent use;
// use Clone for another goroutine.
type ConvAutoencoder struct {
	p         ConvParams // read-only, shared by clones
	shape     netShape
	mean, std []float64

	// scratch
	ws           *workspace // one sample
	u            []float64  // n
	zero         []float64  // the largest bias length
	t0, t1, ones []float64  // d × widest layer
}

// NewConvAutoencoder returns the convolutional autoencoder with parameters
// p: StateDim n ≥ 1, Latent d ≥ 1, a Spec valid for n, a known activation,
// len(Params) the network's size with finite values, and a normalisation
// that is empty (the identity) or of length n with finite means and
// standard deviations > 0. The parameters are copied.
func NewConvAutoencoder(p ConvParams) (*ConvAutoencoder, error) {
	if p.StateDim < 1 || p.Latent < 1 {
		return nil, fmt.Errorf("neural: NewConvAutoencoder: need state_dim and latent ≥ 1, got %d and %d", p.StateDim, p.Latent)
	}
	if err := p.Spec.Validate(p.StateDim); err != nil {
		return nil, fmt.Errorf("neural: NewConvAutoencoder: %w", err)
	}
	if err := p.Activation.check(); err != nil {
		return nil, fmt.Errorf("neural: NewConvAutoencoder: %w", err)
	}
	shape := convShape(p.StateDim, p.Spec, p.Latent, p.Activation)
	if len(p.Params) != shape.size || !check.Finite(p.Params) {
		return nil, fmt.Errorf("neural: NewConvAutoencoder: need %d finite parameters, got %d", shape.size, len(p.Params))
	}
	n := p.StateDim
	g := &ConvAutoencoder{shape: shape, mean: make([]float64, n), std: make([]float64, n)}
	for i := range g.std {
		g.std[i] = 1
	}
	if len(p.Norm.Mean) != 0 || len(p.Norm.Std) != 0 {
		if len(p.Norm.Mean) != n || len(p.Norm.Std) != n || !check.Finite(p.Norm.Mean) || !check.Finite(p.Norm.Std) ||
			slices.ContainsFunc(p.Norm.Std, func(s float64) bool { return !(s > 0) }) {
			return nil, fmt.Errorf("neural: NewConvAutoencoder: normalisation must have %d finite means and stds > 0", n)
		}
		copy(g.mean, p.Norm.Mean)
		copy(g.std, p.Norm.Std)
	}
	g.p = ConvParams{StateDim: n, Latent: p.Latent, Activation: p.Activation, Params: slices.Clone(p.Params),
		Spec: ConvSpec{Channels: slices.Clone(p.Spec.Channels), Strides: slices.Clone(p.Spec.Strides), Kernel: p.Spec.Kernel},
		Norm: Normalization{Mean: g.mean, Std: g.std}}
	g.allocScratch()
	return g, nil
}

func (g *ConvAutoencoder) allocScratch() {
	g.ws = newWorkspace(&g.shape, 1)
	g.u = make([]float64, g.p.StateDim)
	nb := 0
	for _, o := range g.shape.ops {
		_, b := o.params()
		nb = max(nb, b)
	}
	g.zero = make([]float64, nb)
	w := g.p.Latent * g.shape.maxWidth()
	g.t0, g.t1, g.ones = make([]float64, w), make([]float64, w), make([]float64, g.shape.maxWidth())
}

// Params returns a copy of the parameters of g.
func (g *ConvAutoencoder) Params() ConvParams {
	p := g.p
	p.Params = slices.Clone(p.Params)
	p.Spec.Channels, p.Spec.Strides = slices.Clone(p.Spec.Channels), slices.Clone(p.Spec.Strides)
	p.Norm = Normalization{Mean: slices.Clone(g.mean), Std: slices.Clone(g.std)}
	return p
}

// Name returns "conv".
func (g *ConvAutoencoder) Name() string { return "conv" }

// LatentDim returns d.
func (g *ConvAutoencoder) LatentDim() int { return g.p.Latent }

// StateDim returns n.
func (g *ConvAutoencoder) StateDim() int { return g.p.StateDim }

// Clone returns an autoencoder sharing the parameters of g with its own
// scratch space.
func (g *ConvAutoencoder) Clone() latent.Generator {
	c := &ConvAutoencoder{p: g.p, shape: g.shape, mean: g.mean, std: g.std}
	c.allocScratch()
	return c
}

// Decode sets x = G(z).
func (g *ConvAutoencoder) Decode(x, z []float64) {
	check.Len("neural: Decode", "x", x, g.p.StateDim)
	check.Len("neural: Decode", "z", z, g.p.Latent)
	u := g.shape.forwardRange(g.ws, g.p.Params, z, 1, g.shape.nEnc, g.shape.layers())
	for i, v := range u {
		x[i] = g.mean[i] + g.std[i]*v
	}
}

// Encode sets z = E(x).
func (g *ConvAutoencoder) Encode(z, x []float64) {
	check.Len("neural: Encode", "z", z, g.p.Latent)
	check.Len("neural: Encode", "x", x, g.p.StateDim)
	for i, v := range x {
		g.u[i] = (v - g.mean[i]) / g.std[i]
	}
	copy(z, g.shape.forwardRange(g.ws, g.p.Params, g.u, 1, 0, g.shape.nEnc))
}

// Jacobian sets J = ∂G/∂z at z by forward-mode differentiation: the d
// tangents e_k go through the decoder's linear maps (without biases) and
// are scaled by φ' at z after each layer, J = diag(σ) T_L.
func (g *ConvAutoencoder) Jacobian(J *mat.Dense, z []float64) {
	check.Len("neural: Jacobian", "z", z, g.p.Latent)
	n, d := g.p.StateDim, g.p.Latent
	raw := check.JacobianDst("neural: Jacobian", J, n, d)
	s := &g.shape
	s.forwardRange(g.ws, g.p.Params, z, 1, s.nEnc, s.layers())
	t, other := g.t0[:d*d], g.t1
	clear(t)
	for k := 0; k < d; k++ {
		t[k*d+k] = 1
	}
	for l := s.nEnc; l < s.layers(); l++ {
		no := s.dims[l+1]
		_, nb := s.ops[l].params()
		tt := other[:d*no]
		s.ops[l].forward(tt, t, s.w(g.p.Params, l), g.zero[:nb], d)
		if s.acts[l] != Linear {
			dv := g.ones[:no]
			for i := range dv {
				dv[i] = 1
			}
			s.acts[l].mulDeriv(dv, g.ws.pre[l][:no], g.ws.post[l][:no])
			for k := 0; k < d; k++ {
				row := tt[k*no : (k+1)*no]
				for i, v := range dv {
					row[i] *= v
				}
			}
		}
		t, other = tt, t[:cap(t)]
	}
	for i := 0; i < n; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+d]
		for k := range row {
			row[k] = g.std[i] * t[k*n+i]
		}
	}
}

// TrainConvAutoencoder trains the convolutional autoencoder of spec with
// the options of TrainAutoencoder (opts.Hidden must be empty; Latent and
// Activation apply as for the MLP), with the same loss, optimiser,
// schedule, early stopping, determinism and checkpoints; see
// TrainAutoencoder. The data's n columns are one periodic grid.
func TrainConvAutoencoder(ctx context.Context, train, valid *mat.Dense, spec ConvSpec, opts AEOptions) (*ConvTrainResult, error) {
	if len(opts.Hidden) != 0 {
		return nil, errors.New("neural: TrainConvAutoencoder: Hidden is for the MLP; leave it empty")
	}
	t, err := newNetTrainer(train, valid, opts, &spec)
	if err != nil {
		return nil, err
	}
	err = t.run(ctx)
	if t.epoch == 0 {
		return nil, err
	}
	model, merr := NewConvAutoencoder(ConvParams{StateDim: t.n, Latent: t.opts.Latent, Spec: spec, Activation: t.opts.Activation,
		Params: t.best, Norm: Normalization{Mean: t.mean, Std: t.std}})
	if merr != nil {
		// The best parameters have a finite loss, so they are finite.
		panic("neural: internal error: " + merr.Error())
	}
	return &ConvTrainResult{Model: model, TrainRecord: t.record()}, err
}

// ConvTrainResult is the outcome of TrainConvAutoencoder.
type ConvTrainResult struct {
	Model *ConvAutoencoder // with the weights of BestEpoch
	TrainRecord
}

// ConvModel returns the convolutional autoencoder with the best parameters
// of a checkpoint written by TrainConvAutoencoder.
func (c *Checkpoint) ConvModel() (*ConvAutoencoder, error) {
	if c.Conv == nil {
		return nil, errors.New("neural: Checkpoint.ConvModel: not a convolutional autoencoder's checkpoint")
	}
	g, err := NewConvAutoencoder(ConvParams{StateDim: c.StateDim, Latent: c.Latent, Spec: *c.Conv, Activation: c.Activation,
		Params: c.BestParams, Norm: Normalization{Mean: c.Mean, Std: c.Std}})
	if err != nil {
		return nil, fmt.Errorf("neural: Checkpoint.ConvModel: %w", err)
	}
	return g, nil
}
