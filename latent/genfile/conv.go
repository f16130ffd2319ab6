package genfile

import (
	"strconv"
	"strings"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/neural"
)

// convKind stores a [neural.ConvAutoencoder]:
//
//	norm.mean [n], norm.std [n], params [P]
//
// with params the layers in order, each as its weights (torch layouts:
// Conv1d out × in × k, ConvTranspose1d in × out × k, Linear out × in)
// followed by its biases, and metadata latentda.extra.conv.channels and
// .conv.strides (comma-separated), .conv.kernel and .activation.
var convKind = kind{
	name: "conv",
	encode: func(w *writer, g latent.Generator) error {
		c, ok := g.(*neural.ConvAutoencoder)
		if !ok {
			return errNotKind(g, "*neural.ConvAutoencoder")
		}
		p := c.Params()
		w.vec("norm.mean", p.Norm.Mean)
		w.vec("norm.std", p.Norm.Std)
		w.vec("params", p.Params)
		w.extra[extraConvChannels] = joinInts(p.Spec.Channels)
		w.extra[extraConvStrides] = joinInts(p.Spec.Strides)
		w.extra[extraConvKernel] = strconv.Itoa(p.Spec.Kernel)
		w.extra[extraActivation] = string(p.Activation)
		return nil
	},
	decode: func(r *reader, n, d int) (latent.Generator, error) {
		p := neural.ConvParams{StateDim: n, Latent: d, Activation: neural.Activation(r.extra[extraActivation])}
		var err error
		if p.Norm.Mean, err = r.get("norm.mean", n); err != nil {
			return nil, err
		}
		if p.Norm.Std, err = r.get("norm.std", n); err != nil {
			return nil, err
		}
		params, ok := r.lookup("params")
		if !ok || len(params.Shape) != 1 {
			return nil, r.bad("no tensor \"params\" of one dimension")
		}
		p.Params = params.Data
		if p.Spec.Channels, err = splitInts(r, extraConvChannels); err != nil {
			return nil, err
		}
		if p.Spec.Strides, err = splitInts(r, extraConvStrides); err != nil {
			return nil, err
		}
		if p.Spec.Kernel, err = r.positive(extraConvKernel); err != nil {
			return nil, err
		}
		g, err := neural.NewConvAutoencoder(p)
		if err != nil {
			return nil, r.bad("%v", err)
		}
		return g, nil
	},
}

// Metadata keys of the convolutional autoencoder.
const (
	extraConvChannels = "conv.channels"
	extraConvStrides  = "conv.strides"
	extraConvKernel   = "conv.kernel"
	extraActivation   = "activation"
)

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// splitInts reads the metadata value of key as comma-separated positive
// integers.
func splitInts(r *reader, key string) ([]int, error) {
	var v []int
	for _, f := range strings.Split(r.extra[key], ",") {
		x, err := strconv.Atoi(f)
		if err != nil || x < 1 {
			return nil, r.bad("metadata latentda.extra.%s = %q, want comma-separated positive integers", key, r.extra[key])
		}
		v = append(v, x)
	}
	return v, nil
}
