package genfile_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/latent/neural"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/trainfile"
)

// fitQuadraticFile fits a quadratic generator of dimension 6 to a
// Lorenz-96 archive of 16 variables.
func fitQuadraticFile(t *testing.T) (*latent.Quadratic, genfile.Info, *mat.Dense) {
	t.Helper()
	X := l96Archive(t, 16, 400, 4)
	train, valid := split(X, 80)
	q, err := latent.FitQuadratic(train, valid, latent.QuadraticOptions{Dim: 6, EncoderIter: 3})
	if err != nil {
		t.Fatal(err)
	}
	info := l96Info("16")
	info.HeldOutMSE = latent.ReconstructionError(q, valid)
	return q, info, X
}

// trainConv trains a small convolutional autoencoder 16 → 4 (two stages,
// 2 epochs) on a Lorenz-96 archive of 16 variables.
func trainConv(t *testing.T) (*neural.ConvAutoencoder, genfile.Info, *mat.Dense) {
	t.Helper()
	X := l96Archive(t, 16, 300, 5)
	train, valid := split(X, 30)
	res, err := neural.TrainConvAutoencoder(context.Background(), train, valid,
		neural.ConvSpec{Channels: []int{3, 4}, Strides: []int{2, 2}, Kernel: 3},
		neural.AEOptions{Latent: 4, Activation: neural.GELU, Epochs: 2, BatchSize: 32, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	info := l96Info("16")
	for _, e := range res.Curve {
		info.TrainLoss = append(info.TrainLoss, e.TrainLoss)
		info.ValidLoss = append(info.ValidLoss, e.ValidLoss)
	}
	info.HeldOutMSE = latent.ReconstructionError(res.Model, valid)
	return res.Model, info, X
}

func TestGeneratorFileQuadratic(t *testing.T) {
	q, info, X := fitQuadraticFile(t)
	path := roundTrip(t, q, info, X)
	got, _, err := genfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.(*latent.Quadratic).Params(), q.Params()) {
		t.Error("quadratic parameters changed in the round trip")
	}
}

func TestGeneratorFileConv(t *testing.T) {
	c, info, X := trainConv(t)
	path := roundTrip(t, c, info, X)
	got, _, err := genfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.(*neural.ConvAutoencoder).Params(), c.Params()) {
		t.Error("convolutional parameters changed in the round trip")
	}
}

func TestLoadErrorsNewKinds(t *testing.T) {
	dir := t.TempDir()
	q, qinfo, _ := fitQuadraticFile(t)
	qPath := filepath.Join(dir, "quadratic.arrow")
	if err := genfile.Save(qPath, q, qinfo); err != nil {
		t.Fatal(err)
	}
	c, cinfo, _ := trainConv(t)
	cPath := filepath.Join(dir, "conv.arrow")
	if err := genfile.Save(cPath, c, cinfo); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{qPath, cPath} {
		if _, _, err := genfile.Load(f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	cases := []struct {
		name, src string
		edit      func([]trainfile.Tensor, *store.Meta) []trainfile.Tensor
		want      string
	}{
		{"quadratic without W", qPath, dropTensor("quadratic"), `no tensor "quadratic"`},
		{"quadratic without lambda", qPath, dropTensor("lambda"), `no tensor "lambda"`},
		{"quadratic without PCA mean", qPath, dropTensor("mean"), `no tensor "mean"`},
		{"quadratic W transposed", qPath, editTensor("quadratic", func(t *trainfile.Tensor) { t.Shape = []int{21, 16} }),
			`tensor "quadratic" has shape [21 16], want [16 21]`},
		{"quadratic negative lambda", qPath, editTensor("lambda", func(t *trainfile.Tensor) { t.Data[0] = -1 }), "Lambda must be finite and ≥ 0"},
		{"quadratic no encoder iterations", qPath, setExtra("encoder_iter", "0"), `latentda.extra.encoder_iter = "0"`},
		{"quadratic latent_dim mismatch", qPath, setExtra("latent_dim", "5"), `tensor "components" has shape [6 16], want [5 16]`},
		{"conv without params", cPath, dropTensor("params"), `no tensor "params"`},
		{"conv short params", cPath, editTensor("params", func(t *trainfile.Tensor) { t.Shape, t.Data = []int{len(t.Data) - 1}, t.Data[1:] }),
			"finite parameters"},
		{"conv strides not numbers", cPath, setExtra("conv.strides", "2,x"), `latentda.extra.conv.strides = "2,x"`},
		{"conv stride does not divide", cPath, setExtra("conv.strides", "3,2"), "does not divide"},
		{"conv even kernel", cPath, setExtra("conv.kernel", "4"), "kernel width must be odd"},
		{"conv unknown activation", cPath, setExtra("activation", "swish"), `unknown activation "swish"`},
		{"conv state_dim mismatch", cPath, setExtra("state_dim", "17"), `tensor "norm.mean" has shape [16], want [17]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := rewrite(t, c.src, strings.ReplaceAll(c.name, " ", "-"), c.edit)
			g, _, err := genfile.Load(path)
			if err == nil {
				t.Fatalf("loaded a %s %d → %d generator", g.Name(), g.LatentDim(), g.StateDim())
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one naming %s and containing %q", err, path, c.want)
			}
		})
	}
}
