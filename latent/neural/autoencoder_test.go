package neural

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/fixture"
)

// The decoder Jacobian against central differences. With step h the
// truncation error is h²/6·|G”'| ~ 1e-11 and the round-off error
// ε·|G|/h ~ 1e-11 for h = 1e-5 and G, G”' of order one (h ≈ ε^{1/3} balances
// them), so a relative error of 1e-6 (to the largest entry of J) leaves a
// margin of ~10⁴. For ReLU the point is chosen with every pre-activation at
// least 1e-2 from the kink, further than a step can move it.
func TestAutoencoderJacobian(t *testing.T) {
	const h = 1e-5
	for _, act := range []Activation{Tanh, ReLU, GELU, Softplus, Linear} {
		for _, dims := range []struct {
			n      int
			hidden []int
			d      int
		}{{7, []int{6, 5}, 3}, {4, nil, 2}, {12, []int{10}, 1}} {
			ae := randomAutoencoder(t, dims.n, dims.hidden, dims.d, act, 5)
			rng := rand.New(rand.NewPCG(6, 6))
			z := fixture.RandVec(dims.d, rng)
			for act == ReLU && minAbsPre(ae, z) < 1e-2 {
				z = fixture.RandVec(dims.d, rng)
			}
			var J mat.Dense
			ae.Jacobian(&J, z)
			xp, xm := make([]float64, dims.n), make([]float64, dims.n)
			fd := mat.NewDense(dims.n, dims.d, nil)
			for k := 0; k < dims.d; k++ {
				zk := z[k]
				z[k] = zk + h
				ae.Decode(xp, z)
				z[k] = zk - h
				ae.Decode(xm, z)
				z[k] = zk
				for i := range xp {
					fd.Set(i, k, (xp[i]-xm[i])/(2*h))
				}
			}
			scale := mat.Norm(&J, math.Inf(1))
			var diff mat.Dense
			diff.Sub(&J, fd)
			if e := mat.Norm(&diff, math.Inf(1)); e > 1e-6*scale {
				t.Errorf("%s %v: |J − FD| = %.3g, |J| = %.3g", act, dims, e, scale)
			}
			// A second call on a sized J gives the same bits.
			J2 := mat.NewDense(dims.n, dims.d, nil)
			ae.Jacobian(J2, z)
			if !mat.Equal(&J, J2) {
				t.Errorf("%s %v: Jacobian not repeatable", act, dims)
			}
		}
	}
}

// minAbsPre returns the smallest |pre-activation| of the decoder's hidden
// layers at z.
func minAbsPre(ae *Autoencoder, z []float64) float64 {
	m := math.Inf(1)
	a := z
	for k := range ae.dec {
		l := &ae.dec[k]
		pre := make([]float64, l.Out)
		l.affine(pre, a)
		if l.Activation != Linear {
			for _, v := range pre {
				m = math.Min(m, math.Abs(v))
			}
		}
		post := make([]float64, l.Out)
		l.Activation.apply(post, pre)
		a = post
	}
	return m
}

