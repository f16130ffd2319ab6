package neural

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/internal/check"
)

// Layer is one fully connected layer, y = φ(W a + b), with the convention of
// torch.nn.Linear: W is Out × In, stored row-major (W[i*In+j] multiplies
// input j in output i, exactly torch's weight.flatten()), and B has length
// Out (torch's bias).
type Layer struct {
	In         int        `json:"in"`
	Out        int        `json:"out"`
	W          []float64  `json:"w"`
	B          []float64  `json:"b"`
	Activation Activation `json:"activation"`
}

func (l Layer) clone() Layer {
	l.W = append([]float64(nil), l.W...)
	l.B = append([]float64(nil), l.B...)
	return l
}

// Normalization is the per-variable affine map between states and the
// network's units: the encoder sees u = (x − Mean) / Std and the decoder's
// output u is mapped back to x = Mean + Std ⊙ u. Empty slices mean the
// identity map (Mean = 0, Std = 1).
type Normalization struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// Autoencoder is the generator of a multilayer perceptron autoencoder:
//
//	E(x) = e_K ∘ … ∘ e_1((x − μ)/σ)
//	G(z) = μ + σ ⊙ g_L ∘ … ∘ g_1(z)
//
// with layers e_k, g_l of the form a ↦ φ(W a + b) (see [Layer]) and the
// normalisation μ, σ of [Normalization]. The Jacobian of the decoder is
// exact, by forward-mode differentiation:
//
//	J = diag(σ) D_L W_L ⋯ D_1 W_1,   D_l = diag(φ_l'(W_l a_{l−1} + b_l)).
//
// An Autoencoder owns scratch space and is not safe for concurrent use;
// use Clone for another goroutine.
type Autoencoder struct {
	n, d      int
	enc, dec  []Layer // read-only after construction, shared by clones
	mean, std []float64
	maxWidth  int

	// scratch
	u, h0, h1 []float64   // maxWidth
	pre, post [][]float64 // per decoder layer, for Jacobian
	t0, t1    []float64   // maxWidth × d
	dv        []float64   // maxWidth
}

// NewAutoencoder returns the autoencoder with the given encoder and decoder
// layers (in the order they are applied) and normalisation. The layers must
// chain: encoder[0].In = n = decoder[last].Out and encoder[last].Out = d =
// decoder[0].In, with len(W) = In·Out and len(B) = Out, finite values and
// known activations. Norm's slices must be empty or have length n, with
// Std > 0. The parameters are copied.
func NewAutoencoder(encoder, decoder []Layer, norm Normalization) (*Autoencoder, error) {
	if len(encoder) == 0 || len(decoder) == 0 {
		return nil, errors.New("neural: NewAutoencoder: need at least one encoder and one decoder layer")
	}
	if err := checkChain("encoder", encoder); err != nil {
		return nil, err
	}
	if err := checkChain("decoder", decoder); err != nil {
		return nil, err
	}
	n, d := encoder[0].In, encoder[len(encoder)-1].Out
	if decoder[0].In != d || decoder[len(decoder)-1].Out != n {
		return nil, fmt.Errorf("neural: NewAutoencoder: encoder maps %d → %d but decoder maps %d → %d",
			n, d, decoder[0].In, decoder[len(decoder)-1].Out)
	}
	mean := make([]float64, n)
	std := make([]float64, n)
	for i := range std {
		std[i] = 1
	}
	if len(norm.Mean) != 0 || len(norm.Std) != 0 {
		if len(norm.Mean) != n || len(norm.Std) != n {
			return nil, fmt.Errorf("neural: NewAutoencoder: normalisation has %d means and %d stds, want %d", len(norm.Mean), len(norm.Std), n)
		}
		for i := range n {
			if !(norm.Std[i] > 0) || math.IsInf(norm.Std[i], 0) || math.IsNaN(norm.Mean[i]) || math.IsInf(norm.Mean[i], 0) {
				return nil, fmt.Errorf("neural: NewAutoencoder: bad normalisation of variable %d: mean %v, std %v", i, norm.Mean[i], norm.Std[i])
			}
		}
		copy(mean, norm.Mean)
		copy(std, norm.Std)
	}
	ae := &Autoencoder{n: n, d: d, mean: mean, std: std}
	for _, l := range encoder {
		ae.enc = append(ae.enc, l.clone())
	}
	for _, l := range decoder {
		ae.dec = append(ae.dec, l.clone())
	}
	ae.maxWidth = max(n, d)
	for _, l := range ae.enc {
		ae.maxWidth = max(ae.maxWidth, l.Out)
	}
	for _, l := range ae.dec {
		ae.maxWidth = max(ae.maxWidth, l.Out)
	}
	ae.allocScratch()
	return ae, nil
}

func checkChain(which string, layers []Layer) error {
	for k, l := range layers {
		switch {
		case l.In < 1 || l.Out < 1:
			return fmt.Errorf("neural: NewAutoencoder: %s layer %d is %d → %d", which, k, l.In, l.Out)
		case k > 0 && l.In != layers[k-1].Out:
			return fmt.Errorf("neural: NewAutoencoder: %s layer %d takes %d inputs but layer %d has %d outputs", which, k, l.In, k-1, layers[k-1].Out)
		case len(l.W) != l.In*l.Out:
			return fmt.Errorf("neural: NewAutoencoder: %s layer %d: len(W) = %d, want Out·In = %d", which, k, len(l.W), l.In*l.Out)
		case len(l.B) != l.Out:
			return fmt.Errorf("neural: NewAutoencoder: %s layer %d: len(B) = %d, want Out = %d", which, k, len(l.B), l.Out)
		case !check.Finite(l.W) || !check.Finite(l.B):
			return fmt.Errorf("neural: NewAutoencoder: %s layer %d has non-finite parameters", which, k)
		}
		if err := l.Activation.check(); err != nil {
			return fmt.Errorf("neural: NewAutoencoder: %s layer %d: %v", which, k, err)
		}
	}
	return nil
}

