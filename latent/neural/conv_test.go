package neural

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/fixture"
)

// opCases are the layer kinds of the convolutional autoencoder.
var opCases = []struct {
	name string
	op   op
}{
	{"dense", dense{in: 7, out: 5}},
	{"conv k=3 s=1", newCircConv(2, 3, 8, 3, 1, false)},
	{"conv k=5 s=2", newCircConv(3, 2, 12, 5, 2, false)},
	{"conv k=1 s=4", newCircConv(2, 2, 8, 1, 4, false)},
	{"conv k=7 s=2 wraps twice", newCircConv(1, 2, 4, 7, 2, false)},
	{"transposed k=3 s=1", newCircConv(3, 2, 8, 3, 1, true)},
	{"transposed k=5 s=2", newCircConv(2, 3, 12, 5, 2, true)},
	{"transposed k=3 s=3", newCircConv(2, 1, 9, 3, 3, true)},
}

// TestOpGradients checks the gradients of f = Σ δ ⊙ op(a) with respect to
// the weights, biases and input against central differences. f is affine in
// each, so the differences are exact but for round-off.
func TestOpGradients(t *testing.T) {
	const r, h, tol = 3, 1e-3, 1e-9
	for _, tc := range opCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			in, out := tc.op.sizes()
			nw, nb := tc.op.params()
			w, b, a, delta := fixture.RandVec(nw, rng), fixture.RandVec(nb, rng), fixture.RandVec(r*in, rng), fixture.RandVec(r*out, rng)
			pre := make([]float64, r*out)
			f := func() float64 {
				tc.op.forward(pre, a, w, b, r)
				var s float64
				for i, v := range pre {
					s += delta[i] * v
				}
				return s
			}
			gw, gb, ga := make([]float64, nw), make([]float64, nb), make([]float64, r*in)
			// Non-zero destinations: grads and backData set, not add.
			for _, g := range [][]float64{gw, gb, ga} {
				for i := range g {
					g[i] = 7
				}
			}
			tc.op.grads(gw, gb, delta, a, r)
			tc.op.backData(ga, delta, w, r)
			for _, c := range []struct {
				name string
				x, g []float64
			}{{"weights", w, gw}, {"biases", b, gb}, {"input", a, ga}} {
				for i := range c.x {
					x0 := c.x[i]
					c.x[i] = x0 + h
					fp := f()
					c.x[i] = x0 - h
					fm := f()
					c.x[i] = x0
					fd := (fp - fm) / (2 * h)
					if math.Abs(fd-c.g[i]) > tol*math.Max(1, math.Abs(fd)) {
						t.Fatalf("∂f/∂%s[%d] = %v, central difference %v", c.name, i, c.g[i], fd)
					}
				}
			}
		})
	}
}

// TestCircConvEquivariant checks that a convolution of stride s commutes
// with circular shifts: shifting the long grid by s shifts the short grid
// by one.
func TestCircConvEquivariant(t *testing.T) {
	for _, transposed := range []bool{false, true} {
		o := newCircConv(2, 3, 12, 5, 2, transposed)
		rng := rand.New(rand.NewPCG(3, 3))
		in, out := o.sizes()
		nw, nb := o.params()
		w, b, a := fixture.RandVec(nw, rng), fixture.RandVec(nb, rng), fixture.RandVec(in, rng)
		// shift rotates each channel of v (channels of length L) by k.
		shift := func(v []float64, L, k int) []float64 {
			s := make([]float64, len(v))
			for c := 0; c < len(v)/L; c++ {
				for i := 0; i < L; i++ {
					s[c*L+(i+k)%L] = v[c*L+i]
				}
			}
			return s
		}
		inL, outL, inK, outK := o.long, o.short, o.stride, 1
		if transposed {
			inL, outL, inK, outK = o.short, o.long, 1, o.stride
		}
		y, ys := make([]float64, out), make([]float64, out)
		o.forward(y, a, w, b, 1)
		o.forward(ys, shift(a, inL, inK), w, b, 1)
		if e := fixture.MaxAbsDiff(ys, shift(y, outL, outK)); e > 1e-14 {
			t.Errorf("transposed %v: op(shift a) − shift op(a) = %g", transposed, e)
		}
	}
}

var convSpecs = []struct {
	name string
	n, d int
	spec ConvSpec
	act  Activation
}{
	{"one stage", 8, 3, ConvSpec{Channels: []int{2}, Strides: []int{2}, Kernel: 3}, Tanh},
	{"two stages", 16, 4, ConvSpec{Channels: []int{3, 2}, Strides: []int{1, 2}, Kernel: 5}, GELU},
	{"three stages softplus", 24, 5, ConvSpec{Channels: []int{2, 3, 2}, Strides: []int{2, 2, 3}, Kernel: 3}, Softplus},
}

