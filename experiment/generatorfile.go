package experiment

import (
	"fmt"
	"strconv"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/store"
)

// GeneratorInfo is what a generator file records beside the weights.
type GeneratorInfo struct {
	// TrainLoss and ValidLoss are the training curve (autoencoder: mean
	// squared error per variable in normalised units, per epoch).
	TrainLoss, ValidLoss []float64
	// HeldOutMSE is the reconstruction error ‖G(E(x)) − x‖²/n on the
	// held-out part of the archive, in model units.
	HeldOutMSE float64
	// Model is the model the archive came from; Params its parameters.
	Model  string
	Params map[string]string
	// Config identifies the training config but for its heartbeat timeout (stored as
	// latentda.extra.train_config), so a changed config is not served a
	// stale generator.
	Config string
}

// Generator files are store tensor files (kind "generator") with these
// tensor names (weights are out × in, row-major, as torch.nn.Linear.weight):
//
//	pca:          mean [n], components [d, n], scales [d], total_variance [1]
//	autoencoder:  norm.mean [n], norm.std [n],
//	              encoder.<i>.weight [out, in], encoder.<i>.bias [out], i = 0, 1, ...
//	              decoder.<i>.weight [out, in], decoder.<i>.bias [out]
//	both:         curve.train_loss [epochs], curve.valid_loss [epochs]
//
// and metadata latentda.extra.generator_type (identity, pca, autoencoder),
// .state_dim, .latent_dim, .heldout_mse, and for the autoencoder
// .encoder.<i>.activation and .decoder.<i>.activation.
const (
	extraType      = "generator_type"
	extraStateDim  = "state_dim"
	extraLatentDim = "latent_dim"
	extraHeldOut   = "heldout_mse"
	extraConfig    = "train_config"
)

// SaveGenerator writes g and its training record to path, atomically.
func SaveGenerator(path string, g latent.Generator, info GeneratorInfo) error {
	extra := map[string]string{
		extraType:      g.Name(),
		extraStateDim:  strconv.Itoa(g.StateDim()),
		extraLatentDim: strconv.Itoa(g.LatentDim()),
		extraHeldOut:   strconv.FormatFloat(info.HeldOutMSE, 'g', -1, 64),
	}
	if info.Config != "" {
		extra[extraConfig] = info.Config
	}
	var ts []store.Tensor
	vec := func(name string, v []float64) {
		ts = append(ts, store.Tensor{Name: name, Shape: []int{len(v)}, Data: v})
	}
	switch g := g.(type) {
	case *latent.Identity:
	case *latent.PCA:
		p := g.Params()
		vec("mean", p.Mean)
		ts = append(ts, store.Tensor{Name: "components", Shape: []int{g.LatentDim(), g.StateDim()}, Data: p.Components})
		vec("scales", p.Scales)
		vec("total_variance", []float64{p.TotalVariance})
	case *latent.Autoencoder:
		norm := g.Normalization()
		vec("norm.mean", norm.Mean)
		vec("norm.std", norm.Std)
		enc, dec := g.Layers()
		for _, part := range []struct {
			name   string
			layers []latent.Layer
		}{{"encoder", enc}, {"decoder", dec}} {
			for i, l := range part.layers {
				key := part.name + "." + strconv.Itoa(i)
				extra[key+".activation"] = string(l.Activation)
				ts = append(ts, store.Tensor{Name: key + ".weight", Shape: []int{l.Out, l.In}, Data: l.W})
				vec(key+".bias", l.B)
			}
		}
	default:
		return fmt.Errorf("experiment: cannot save a %s generator", g.Name())
	}
	vec("curve.train_loss", info.TrainLoss)
	vec("curve.valid_loss", info.ValidLoss)
	meta := store.Meta{Kind: store.KindGenerator, Model: info.Model, Params: info.Params, Extra: extra}
	return store.WriteTensors(path, ts, meta)
}