func (ae *Autoencoder) allocScratch() {
	w := ae.maxWidth
	ae.u = make([]float64, w)
	ae.h0 = make([]float64, w)
	ae.h1 = make([]float64, w)
	ae.pre = make([][]float64, len(ae.dec))
	ae.post = make([][]float64, len(ae.dec))
	for k, l := range ae.dec {
		ae.pre[k] = make([]float64, l.Out)
		ae.post[k] = make([]float64, l.Out)
	}
	ae.t0 = make([]float64, w*ae.d)
	ae.t1 = make([]float64, w*ae.d)
	ae.dv = make([]float64, w)
}

// Name returns "autoencoder".
func (ae *Autoencoder) Name() string { return "autoencoder" }

// LatentDim returns d.
func (ae *Autoencoder) LatentDim() int { return ae.d }

// StateDim returns n.
func (ae *Autoencoder) StateDim() int { return ae.n }

// Layers returns copies of the encoder and decoder layers.
func (ae *Autoencoder) Layers() (encoder, decoder []Layer) {
	for _, l := range ae.enc {
		encoder = append(encoder, l.clone())
	}
	for _, l := range ae.dec {
		decoder = append(decoder, l.clone())
	}
	return encoder, decoder
}

// Normalization returns a copy of the normalisation.
func (ae *Autoencoder) Normalization() Normalization {
	return Normalization{Mean: append([]float64(nil), ae.mean...), Std: append([]float64(nil), ae.std...)}
}

// Clone returns an autoencoder sharing the parameters of ae with its own
// scratch space.
func (ae *Autoencoder) Clone() latent.Generator {
	c := &Autoencoder{n: ae.n, d: ae.d, enc: ae.enc, dec: ae.dec, mean: ae.mean, std: ae.std, maxWidth: ae.maxWidth}
	c.allocScratch()
	return c
}

// affine sets y = W a + b.
func (l *Layer) affine(y, a []float64) {
	copy(y, l.B)
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: l.Out, Cols: l.In, Stride: l.In, Data: l.W},
		blas64.Vector{N: l.In, Inc: 1, Data: a}, 1, blas64.Vector{N: l.Out, Inc: 1, Data: y})
}

// run applies layers to in and writes the last output to out, using
// ae.h0 and ae.h1 in turn for the hidden layers.
func (ae *Autoencoder) run(out, in []float64, layers []Layer) {
	a := in
	for k := range layers {
		l := &layers[k]
		y := out
		if k < len(layers)-1 {
			if k%2 == 0 {
				y = ae.h0[:l.Out]
			} else {
				y = ae.h1[:l.Out]
			}
		}
		l.affine(y, a)
		l.Activation.apply(y, y)
		a = y
	}
}

// Decode sets x = G(z).
func (ae *Autoencoder) Decode(x, z []float64) {
	check.Len("neural: Decode", "x", x, ae.n)
	check.Len("neural: Decode", "z", z, ae.d)
	ae.run(x, z, ae.dec)
	for i, v := range x {
		x[i] = ae.mean[i] + ae.std[i]*v
	}
}

// Encode sets z = E(x).
func (ae *Autoencoder) Encode(z, x []float64) {
	check.Len("neural: Encode", "z", z, ae.d)
	check.Len("neural: Encode", "x", x, ae.n)
	u := ae.u[:ae.n]
	for i, v := range x {
		u[i] = (v - ae.mean[i]) / ae.std[i]
	}
	ae.run(z, u, ae.enc)
}

// Jacobian sets J = ∂G/∂z at z (n × d) by forward-mode differentiation,
// propagating the transposed tangents: T₁ᵀ = W₁ᵀD₁, T_lᵀ = T_{l−1}ᵀ W_lᵀ D_l,
// J = diag(σ) T_L. (Stored d × width, the products are dot products along
// the layer widths rather than short updates of length d.)
func (ae *Autoencoder) Jacobian(J *mat.Dense, z []float64) {
	check.Len("neural: Jacobian", "z", z, ae.d)
	raw := check.JacobianDst("neural: Jacobian", J, ae.n, ae.d)
	d := ae.d
	a := z
	for k := range ae.dec {
		l := &ae.dec[k]
		l.affine(ae.pre[k], a)
		l.Activation.apply(ae.post[k], ae.pre[k])
		a = ae.post[k]
	}
	last := len(ae.dec) - 1
	t, other := ae.t0, ae.t1
	for k := range ae.dec {
		l := &ae.dec[k]
		no := l.Out
		dv := ae.dv[:no]
		for i := range dv {
			dv[i] = 1
		}
		l.Activation.mulDeriv(dv, ae.pre[k], ae.post[k])
		if k == last {
			for i := range dv {
				dv[i] *= ae.std[i]
			}
		}
		tt := other[:d*no] // T_kᵀ, d × no
		if k == 0 {
			for i := 0; i < no; i++ {
				for j, w := range l.W[i*d : (i+1)*d] {
					tt[j*no+i] = w
				}
			}
		} else {
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, general(d, l.In, t), general(no, l.In, l.W), 0, general(d, no, tt))
		}
		if k == last {
			for i, s := range dv {
				row := raw.Data[i*raw.Stride : i*raw.Stride+d]
				for j := range row {
					row[j] = s * tt[j*no+i]
				}
			}
			return
		}
		if l.Activation != Linear {
			for j := 0; j < d; j++ {
				row := tt[j*no : (j+1)*no]
				for i, s := range dv {
					row[i] *= s
				}
			}
		}
		t, other = tt, t[:cap(t)]
	}
}
