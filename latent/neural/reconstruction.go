package neural

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent"
)

// ReconstructionKinds are the generators ReconstructionCurve fits.
var ReconstructionKinds = []string{"pca", "quadratic", "autoencoder", "conv"}

// ReconstructionOptions configures ReconstructionCurve.
type ReconstructionOptions struct {
	// Dims are the latent dimensions d to fit.
	Dims []int
	// Kinds are the generators, among ReconstructionKinds.
	Kinds []string
	// AE trains the MLP autoencoder ("autoencoder") and, with Hidden
	// ignored, the convolutional one ("conv"). Latent must be 0: it is set
	// to each d.
	AE AEOptions
	// Conv is the convolutional architecture.
	Conv ConvSpec
	// Quadratic fits the quadratic generator. Dim must be 0: it is set to
	// each d.
	Quadratic latent.QuadraticOptions
	// Progress, if not nil, receives each row as it is measured.
	Progress func(ReconstructionRow)
}

// ReconstructionRow is the held-out reconstruction error of one generator.
type ReconstructionRow struct {
	Kind string `json:"generator"`
	Dim  int    `json:"d"`
	// RMSE is √(‖G(E(x)) − x‖²/n) averaged over the held-out states, in
	// the state's units; RelMSE is the mean squared error over the
	// held-out states' variance per variable (the fraction of the variance
	// not represented).
	RMSE   float64 `json:"rmse"`
	RelMSE float64 `json:"rel_mse"`
	// Epochs is the number of training epochs (autoencoders; BestEpoch the
	// one kept), Seconds the fitting time.
	Epochs    int     `json:"epochs,omitempty"`
	BestEpoch int     `json:"best_epoch,omitempty"`
	Seconds   float64 `json:"seconds"`
}

// ReconstructionCurve fits each generator kind of opts at each latent
// dimension to train (with valid as the held-out split for early stopping
// and for the quadratic fit's regularisation) and returns the held-out
// reconstruction errors on valid, by kind then dimension.
func ReconstructionCurve(ctx context.Context, train, valid *mat.Dense, opts ReconstructionOptions) ([]ReconstructionRow, error) {
	switch {
	case len(opts.Dims) == 0 || len(opts.Kinds) == 0:
		return nil, errors.New("neural: ReconstructionCurve: need dimensions and kinds")
	case opts.AE.Latent != 0 || opts.Quadratic.Dim != 0:
		return nil, errors.New("neural: ReconstructionCurve: leave AE.Latent and Quadratic.Dim at 0; Dims sets them")
	case valid == nil || valid.IsEmpty():
		return nil, errors.New("neural: ReconstructionCurve: need held-out data")
	}
	for _, k := range opts.Kinds {
		if !slices.Contains(ReconstructionKinds, k) {
			return nil, fmt.Errorf("neural: ReconstructionCurve: unknown kind %q (want one of %v)", k, ReconstructionKinds)
		}
	}
	m, n := valid.Dims()
	var variance float64
	for j := 0; j < n; j++ {
		var s, ss float64
		for i := 0; i < m; i++ {
			s += valid.At(i, j)
		}
		mean := s / float64(m)
		for i := 0; i < m; i++ {
			e := valid.At(i, j) - mean
			ss += e * e
		}
		variance += ss / float64(m)
	}
	variance /= float64(n)

	var rows []ReconstructionRow
	for _, kind := range opts.Kinds {
		for _, d := range opts.Dims {
			start := time.Now()
			row := ReconstructionRow{Kind: kind, Dim: d}
			var g latent.Generator
			var err error
			switch kind {
			case "pca":
				g, err = latent.FitPCA(train, latent.PCAOptions{Dim: d})
			case "quadratic":
				o := opts.Quadratic
				o.Dim = d
				g, err = latent.FitQuadratic(train, valid, o)
			case "autoencoder":
				o := opts.AE
				o.Latent = d
				var res *TrainResult
				if res, err = TrainAutoencoder(ctx, train, valid, o); err == nil {
					g, row.Epochs, row.BestEpoch = res.Model, len(res.Curve), res.BestEpoch
				}
			case "conv":
				o := opts.AE
				o.Latent, o.Hidden = d, nil
				var res *ConvTrainResult
				if res, err = TrainConvAutoencoder(ctx, train, valid, opts.Conv, o); err == nil {
					g, row.Epochs, row.BestEpoch = res.Model, len(res.Curve), res.BestEpoch
				}
			}
			if err != nil {
				return rows, fmt.Errorf("neural: ReconstructionCurve: %s d=%d: %w", kind, d, err)
			}
			row.Seconds = time.Since(start).Seconds()
			mse := latent.ReconstructionError(g, valid)
			row.RMSE, row.RelMSE = math.Sqrt(mse), mse/variance
			rows = append(rows, row)
			if opts.Progress != nil {
				opts.Progress(row)
			}
		}
	}
	return rows, nil
}