// The training gradient (sharded, reduced in order, with weight decay)
// against central differences of the objective, for every parameter of a
// tiny 5 → 4 → 2 → 4 → 5 network on 7 samples cut into shards of 3, 3 and 1
// on 2 workers. The objective is O(1), so with h = 1e-5 the truncation
// (h²·|f”'|) and round-off (ε/h) errors are ~1e-11 against the 1e-6
// tolerance relative to the largest gradient entry. For ReLU the data and
// parameters are redrawn until every pre-activation is at least 1e-3 from
// the kink, while a step moves it by at most h·|input| ≲ 1e-4.
func TestAutoencoderGradient(t *testing.T) {
	const h = 1e-5
	for _, act := range []Activation{Tanh, ReLU, GELU, Softplus} {
		for _, wd := range []float64{0, 0.03} {
			var tr *trainer
			for seed := uint64(1); ; seed++ {
				X := fixture.SubspaceData(7, 5, []float64{2, 1, 0.5}, 0.3, seed)
				var err error
				tr, err = newTrainer(X, nil, AEOptions{Hidden: []int{4}, Latent: 2, Activation: act,
					Epochs: 1, ShardSize: 3, Workers: 2, WeightDecay: wd, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(seed, 99))
				for i := range tr.params {
					tr.params[i] = rng.NormFloat64() // biases too, so kinks are generic
				}
				if act != ReLU || tr.minAbsPre() > 1e-3 {
					break
				}
			}
			stop := tr.startWorkers()
			idx := []int{3, 0, 6, 2, 5, 1, 4}
			obj := func() float64 {
				return tr.gradient(idx)/float64(len(idx)*tr.n) + tr.penalty()
			}
			obj()
			g := append([]float64(nil), tr.grad...)
			scale := fixture.MaxAbs(g)
			var worst float64
			for i := range tr.params {
				p := tr.params[i]
				tr.params[i] = p + h
				fp := obj()
				tr.params[i] = p - h
				fm := obj()
				tr.params[i] = p
				fd := (fp - fm) / (2 * h)
				worst = math.Max(worst, math.Abs(fd-g[i]))
			}
			stop()
			if worst > 1e-6*scale {
				t.Errorf("%s wd=%v: max |g − FD| = %.3g, max |g| = %.3g", act, wd, worst, scale)
			}
			t.Logf("%s wd=%v: max |g − FD| / max |g| = %.2g over %d parameters", act, wd, worst/scale, len(g))
		}
	}
}

// minAbsPre returns the smallest |pre-activation| of the non-linear layers
// over all training samples at tr.params.
func (t *trainer) minAbsPre() float64 {
	ws := newWorkspace(&t.shape, t.mTrain)
	t.shape.forward(ws, t.params, t.train, t.mTrain)
	m := math.Inf(1)
	for l := 0; l < t.shape.layers(); l++ {
		if t.shape.acts[l] != Linear {
			for _, v := range ws.pre[l][:t.mTrain*t.shape.dims[l+1]] {
				m = math.Min(m, math.Abs(v))
			}
		}
	}
	return m
}

// The layer convention is torch.nn.Linear's: y = φ(W a + b) with W Out × In
// row-major, and the normalisation is applied around the network.
func TestAutoencoderConvention(t *testing.T) {
	enc := []Layer{{In: 2, Out: 1, W: []float64{1, 2}, B: []float64{0.5}, Activation: Linear}}
	dec := []Layer{
		{In: 1, Out: 3, W: []float64{1, -1, 2}, B: []float64{0, 1, 0}, Activation: ReLU},
		{In: 3, Out: 2, W: []float64{1, 0, 1, 0, 1, -1}, B: []float64{0.25, 0}, Activation: Linear},
	}
	norm := Normalization{Mean: []float64{1, -1}, Std: []float64{2, 4}}
	ae, err := NewAutoencoder(enc, dec, norm)
	if err != nil {
		t.Fatal(err)
	}
	z := []float64{0}
	ae.Encode(z, []float64{3, 7}) // u = (1, 2), z = 1 + 4 + 0.5
	if z[0] != 5.5 {
		t.Errorf("E(x) = %v, want 5.5", z[0])
	}
	x := make([]float64, 2)
	ae.Decode(x, []float64{1.5}) // h = relu(1.5, −0.5, 3) = (1.5, 0, 3); y = (4.75, −3)
	if want := []float64{1 + 2*4.75, -1 + 4*-3}; !floats.Equal(x, want) {
		t.Errorf("G(z) = %v, want %v", x, want)
	}
	// Layers and Normalization round-trip through NewAutoencoder.
	e2, d2 := ae.Layers()
	ae2, err := NewAutoencoder(e2, d2, ae.Normalization())
	if err != nil {
		t.Fatal(err)
	}
	x2 := make([]float64, 2)
	ae2.Decode(x2, []float64{1.5})
	if !floats.Equal(x, x2) {
		t.Errorf("round trip decodes %v, want %v", x2, x)
	}
	// Parameters are copied in both directions.
	enc[0].W[0] = 100
	e2[0].W[0] = 100
	ae.Encode(z, []float64{3, 7})
	if z[0] != 5.5 {
		t.Error("NewAutoencoder or Layers shares storage with the caller")
	}
	// Without normalisation the identity map is used.
	ae3, err := NewAutoencoder(enc[:1:1], dec, Normalization{})
	if err != nil {
		t.Fatal(err)
	}
	ae3.Decode(x2, []float64{1.5})
	if !floats.Equal(x2, []float64{4.75, -3}) {
		t.Errorf("unnormalised G(z) = %v", x2)
	}
}

// A clone decodes identically and independently of the original.
func TestAutoencoderClone(t *testing.T) {
	ae := randomAutoencoder(t, 10, []int{8, 6}, 3, Tanh, 1)
	c := ae.Clone()
	rng := rand.New(rand.NewPCG(1, 2))
	done := make(chan []float64)
	z := fixture.RandVec(3, rng)
	go func() {
		x := make([]float64, 10)
		for range 1000 {
			c.Decode(x, z)
		}
		done <- x
	}()
	x := make([]float64, 10)
	z2 := fixture.RandVec(3, rng)
	for range 1000 {
		ae.Decode(x, z2)
	}
	xc := <-done
	ae.Decode(x, z)
	if !floats.Equal(x, xc) {
		t.Error("clone decodes differently")
	}
}

func TestNewAutoencoderErrors(t *testing.T) {
	good := func() ([]Layer, []Layer, Normalization) {
		return []Layer{{In: 3, Out: 2, W: make([]float64, 6), B: make([]float64, 2), Activation: Tanh},
				{In: 2, Out: 1, W: make([]float64, 2), B: make([]float64, 1), Activation: Linear}},
			[]Layer{{In: 1, Out: 3, W: make([]float64, 3), B: make([]float64, 3), Activation: Linear}},
			Normalization{Mean: make([]float64, 3), Std: []float64{1, 1, 1}}
	}
	e, d, n := good()
	if _, err := NewAutoencoder(e, d, n); err != nil {
		t.Fatalf("good autoencoder rejected: %v", err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(e, d []Layer, n *Normalization) ([]Layer, []Layer)
		want  string
	}{
		{"no encoder", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) { return nil, d }, "at least one"},
		{"broken chain", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) {
			e[1].In = 3
			e[1].W = make([]float64, 3)
			return e, d
		}, "takes 3 inputs"},
		{"latent mismatch", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) {
			d[0] = Layer{In: 2, Out: 3, W: make([]float64, 6), B: make([]float64, 3), Activation: Linear}
			return e, d
		}, "decoder maps"},
		{"W length", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) { e[0].W = e[0].W[:5]; return e, d }, "len(W)"},
		{"B length", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) { d[0].B = nil; return e, d }, "len(B)"},
		{"NaN weight", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) { d[0].W[1] = math.NaN(); return e, d }, "non-finite"},
		{"activation", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) { e[0].Activation = "sigmoid"; return e, d }, "unknown activation"},
		{"zero std", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) { n.Std[1] = 0; return e, d }, "normalisation"},
		{"norm length", func(e, d []Layer, n *Normalization) ([]Layer, []Layer) { n.Mean = n.Mean[:2]; return e, d }, "normalisation"},
	} {
		e, d, n := good()
		e, d = tc.spoil(e, d, &n)
		_, err := NewAutoencoder(e, d, n)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

// penalty returns, for the gradient checks, the weight decay term (μ/2)‖W‖² at t.params.
func (t *trainer) penalty() float64 {
	var s float64
	for l := 0; l < t.shape.layers(); l++ {
		w := t.shape.w(t.params, l)
		s += floats.Dot(w, w)
	}
	return 0.5 * t.opts.WeightDecay * s
}
