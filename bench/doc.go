// Package bench holds the latent benchmark drivers of `latentda bench`: the
// latent filters against the full-space ones (latent), the generators'
// reconstruction error against d (generators) and the cost of the latent
// analysis at large KS sizes (latent cost, used by bench/scale). Every experiment is built with
// experiment.Build or BuildWithGenerator from a config.Config, so a
// benchmark runs the same numerics as a run; the drivers add the grids, the
// timing and the Markdown reports.
//
// Subpackage dapper runs the DAPPER reference table (`latentda bench
// dapper`); subpackage ood scores the out-of-distribution detectors
// (`latentda bench ood`); subpackage scale times one large Lorenz-96 LETKF cycle per process
// and models a cycle split over many workers. bench imports experiment, the
// numerics, store and devserver; only cmd/latentda imports bench.
package bench