// TestConvNetworkGradient checks the back-propagated gradient of the
// training loss Σ‖g(e(u)) − u‖² of whole convolutional autoencoders against
// central differences.
func TestConvNetworkGradient(t *testing.T) {
	const r, h = 3, 1e-5
	for _, tc := range convSpecs {
		t.Run(tc.name, func(t *testing.T) {
			s := convShape(tc.n, tc.spec, tc.d, tc.act)
			rng := rand.New(rand.NewPCG(5, 6))
			p := make([]float64, s.size)
			s.initParams(p, rng.Float64)
			for l := 0; l < s.layers(); l++ {
				for i := range s.b(p, l) {
					s.b(p, l)[i] = 0.3 * rng.NormFloat64()
				}
			}
			in := fixture.RandVec(r*tc.n, rng)
			ws := newWorkspace(&s, r)
			g := make([]float64, s.size)
			s.forward(ws, p, in, r)
			loss := s.backward(ws, g, p, in, r)
			if got := sse(s.forward(ws, p, in, r), in); got != loss {
				t.Fatalf("backward loss %v, forward %v", loss, got)
			}
			for i := range p {
				p0 := p[i]
				p[i] = p0 + h
				fp := sse(s.forward(ws, p, in, r), in)
				p[i] = p0 - h
				fm := sse(s.forward(ws, p, in, r), in)
				p[i] = p0
				fd := (fp - fm) / (2 * h)
				// Central differences err by O(h²·f''') ≈ 1e-9 relative.
				if math.Abs(fd-g[i]) > 1e-6*math.Max(1, math.Abs(fd)) {
					t.Fatalf("∂L/∂p[%d] = %v, central difference %v", i, g[i], fd)
				}
			}
		})
	}
}

func randomConvAutoencoder(t testing.TB, n, d int, spec ConvSpec, act Activation, seed uint64) *ConvAutoencoder {
	t.Helper()
	s := convShape(n, spec, d, act)
	rng := rand.New(rand.NewPCG(seed, 10))
	p := make([]float64, s.size)
	s.initParams(p, rng.Float64)
	for l := 0; l < s.layers(); l++ {
		for i := range s.b(p, l) {
			s.b(p, l)[i] = 0.3 * rng.NormFloat64()
		}
	}
	norm := Normalization{Mean: fixture.RandVec(n, rng), Std: make([]float64, n)}
	for i := range norm.Std {
		norm.Std[i] = 0.5 + rng.Float64()
	}
	g, err := NewConvAutoencoder(ConvParams{StateDim: n, Latent: d, Spec: spec, Activation: act, Params: p, Norm: norm})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestConvAutoencoderJacobian(t *testing.T) {
	for _, tc := range convSpecs {
		t.Run(tc.name, func(t *testing.T) {
			g := randomConvAutoencoder(t, tc.n, tc.d, tc.spec, tc.act, 1)
			rng := rand.New(rand.NewPCG(7, 7))
			for range 3 {
				// Central differences of step 1e-5 err by about 1e-10.
				fixture.CheckJacobianFD(t, g, fixture.RandVec(tc.d, rng), 1e-5, 1e-7)
			}
			// A second call on a sized J gives the same bits.
			z := fixture.RandVec(tc.d, rng)
			var J1, J2 mat.Dense
			g.Jacobian(&J1, z)
			g.Jacobian(&J2, z)
			if !mat.Equal(&J1, &J2) {
				t.Error("second Jacobian differs")
			}
		})
	}
}

// TestConvAutoencoderMatchesNetwork checks that the generator's Encode and
// Decode are the training network's two halves.
func TestConvAutoencoderMatchesNetwork(t *testing.T) {
	tc := convSpecs[1]
	g := randomConvAutoencoder(t, tc.n, tc.d, tc.spec, tc.act, 2)
	rng := rand.New(rand.NewPCG(8, 8))
	x := fixture.RandVec(tc.n, rng)
	u := make([]float64, tc.n)
	for i := range u {
		u[i] = (x[i] - g.mean[i]) / g.std[i]
	}
	ws := newWorkspace(&g.shape, 1)
	out := g.shape.forward(ws, g.p.Params, u, 1)
	z, y := make([]float64, tc.d), make([]float64, tc.n)
	g.Encode(z, x)
	g.Decode(y, z)
	for i := range y {
		if want := g.mean[i] + g.std[i]*out[i]; math.Abs(y[i]-want) > 1e-14 {
			t.Fatalf("G(E(x))[%d] = %v, network %v", i, y[i], want)
		}
	}
	c := g.Clone()
	z2 := make([]float64, tc.d)
	c.Encode(z2, x)
	if fixture.MaxAbsDiff(z, z2) != 0 {
		t.Error("clone encodes differently")
	}
}

func TestConvParamsRoundTrip(t *testing.T) {
	tc := convSpecs[2]
	g := randomConvAutoencoder(t, tc.n, tc.d, tc.spec, tc.act, 3)
	data, err := json.Marshal(g.Params())
	if err != nil {
		t.Fatal(err)
	}
	var p ConvParams
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	h, err := NewConvAutoencoder(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Params(), g.Params()) {
		t.Error("parameters differ after a JSON round trip")
	}
	for _, bad := range []struct {
		name string
		edit func(p *ConvParams)
	}{
		{"stride does not divide", func(p *ConvParams) { p.Spec.Strides[0] = 5 }},
		{"even kernel", func(p *ConvParams) { p.Spec.Kernel = 4 }},
		{"stride count", func(p *ConvParams) { p.Spec.Strides = p.Spec.Strides[1:] }},
		{"no stages", func(p *ConvParams) { p.Spec.Channels, p.Spec.Strides = nil, nil }},
		{"zero channels", func(p *ConvParams) { p.Spec.Channels[1] = 0 }},
		{"short params", func(p *ConvParams) { p.Params = p.Params[1:] }},
		{"NaN param", func(p *ConvParams) { p.Params[0] = math.NaN() }},
		{"activation", func(p *ConvParams) { p.Activation = "sigmoid" }},
		{"zero std", func(p *ConvParams) { p.Norm.Std[0] = 0 }},
		{"short mean", func(p *ConvParams) { p.Norm.Mean = p.Norm.Mean[1:] }},
		{"no latent", func(p *ConvParams) { p.Latent = 0 }},
	} {
		p := g.Params()
		bad.edit(&p)
		if _, err := NewConvAutoencoder(p); err == nil {
			t.Errorf("%s: no error", bad.name)
		}
	}
}

// travellingWaves returns m samples on a periodic grid of n points of
// a₁ sin(2π(j/n − c₁)) + a₂ sin(4π(j/n − c₂)) with random amplitudes and
// phases: a 4-parameter family closed under circular shifts.
func travellingWaves(m, n int, seed uint64) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 11))
	X := mat.NewDense(m, n, nil)
	for i := 0; i < m; i++ {
		a1, a2, c1, c2 := 1+rng.Float64(), 0.5*rng.Float64(), rng.Float64(), rng.Float64()
		row := X.RawRowView(i)
		for j := range row {
			s := float64(j) / float64(n)
			row[j] = a1*math.Sin(2*math.Pi*(s-c1)) + a2*math.Sin(4*math.Pi*(s-c2))
		}
	}
	return X
}

