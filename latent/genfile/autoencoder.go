package genfile

import (
	"strconv"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/neural"
)

// autoencoderKind stores a [neural.Autoencoder]'s normalisation and layers:
//
//	norm.mean [n], norm.std [n],
//	encoder.<i>.weight [out, in], encoder.<i>.bias [out], i = 0, 1, ...
//	decoder.<i>.weight [out, in], decoder.<i>.bias [out]
//
// with metadata latentda.extra.encoder.<i>.activation and
// .decoder.<i>.activation.
var autoencoderKind = kind{
	name: "autoencoder",
	encode: func(w *writer, g latent.Generator) error {
		ae, ok := g.(*neural.Autoencoder)
		if !ok {
			return errNotKind(g, "*neural.Autoencoder")
		}
		norm := ae.Normalization()
		w.vec("norm.mean", norm.Mean)
		w.vec("norm.std", norm.Std)
		enc, dec := ae.Layers()
		for _, part := range []struct {
			name   string
			layers []neural.Layer
		}{{"encoder", enc}, {"decoder", dec}} {
			for i, l := range part.layers {
				key := part.name + "." + strconv.Itoa(i)
				w.extra[key+".activation"] = string(l.Activation)
				w.tensor(key+".weight", l.W, l.Out, l.In)
				w.vec(key+".bias", l.B)
			}
		}
		return nil
	},
	decode: func(r *reader, n, _ int) (latent.Generator, error) {
		var norm neural.Normalization
		var err error
		if norm.Mean, err = r.get("norm.mean", n); err != nil {
			return nil, err
		}
		if norm.Std, err = r.get("norm.std", n); err != nil {
			return nil, err
		}
		enc, err := layers(r, "encoder")
		if err != nil {
			return nil, err
		}
		dec, err := layers(r, "decoder")
		if err != nil {
			return nil, err
		}
		ae, err := neural.NewAutoencoder(enc, dec, norm)
		if err != nil {
			return nil, r.bad("%v", err)
		}
		return ae, nil
	},
}

// layers reads the layers part.0, part.1, ... up to the first missing
// weight.
func layers(r *reader, part string) ([]neural.Layer, error) {
	var ls []neural.Layer
	for i := 0; ; i++ {
		key := part + "." + strconv.Itoa(i)
		w, ok := r.lookup(key + ".weight")
		if !ok {
			return ls, nil
		}
		if len(w.Shape) != 2 {
			return nil, r.bad("tensor %q has shape %v, want [out, in]", key+".weight", w.Shape)
		}
		b, err := r.get(key+".bias", w.Shape[0])
		if err != nil {
			return nil, err
		}
		ls = append(ls, neural.Layer{In: w.Shape[1], Out: w.Shape[0], W: w.Data, B: b, Activation: neural.Activation(r.extra[key+".activation"])})
	}
}