// LoadGenerator reads a generator file.
func LoadGenerator(path string) (latent.Generator, GeneratorInfo, error) {
	ts, meta, err := store.ReadTensors(path, store.KindGenerator)
	if err != nil {
		return nil, GeneratorInfo{}, err
	}
	byName := map[string]store.Tensor{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("experiment: generator %s: %s", path, fmt.Sprintf(format, args...))
	}
	get := func(name string, shape ...int) ([]float64, error) {
		t, ok := byName[name]
		if !ok {
			return nil, bad("no tensor %q", name)
		}
		if len(shape) > 0 && fmt.Sprint(t.Shape) != fmt.Sprint(shape) {
			return nil, bad("tensor %q has shape %v, want %v", name, t.Shape, shape)
		}
		return t.Data, nil
	}
	atoi := func(key string) (int, error) {
		v, err := strconv.Atoi(meta.Extra[key])
		if err != nil || v < 1 {
			return 0, bad("metadata latentda.extra.%s = %q, want a positive integer", key, meta.Extra[key])
		}
		return v, nil
	}
	n, err := atoi(extraStateDim)
	if err != nil {
		return nil, GeneratorInfo{}, err
	}
	d, err := atoi(extraLatentDim)
	if err != nil {
		return nil, GeneratorInfo{}, err
	}
	info := GeneratorInfo{Model: meta.Model, Params: meta.Params, Config: meta.Extra[extraConfig]}
	info.HeldOutMSE, _ = strconv.ParseFloat(meta.Extra[extraHeldOut], 64)
	info.TrainLoss = byName["curve.train_loss"].Data
	info.ValidLoss = byName["curve.valid_loss"].Data

	var g latent.Generator
	switch typ := meta.Extra[extraType]; typ {
	case "identity":
		if d != n {
			return nil, info, bad("identity generator with state_dim %d and latent_dim %d", n, d)
		}
		g = latent.NewIdentity(n)
	case "pca":
		var p latent.PCAParams
		if p.Mean, err = get("mean", n); err != nil {
			return nil, info, err
		}
		if p.Components, err = get("components", d, n); err != nil {
			return nil, info, err
		}
		if p.Scales, err = get("scales", d); err != nil {
			return nil, info, err
		}
		tv, err := get("total_variance", 1)
		if err != nil {
			return nil, info, err
		}
		p.TotalVariance = tv[0]
		if g, err = latent.NewPCA(p); err != nil {
			return nil, info, bad("%v", err)
		}
	case "autoencoder":
		var norm latent.Normalization
		if norm.Mean, err = get("norm.mean", n); err != nil {
			return nil, info, err
		}
		if norm.Std, err = get("norm.std", n); err != nil {
			return nil, info, err
		}
		layers := func(part string) ([]latent.Layer, error) {
			var ls []latent.Layer
			for i := 0; ; i++ {
				key := part + "." + strconv.Itoa(i)
				w, ok := byName[key+".weight"]
				if !ok {
					return ls, nil
				}
				if len(w.Shape) != 2 {
					return nil, bad("tensor %q has shape %v, want [out, in]", key+".weight", w.Shape)
				}
				b, err := get(key+".bias", w.Shape[0])
				if err != nil {
					return nil, err
				}
				ls = append(ls, latent.Layer{In: w.Shape[1], Out: w.Shape[0], W: w.Data, B: b, Activation: latent.Activation(meta.Extra[key+".activation"])})
			}
		}
		enc, err := layers("encoder")
		if err != nil {
			return nil, info, err
		}
		dec, err := layers("decoder")
		if err != nil {
			return nil, info, err
		}
		ae, err := latent.NewAutoencoder(enc, dec, norm)
		if err != nil {
			return nil, info, bad("%v", err)
		}
		g = ae
	default:
		return nil, info, bad("unknown generator type %q (metadata latentda.extra.%s)", typ, extraType)
	}
	if g.StateDim() != n || g.LatentDim() != d {
		return nil, info, bad("weights give a %d → %d generator, metadata says %d → %d", g.LatentDim(), g.StateDim(), d, n)
	}
	return g, info, nil
}