// TestTrainConvAutoencoder trains a small convolutional autoencoder on
// travelling waves: the loss falls, resuming from a checkpoint reproduces
// the uninterrupted run bit for bit (with the plateau schedule, whose state
// the checkpoint carries), and the checkpoint rebuilds the model.
func TestTrainConvAutoencoder(t *testing.T) {
	X := travellingWaves(240, 16, 1)
	V := travellingWaves(60, 16, 2)
	spec := ConvSpec{Channels: []int{4, 4}, Strides: []int{2, 2}, Kernel: 3}
	opts := AEOptions{Latent: 4, Epochs: 12, BatchSize: 32, ShardSize: 16, LearningRate: 3e-3, Seed: 1,
		Schedule: Plateau, PlateauPatience: 1, PlateauFactor: 0.7}
	full, err := TrainConvAutoencoder(context.Background(), X, V, spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := full.Curve; !(c[len(c)-1].BestLoss < 0.5*c[0].ValidLoss) {
		t.Errorf("validation loss %v after %d epochs, %v after the first: want at least halved", c[len(c)-1].BestLoss, len(c), c[0].ValidLoss)
	}
	var mid *Checkpoint
	o := opts
	o.Epochs = 5
	o.Workers = 1
	o.Progress = func(st EpochStats) error {
		mid = st.Checkpoint()
		return nil
	}
	if _, err := TrainConvAutoencoder(context.Background(), X, V, spec, o); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(mid)
	if err != nil {
		t.Fatal(err)
	}
	var ck Checkpoint
	if err := json.Unmarshal(data, &ck); err != nil {
		t.Fatal(err)
	}
	o = opts
	o.Checkpoint = &ck
	resumed, err := TrainConvAutoencoder(context.Background(), X, V, spec, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resumed.Checkpoint, full.Checkpoint) {
		t.Error("resumed run differs from the uninterrupted one")
	}
	m, err := full.Checkpoint.ConvModel()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Params(), full.Model.Params()) {
		t.Error("Checkpoint.ConvModel differs from the result's model")
	}
	if _, err := full.Checkpoint.Model(); err == nil {
		t.Error("Checkpoint.Model accepted a convolutional checkpoint")
	}
	// A mismatched architecture, or MLP options.
	o = opts
	o.Checkpoint = &ck
	if _, err := TrainConvAutoencoder(context.Background(), X, V, ConvSpec{Channels: []int{4, 3}, Strides: []int{2, 2}, Kernel: 3}, o); err == nil {
		t.Error("resumed with other channels")
	}
	if _, err := TrainConvAutoencoder(context.Background(), X, V, spec, AEOptions{Hidden: []int{3}, Latent: 4, Epochs: 1}); err == nil {
		t.Error("accepted Hidden")
	}
	if _, err := TrainAutoencoder(context.Background(), X, V, AEOptions{Latent: 4, Epochs: 6, BatchSize: 32, ShardSize: 16,
		LearningRate: 3e-3, Seed: 1, Schedule: Plateau, PlateauPatience: 1, PlateauFactor: 0.7, Checkpoint: &ck}); err == nil {
		t.Error("the MLP trainer resumed a convolutional checkpoint")
	}
}

