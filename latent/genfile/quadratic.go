package genfile

import (
	"strconv"

	"github.com/latentda/latentda/latent"
)

// quadraticKind stores [latent.QuadraticParams]: the PCA part with the
// tensors of pcaKind, then
//
//	quadratic [n, d(d+1)/2], quad_mean [d(d+1)/2], lambda [1]
//
// (W row-major, the monomials in latent.Quadratic's order) and metadata
// latentda.extra.encoder_iter.
var quadraticKind = kind{
	name: "quadratic",
	encode: func(w *writer, g latent.Generator) error {
		q, ok := g.(*latent.Quadratic)
		if !ok {
			return errNotKind(g, "*latent.Quadratic")
		}
		p := q.Params()
		pca, err := latent.NewPCA(p.PCA)
		if err != nil {
			return err
		}
		if err := pcaKind.encode(w, pca); err != nil {
			return err
		}
		w.tensor("quadratic", p.Quadratic, q.StateDim(), len(p.QuadMean))
		w.vec("quad_mean", p.QuadMean)
		w.vec("lambda", []float64{p.Lambda})
		w.extra[extraEncoderIter] = strconv.Itoa(p.EncoderIter)
		return nil
	},
	decode: func(r *reader, n, d int) (latent.Generator, error) {
		pca, err := pcaKind.decode(r, n, d)
		if err != nil {
			return nil, err
		}
		p := latent.QuadraticParams{PCA: pca.(*latent.PCA).Params()}
		np := d * (d + 1) / 2
		if p.Quadratic, err = r.get("quadratic", n, np); err != nil {
			return nil, err
		}
		if p.QuadMean, err = r.get("quad_mean", np); err != nil {
			return nil, err
		}
		lambda, err := r.get("lambda", 1)
		if err != nil {
			return nil, err
		}
		p.Lambda = lambda[0]
		if p.EncoderIter, err = r.positive(extraEncoderIter); err != nil {
			return nil, err
		}
		g, err := latent.NewQuadratic(p)
		if err != nil {
			return nil, r.bad("%v", err)
		}
		return g, nil
	},
}

// extraEncoderIter is the metadata key of the quadratic generator's
// Gauss–Newton iterations.
const extraEncoderIter = "encoder_iter"
