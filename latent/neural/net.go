package neural

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// netShape describes the encoder–decoder chain used in training as one
// network of L layers on a flat parameter vector. Layer l maps a sample of
// dims[l] values to dims[l+1] values by the affine map ops[l] followed by
// the activation acts[l]; its weights start at offs[l] and are followed by
// its biases (see op). The encoder is layers 0…nEnc−1, so dims[0] =
// dims[L] = n and dims[nEnc] = d.
type netShape struct {
	dims []int
	acts []Activation
	ops  []op
	nEnc int
	offs []int
	size int
}

// newShape returns the shape of the autoencoder n → hidden… → d → …hidden
// reversed → n with activation act on the hidden layers and linear outputs,
// all layers fully connected.
func newShape(n int, hidden []int, d int, act Activation) netShape {
	var dims []int
	dims = append(dims, n)
	dims = append(dims, hidden...)
	dims = append(dims, d)
	nEnc := len(hidden) + 1
	for k := len(hidden) - 1; k >= 0; k-- {
		dims = append(dims, hidden[k])
	}
	dims = append(dims, n)
	var ops []op
	for l := 0; l+1 < len(dims); l++ {
		ops = append(ops, dense{in: dims[l], out: dims[l+1]})
	}
	return chainShape(ops, nEnc, act)
}

// chainShape returns the network of the layers ops (which must chain), the
// first nEnc of them the encoder, with activation act on all layers but the
// code layer (nEnc−1) and the output layer, which are linear.
func chainShape(ops []op, nEnc int, act Activation) netShape {
	s := netShape{ops: ops, nEnc: nEnc}
	L := len(ops)
	for l, o := range ops {
		in, out := o.sizes()
		if l == 0 {
			s.dims = append(s.dims, in)
		}
		s.dims = append(s.dims, out)
		a := act
		if l == nEnc-1 || l == L-1 {
			a = Linear
		}
		s.acts = append(s.acts, a)
		s.offs = append(s.offs, s.size)
		nw, nb := o.params()
		s.size += nw + nb
	}
	return s
}

func (s *netShape) layers() int { return len(s.acts) }

// w returns the weights of layer l in the parameter vector p.
func (s *netShape) w(p []float64, l int) []float64 {
	o := s.offs[l]
	nw, _ := s.ops[l].params()
	return p[o : o+nw]
}

// b returns the biases of layer l in the parameter vector p.
func (s *netShape) b(p []float64, l int) []float64 {
	nw, nb := s.ops[l].params()
	o := s.offs[l] + nw
	return p[o : o+nb]
}

// toLayers returns the encoder and decoder layers as views of p.
func (s *netShape) toLayers(p []float64) (enc, dec []Layer) {
	for l := 0; l < s.layers(); l++ {
		ly := Layer{In: s.dims[l], Out: s.dims[l+1], W: s.w(p, l), B: s.b(p, l), Activation: s.acts[l]}
		if l < s.nEnc {
			enc = append(enc, ly)
		} else {
			dec = append(dec, ly)
		}
	}
	return enc, dec
}

// maxWidth returns the largest layer width.
func (s *netShape) maxWidth() int {
	w := 0
	for _, v := range s.dims {
		w = max(w, v)
	}
	return w
}

// workspace is the scratch of one worker for shards of up to rows samples.
type workspace struct {
	x         []float64   // rows × n, the gathered (normalised) inputs
	pre, post [][]float64 // per layer, rows × dims[l+1]; post aliases pre for linear layers
	d0, d1    []float64   // rows × maxWidth, back-propagated errors
}

func newWorkspace(s *netShape, rows int) *workspace {
	ws := &workspace{x: make([]float64, rows*s.dims[0])}
	for l := 0; l < s.layers(); l++ {
		p := make([]float64, rows*s.dims[l+1])
		ws.pre = append(ws.pre, p)
		if s.acts[l] == Linear {
			ws.post = append(ws.post, p)
		} else {
			ws.post = append(ws.post, make([]float64, rows*s.dims[l+1]))
		}
	}
	ws.d0 = make([]float64, rows*s.maxWidth())
	ws.d1 = make([]float64, rows*s.maxWidth())
	return ws
}

func general(r, c int, data []float64) blas64.General {
	return blas64.General{Rows: r, Cols: c, Stride: c, Data: data[:r*c]}
}

// forward runs the network with parameters p on the r samples of in
// (r × n), leaving pre- and post-activations in ws, and returns the output.
func (s *netShape) forward(ws *workspace, p, in []float64, r int) []float64 {
	return s.forwardRange(ws, p, in, r, 0, s.layers())
}