// TestSchedules checks the learning rates of the schedules through their
// effect: a plateau schedule with factor f and patience 1 on a loss that
// never improves after the first epoch divides the rate each epoch, which
// the checkpoint records; the cosine schedule and the constant one differ
// from the second epoch on, not in the first.
func TestSchedules(t *testing.T) {
	X := fixture.SubspaceData(64, 6, []float64{3, 2, 1}, 0.1, 1)
	base := AEOptions{Hidden: []int{5}, Latent: 2, Epochs: 3, BatchSize: 16, LearningRate: 1e-2, Seed: 2, Workers: 1}
	run := func(o AEOptions) *TrainResult {
		res, err := TrainAutoencoder(context.Background(), X, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	constant := run(base)
	o := base
	o.Schedule = Cosine
	cosine := run(o)
	if cosine.Curve[0].TrainLoss != constant.Curve[0].TrainLoss || cosine.Curve[1].TrainLoss == constant.Curve[1].TrainLoss {
		t.Errorf("cosine losses %v, constant %v: want the same first epoch only", cosine.Curve, constant.Curve)
	}
	if c := cosine.Checkpoint; c.Schedule != Cosine || c.CosineEpochs != 3 || c.MinLearningRate != 1e-4 {
		t.Errorf("cosine checkpoint records %q, %d epochs, lr_min %v", c.Schedule, c.CosineEpochs, c.MinLearningRate)
	}
	if c := constant.Checkpoint; c.Schedule != "" || c.LR != 0 || c.MinLearningRate != 0 {
		t.Errorf("constant schedule recorded as %q, lr %v, lr_min %v; want empty", c.Schedule, c.LR, c.MinLearningRate)
	}
	// A learning rate too small to change the loss by one ulp after the
	// first epoch would be fragile; instead count the reductions: with
	// patience 1 the rate falls once per epoch without a new best.
	o = base
	o.Epochs = 8
	o.Schedule = Plateau
	o.PlateauPatience = 1
	o.PlateauFactor = 0.5
	o.MinLearningRate = 1e-5
	res := run(o)
	worse := 0
	for _, st := range res.Curve[1:] {
		if st.BestEpoch != st.Epoch {
			worse++
		}
	}
	if want := math.Max(1e-5, 1e-2*math.Pow(0.5, float64(worse))); res.Checkpoint.LR != want {
		t.Errorf("plateau rate %v after %d epochs without improvement, want %v", res.Checkpoint.LR, worse, want)
	}
	for _, bad := range []AEOptions{
		{Hidden: []int{5}, Latent: 2, Epochs: 1, Schedule: "step"},
		{Hidden: []int{5}, Latent: 2, Epochs: 1, MinLearningRate: 1e-4},
		{Hidden: []int{5}, Latent: 2, Epochs: 1, Schedule: Cosine, MinLearningRate: 1},
		{Hidden: []int{5}, Latent: 2, Epochs: 1, Schedule: Plateau, PlateauFactor: 1},
		{Hidden: []int{5}, Latent: 2, Epochs: 1, Schedule: Plateau, PlateauPatience: -1},
	} {
		if _, err := TrainAutoencoder(context.Background(), X, nil, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	// Resuming with another schedule is refused.
	o = base
	o.Checkpoint = constant.Checkpoint
	o.Epochs = 4
	o.Schedule = Cosine
	if _, err := TrainAutoencoder(context.Background(), X, nil, o); err == nil {
		t.Error("resumed a constant-schedule checkpoint with the cosine schedule")
	}
}

func BenchmarkConvTrainEpoch(b *testing.B) {
	X := travellingWaves(1000, 128, 1)
	spec := ConvSpec{Channels: []int{8, 16, 16}, Strides: []int{2, 2, 2}, Kernel: 5}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			opts := AEOptions{Latent: 32, Epochs: 1, Workers: workers, Seed: 1}
			for b.Loop() {
				if _, err := TrainConvAutoencoder(context.Background(), X, nil, spec, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
