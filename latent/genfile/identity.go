package genfile

import "github.com/latentda/latentda/latent"

// identityKind stores no tensors: latent_dim = state_dim.
var identityKind = kind{
	name: "identity",
	encode: func(_ *writer, g latent.Generator) error {
		if _, ok := g.(*latent.Identity); !ok {
			return errNotKind(g, "*latent.Identity")
		}
		return nil
	},
	decode: func(r *reader, n, d int) (latent.Generator, error) {
		if d != n {
			return nil, r.bad("identity generator with state_dim %d and latent_dim %d", n, d)
		}
		return latent.NewIdentity(n), nil
	},
}
