package latent

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// netShape describes the encoder–decoder chain used in training as one
// network of L layers on a flat parameter vector. Layer l maps dims[l] to
// dims[l+1]; its weights W (dims[l+1] × dims[l], row-major) start at
// offs[l] and are followed by its biases. The encoder is layers 0…nEnc−1,
// so dims[0] = dims[L] = n and dims[nEnc] = d.
type netShape struct {
	dims []int
	acts []Activation
	nEnc int
	offs []int
	size int
}

// newShape returns the shape of the autoencoder n → hidden… → d → …hidden
// reversed → n with activation act on the hidden layers and linear outputs.
func newShape(n int, hidden []int, d int, act Activation) netShape {
	var s netShape
	s.dims = append(s.dims, n)
	s.dims = append(s.dims, hidden...)
	s.dims = append(s.dims, d)
	s.nEnc = len(hidden) + 1
	for k := len(hidden) - 1; k >= 0; k-- {
		s.dims = append(s.dims, hidden[k])
	}
	s.dims = append(s.dims, n)
	L := len(s.dims) - 1
	for l := 0; l < L; l++ {
		a := act
		if l == s.nEnc-1 || l == L-1 {
			a = Linear
		}
		s.acts = append(s.acts, a)
		s.offs = append(s.offs, s.size)
		s.size += s.dims[l+1]*s.dims[l] + s.dims[l+1]
	}
	return s
}

func (s *netShape) layers() int { return len(s.acts) }

// w returns the weights of layer l in the parameter vector p.
func (s *netShape) w(p []float64, l int) []float64 {
	o := s.offs[l]
	return p[o : o+s.dims[l+1]*s.dims[l]]
}

// b returns the biases of layer l in the parameter vector p.
func (s *netShape) b(p []float64, l int) []float64 {
	o := s.offs[l] + s.dims[l+1]*s.dims[l]
	return p[o : o+s.dims[l+1]]
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
	a := in
	for l := 0; l < s.layers(); l++ {
		ni, no := s.dims[l], s.dims[l+1]
		pre := ws.pre[l][:r*no]
		b := s.b(p, l)
		for i := 0; i < r; i++ {
			copy(pre[i*no:(i+1)*no], b)
		}
		// pre = a Wᵀ + 1 bᵀ
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, general(r, ni, a), general(no, ni, s.w(p, l)), 1, general(r, no, pre))
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
		ni, no := s.dims[l], s.dims[l+1]
		a := in
		if l > 0 {
			a = ws.post[l-1][:r*ni]
		}
		// ∂/∂W = δᵀ a, ∂/∂b = Σ_rows δ
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(r, no, delta), general(r, ni, a), 0, general(no, ni, s.w(g, l)))
		db := s.b(g, l)
		copy(db, delta[:no])
		for i := 1; i < r; i++ {
			for j, v := range delta[i*no : (i+1)*no] {
				db[j] += v
			}
		}
		if l == 0 {
			break
		}
		// δ_{l−1} = (δ W) ⊙ φ'
		nd := other[:r*ni]
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(r, no, delta), general(no, ni, s.w(p, l)), 0, general(r, ni, nd))
		s.acts[l-1].mulDeriv(nd, ws.pre[l-1][:r*ni], ws.post[l-1][:r*ni])
		other = delta[:cap(delta)]
		delta = nd
	}
	return loss
}

// initParams fills p with Glorot-uniform weights, U(±√(6/(in+out))), or
// He-uniform weights, U(±√(6/in)), for ReLU and GELU layers, drawn layer by
// layer in row-major order from rnd; biases are zero.
func (s *netShape) initParams(p []float64, rnd func() float64) {
	for l := 0; l < s.layers(); l++ {
		ni, no := float64(s.dims[l]), float64(s.dims[l+1])
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
