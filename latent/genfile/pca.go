package genfile

import "github.com/latentda/latentda/latent"

// pcaKind stores [latent.PCAParams] as scikit-learn holds them:
//
//	mean [n], components [d, n], scales [d], total_variance [1]
var pcaKind = kind{
	name: "pca",
	encode: func(w *writer, g latent.Generator) error {
		pca, ok := g.(*latent.PCA)
		if !ok {
			return errNotKind(g, "*latent.PCA")
		}
		p := pca.Params()
		w.vec("mean", p.Mean)
		w.tensor("components", p.Components, pca.LatentDim(), pca.StateDim())
		w.vec("scales", p.Scales)
		w.vec("total_variance", []float64{p.TotalVariance})
		return nil
	},
	decode: func(r *reader, n, d int) (latent.Generator, error) {
		var p latent.PCAParams
		var err error
		if p.Mean, err = r.get("mean", n); err != nil {
			return nil, err
		}
		if p.Components, err = r.get("components", d, n); err != nil {
			return nil, err
		}
		if p.Scales, err = r.get("scales", d); err != nil {
			return nil, err
		}
		tv, err := r.get("total_variance", 1)
		if err != nil {
			return nil, err
		}
		p.TotalVariance = tv[0]
		g, err := latent.NewPCA(p)
		if err != nil {
			return nil, r.bad("%v", err)
		}
		return g, nil
	},
}