// forwardRange runs layers lo…hi−1 on the r samples of in (r × dims[lo]).
func (s *netShape) forwardRange(ws *workspace, p, in []float64, r, lo, hi int) []float64 {
	a := in
	for l := lo; l < hi; l++ {
		no := s.dims[l+1]
		pre := ws.pre[l][:r*no]
		s.ops[l].forward(pre, a, s.w(p, l), s.b(p, l), r)
		post := ws.post[l][:r*no]
		if s.acts[l] != Linear {
			s.acts[l].apply(post, pre)
		}
		a = post
	}
	return a
}

// sse returns Σ (out − target)², summed in order.
func sse(out, target []float64) float64 {
	var s float64
	for i, v := range out {
		e := v - target[i]
		s += e * e
	}
	return s
}

// backward sets g to the gradient with respect to p of Σ‖out − in‖² over
// the r samples of the last forward pass on in, and returns that sum.
func (s *netShape) backward(ws *workspace, g, p, in []float64, r int) float64 {
	L := s.layers()
	n := s.dims[L]
	out := ws.post[L-1][:r*n]
	delta := ws.d0[:r*n]
	var loss float64
	for i, v := range out {
		e := v - in[i]
		loss += e * e
		delta[i] = 2 * e
	}
	s.acts[L-1].mulDeriv(delta, ws.pre[L-1][:r*n], out)
	other := ws.d1
	for l := L - 1; l >= 0; l-- {
		ni := s.dims[l]
		a := in
		if l > 0 {
			a = ws.post[l-1][:r*ni]
		}
		s.ops[l].grads(s.w(g, l), s.b(g, l), delta, a, r)
		if l == 0 {
			break
		}
		// δ_{l−1} = (Aᵀ δ) ⊙ φ'
		nd := other[:r*ni]
		s.ops[l].backData(nd, delta, s.w(p, l), r)
		s.acts[l-1].mulDeriv(nd, ws.pre[l-1][:r*ni], ws.post[l-1][:r*ni])
		other = delta[:cap(delta)]
		delta = nd
	}
	return loss
}

// initParams fills p with Glorot-uniform weights, U(±√(6/(in+out))), or
// He-uniform weights, U(±√(6/in)), for ReLU and GELU layers, with in and
// out the fans of the layer (see op), drawn layer by layer in storage order
// from rnd; biases are zero.
func (s *netShape) initParams(p []float64, rnd func() float64) {
	for l := 0; l < s.layers(); l++ {
		ni, no := s.ops[l].fans()
		lim := math.Sqrt(6 / (ni + no))
		if s.acts[l] == ReLU || s.acts[l] == GELU {
			lim = math.Sqrt(6 / ni)
		}
		w := s.w(p, l)
		for i := range w {
			w[i] = lim * (2*rnd() - 1)
		}
		clear(s.b(p, l))
	}
}

// op is the affine part of a layer, pre = A a + b for each of r samples
// stored one per row. Its weights and biases are consecutive in the
// parameter vector, weights first.
type op interface {
	// sizes returns the number of values of one input and one output sample.
	sizes() (in, out int)
	// params returns the number of weights and of biases.
	params() (nw, nb int)
	// fans returns the fan-in and fan-out of a weight, for initialisation.
	fans() (in, out float64)
	// forward sets pre = A a + b for the r samples of a.
	forward(pre, a, w, b []float64, r int)
	// grads sets gw and gb to the gradients of Σ δ·pre with respect to the
	// weights and biases, for the r samples of a.
	grads(gw, gb, delta, a []float64, r int)
	// backData sets da = Aᵀ δ for the r samples of δ.
	backData(da, delta, w []float64, r int)
}

// dense is the fully connected op pre = W a + b with W out × in, row-major.
type dense struct{ in, out int }

func (o dense) sizes() (int, int)        { return o.in, o.out }
func (o dense) params() (int, int)       { return o.in * o.out, o.out }
func (o dense) fans() (float64, float64) { return float64(o.in), float64(o.out) }

func (o dense) forward(pre, a, w, b []float64, r int) {
	ni, no := o.in, o.out
	for i := 0; i < r; i++ {
		copy(pre[i*no:(i+1)*no], b)
	}
	// pre = a Wᵀ + 1 bᵀ
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, general(r, ni, a), general(no, ni, w), 1, general(r, no, pre))
}

func (o dense) grads(gw, gb, delta, a []float64, r int) {
	ni, no := o.in, o.out
	// ∂/∂W = δᵀ a, ∂/∂b = Σ_rows δ
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(r, no, delta), general(r, ni, a), 0, general(no, ni, gw))
	copy(gb, delta[:no])
	for i := 1; i < r; i++ {
		for j, v := range delta[i*no : (i+1)*no] {
			gb[j] += v
		}
	}
}

func (o dense) backData(da, delta, w []float64, r int) {
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(r, o.out, delta), general(o.out, o.in, w), 0, general(r, o.in, da))
}
