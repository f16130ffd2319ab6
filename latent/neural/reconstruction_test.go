package neural

import (
	"context"
	"math"
	"testing"

	"github.com/latentda/latentda/latent"
)

func TestReconstructionCurve(t *testing.T) {
	// Travelling waves are a 4-parameter family: PCA needs 4 components
	// (two phases of each harmonic) to represent them exactly.
	X := travellingWaves(120, 16, 1)
	V := travellingWaves(40, 16, 2)
	var seen int
	opts := ReconstructionOptions{
		Dims:  []int{2, 4},
		Kinds: ReconstructionKinds,
		AE:    AEOptions{Hidden: []int{8}, Epochs: 2, BatchSize: 32, Seed: 1},
		Conv:  ConvSpec{Channels: []int{2}, Strides: []int{2}, Kernel: 3},
		Progress: func(ReconstructionRow) {
			seen++
		},
	}
	rows, err := ReconstructionCurve(context.Background(), X, V, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 || seen != 8 {
		t.Fatalf("%d rows, %d reported, want 8", len(rows), seen)
	}
	for i, r := range rows {
		if want := ReconstructionKinds[i/2]; r.Kind != want || r.Dim != opts.Dims[i%2] {
			t.Errorf("row %d is %s d=%d, want %s d=%d", i, r.Kind, r.Dim, want, opts.Dims[i%2])
		}
		// RMSE² / RelMSE is the held-out variance per variable, the
		// same for every row (the waves' mean square, about 1.2).
		if v := r.RMSE * r.RMSE / r.RelMSE; r.RMSE > 1e-6 && !(math.Abs(v-rows[0].RMSE*rows[0].RMSE/rows[0].RelMSE) < 1e-12 && v > 0.5 && v < 2.5) {
			t.Errorf("row %d: RMSE %v, relative MSE %v: variance %v", i, r.RMSE, r.RelMSE, v)
		}
		if (r.Kind == "autoencoder" || r.Kind == "conv") != (r.Epochs == 2) {
			t.Errorf("row %d: %s trained %d epochs", i, r.Kind, r.Epochs)
		}
	}
	if pca4 := rows[1]; !(pca4.RMSE < 1e-10) {
		t.Errorf("PCA d=4 held-out RMSE %v on a 4-dimensional subspace, want round-off", pca4.RMSE)
	}
	if pca2 := rows[0]; !(pca2.RelMSE > 0.01) {
		t.Errorf("PCA d=2 relative MSE %v, want the missing harmonic's share", pca2.RelMSE)
	}
	for _, bad := range []ReconstructionOptions{
		{Kinds: []string{"pca"}},
		{Dims: []int{2}},
		{Dims: []int{2}, Kinds: []string{"vae"}},
		{Dims: []int{2}, Kinds: []string{"pca"}, AE: AEOptions{Latent: 3}},
		{Dims: []int{2}, Kinds: []string{"pca"}, Quadratic: latent.QuadraticOptions{Dim: 3}},
	} {
		if _, err := ReconstructionCurve(context.Background(), X, V, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := ReconstructionCurve(context.Background(), X, nil, opts); err == nil {
		t.Error("no error without held-out data")
	}
}
