package training

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent/neural"
)

// TestReconstructionCurve measures the held-out reconstruction RMSE against
// d of the generators on the KS archive of examples/ks-pca.train.yaml and
// on a Lorenz-96 archive of the same size. It takes tens of minutes, so it
// runs only when asked:
//
//	LATENTDA_RECON=ks,l96 LATENTDA_RECON_EPOCHS=40 go test ./training -run ReconstructionCurve -v -timeout 4h
//
// LATENTDA_RECON_KINDS and LATENTDA_RECON_DIMS (comma-separated) narrow it.
func TestReconstructionCurve(t *testing.T) {
	models := os.Getenv("LATENTDA_RECON")
	if models == "" {
		t.Skip("set LATENTDA_RECON=ks,l96 to measure")
	}
	epochs := 40
	if v := os.Getenv("LATENTDA_RECON_EPOCHS"); v != "" {
		var err error
		if epochs, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	kinds := neural.ReconstructionKinds
	if v := os.Getenv("LATENTDA_RECON_KINDS"); v != "" {
		kinds = strings.Split(v, ",")
	}
	dims := []int{8, 16, 24, 32}
	if v := os.Getenv("LATENTDA_RECON_DIMS"); v != "" {
		dims = nil
		for _, f := range strings.Split(v, ",") {
			d, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			dims = append(dims, d)
		}
	}
	ks, err := LoadTrain("../examples/ks-pca.train.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l96 := ks
	l96.Model = config.Config{Model: config.ModelConfig{Name: "lorenz96", Nx: 40}}.WithDefaults().Model
	l96.Archive = experiment.ArchiveOptions{Samples: ks.Archive.Samples, Every: 5, SpinUp: 100, Seed: 11}
	for _, m := range strings.Split(models, ",") {
		tc := map[string]TrainConfig{"ks": ks, "l96": l96}[m]
		conv := neural.ConvSpec{Channels: []int{8, 16, 16}, Strides: []int{2, 2, 2}, Kernel: 5}
		if m == "l96" {
			conv = neural.ConvSpec{Channels: []int{8, 16}, Strides: []int{2, 2}, Kernel: 5}
		}
		X, _, err := experiment.BuildArchive(context.Background(), config.Config{Model: tc.Model}, tc.Archive, nil)
		if err != nil {
			t.Fatal(err)
		}
		train, valid := tc.SplitArchive(X)
		rows, err := neural.ReconstructionCurve(context.Background(), train, valid, neural.ReconstructionOptions{
			Dims: dims, Kinds: kinds, Conv: conv,
			AE: neural.AEOptions{Hidden: []int{256, 128}, Epochs: epochs, LearningRate: 2e-3,
				Schedule: neural.Cosine, Patience: 10, Seed: 1},
			Progress: func(r neural.ReconstructionRow) {
				t.Logf("%s %-11s d=%2d rmse %.4f rel_mse %.4f epochs %d (best %d) %.0fs",
					m, r.Kind, r.Dim, r.RMSE, r.RelMSE, r.Epochs, r.BestEpoch, r.Seconds)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		// The linear generators improve with d, and the quadratic one
		// never loses to the PCA it extends.
		rmse := map[string]map[int]float64{}
		for _, r := range rows {
			if rmse[r.Kind] == nil {
				rmse[r.Kind] = map[int]float64{}
			}
			rmse[r.Kind][r.Dim] = r.RMSE
		}
		for i, d := range dims {
			if q, p := rmse["quadratic"][d], rmse["pca"][d]; q != 0 && p != 0 && !(q <= p) {
				t.Errorf("%s d=%d: quadratic %v, PCA %v", m, d, q, p)
			}
			if p, ok := rmse["pca"][d]; ok && i > 0 && !(p < rmse["pca"][dims[i-1]]) {
				t.Errorf("%s: PCA RMSE %v at d=%d, %v at d=%d", m, p, d, rmse["pca"][dims[i-1]], dims[i-1])
			}
		}
	}
}
