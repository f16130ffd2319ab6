package training

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/latent/neural"
)

// quadTrainYAML and convTrainYAML are valid (tiny) configs of the
// quadratic and convolutional generators.
const quadTrainYAML = `
name: l96-quad
model: {name: lorenz96, nx: 16}
archive: {samples: 300, every: 5, spin_up: 10, seed: 3}
generator: {type: quadratic, latent_dim: 6, lambdas: [0, 0.001, 0.1], encoder_iter: 3}
`

const convTrainYAML = `
name: l96-conv
model: {name: lorenz96, nx: 16}
archive: {samples: 300, every: 5, spin_up: 10, seed: 3}
generator: {type: conv, latent_dim: 4, channels: [3, 4], strides: [2, 2], kernel: 3, activation: gelu, epochs: 4, batch_size: 32,
  learning_rate: 0.003, schedule: plateau, plateau_patience: 1, plateau_factor: 0.5, min_learning_rate: 0.0001}
`

func TestTrainConfigNewGenerators(t *testing.T) {
	q := mustParseTrain(t, quadTrainYAML)
	if g := q.Generator; g.Type != "quadratic" || g.LatentDim != 6 || !slices.Equal(g.Lambdas, []float64{0, 0.001, 0.1}) || g.EncoderIter != 3 {
		t.Errorf("quadratic config %+v", g)
	}
	c := mustParseTrain(t, convTrainYAML)
	opts := c.AutoencoderOptions()
	if opts.Schedule != neural.Plateau || opts.PlateauPatience != 1 || opts.PlateauFactor != 0.5 || opts.MinLearningRate != 1e-4 ||
		opts.Activation != neural.GELU || opts.Epochs != 4 {
		t.Errorf("conv options %+v", opts)
	}
	if s := c.Generator.convSpec(); !slices.Equal(s.Channels, []int{3, 4}) || !slices.Equal(s.Strides, []int{2, 2}) || s.Kernel != 3 {
		t.Errorf("conv spec %+v", s)
	}
	// Defaults: the conv architecture, the encoder's iterations.
	d := mustParseTrain(t, strings.Replace(convTrainYAML, "channels: [3, 4], strides: [2, 2], kernel: 3, ", "", 1))
	if s := d.Generator.convSpec(); !slices.Equal(s.Channels, []int{8, 16, 16}) || !slices.Equal(s.Strides, []int{2, 2, 2}) || s.Kernel != 5 {
		t.Errorf("default conv spec %+v", s)
	}
	e := mustParseTrain(t, strings.Replace(quadTrainYAML, ", encoder_iter: 3", "", 1))
	if e.Generator.EncoderIter != latent.DefaultQuadraticEncoderIter || e.Generator.Lambdas == nil {
		t.Errorf("default quadratic config %+v", e.Generator)
	}
	// JSON round trip (as Temporal carries the config).
	for _, cfg := range []TrainConfig{q, c} {
		data, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var back TrainConfig
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Errorf("config changed in a JSON round trip:\n%+v\n%+v", cfg, back)
		}
	}
	// The new fields stay out of the JSON of configs that do not set them,
	// so the config keys of generator files trained before them hold.
	data, err := json.Marshal(mustParseTrain(t, aeTrainYAML).Generator)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"schedule", "channels", "strides", "kernel", "lambdas", "encoder_iter", "plateau", "min_learning_rate"} {
		if strings.Contains(string(data), key) {
			t.Errorf("autoencoder config JSON has %q: %s", key, data)
		}
	}
}

func TestParseTrainRejectsNewGenerators(t *testing.T) {
	quad := func(old, new string) string { return strings.Replace(quadTrainYAML, old, new, 1) }
	conv := func(old, new string) string { return strings.Replace(convTrainYAML, old, new, 1) }
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"quadratic without latent_dim", quad("latent_dim: 6, ", ""), "generator.latent_dim: required by type quadratic (the latent dimension d, >= 1)"},
		{"quadratic latent_dim 0", quad("latent_dim: 6", "latent_dim: 0"), "generator.latent_dim: must be >= 1, got 0"},
		{"quadratic negative lambda", quad("0.001", "-0.001"), "generator.lambdas: must be finite and >= 0"},
		{"quadratic negative iterations", quad("encoder_iter: 3", "encoder_iter: -1"), "generator.encoder_iter: must be >= 1, got -1"},
		{"quadratic latent_dim > nx", quad("latent_dim: 6", "latent_dim: 17"), "generator.latent_dim: 17 exceeds the state dimension 16"},
		{"quadratic with a schedule", quad("encoder_iter: 3", "encoder_iter: 3, schedule: cosine"), "generator.schedule: the learning-rate schedule is for autoencoder and conv, not quadratic"},
		{"quadratic with channels", quad("encoder_iter: 3", "encoder_iter: 3, channels: [2]"), "generator.channels: channels, strides and kernel are for conv, not quadratic"},
		{"pca with lambdas", strings.Replace(pcaTrainYAML, "latent_dim: 10", "latent_dim: 10, lambdas: [0]", 1), "generator.lambdas: lambdas and encoder_iter are for quadratic, not pca"},
		{"conv stride does not divide", conv("strides: [2, 2]", "strides: [3, 2]"), "generator.channels: stage 0: stride 3 does not divide the grid length 16"},
		{"conv even kernel", conv("kernel: 3", "kernel: 4"), "generator.channels: kernel width must be odd"},
		{"conv strides missing", conv("strides: [2, 2], ", ""), "generator.channels: 0 strides for 2 stages"},
		{"conv with hidden", conv("kernel: 3", "kernel: 3, hidden: [8]"), "generator.hidden: is for the autoencoder"},
		{"conv unknown schedule", conv("schedule: plateau", "schedule: step"), `generator: option Schedule must be one of [constant cosine plateau], got "step"`},
		{"conv plateau factor 1", conv("plateau_factor: 0.5", "plateau_factor: 1"), "generator: option PlateauFactor must be in (0, 1), got 1"},
		{"conv min rate above rate", conv("min_learning_rate: 0.0001", "min_learning_rate: 0.1"), "generator: option MinLearningRate must be in (0, LearningRate"},
		{"constant schedule with a floor", conv("schedule: plateau, plateau_patience: 1, plateau_factor: 0.5, ", ""), "generator: options MinLearningRate, PlateauFactor and PlateauPatience need a cosine or plateau Schedule"},
		{"autoencoder with kernel", strings.Replace(aeTrainYAML, "hidden: [16]", "hidden: [16], kernel: 3", 1), "generator.channels: channels, strides and kernel are for conv, not autoencoder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTrain([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestTrainNewGenerators fits both new generators from their configs,
// resumes the conv training from a mid-run checkpoint to the same weights,
// and round-trips both through a generator file.
func TestTrainNewGenerators(t *testing.T) {
	ctx := context.Background()
	for _, yaml := range []string{quadTrainYAML, convTrainYAML} {
		cfg := mustParseTrain(t, yaml)
		X, _, err := experiment.BuildArchive(ctx, config.Config{Model: cfg.Model}, cfg.Archive, nil)
		if err != nil {
			t.Fatal(err)
		}
		train, valid := cfg.SplitArchive(X)
		var g latent.Generator
		var info genfile.Info
		if cfg.Generator.Type == "quadratic" {
			q, err := FitQuadraticGenerator(cfg, train, valid)
			if err != nil {
				t.Fatal(err)
			}
			g = q
		} else {
			var mid *neural.Checkpoint
			model, rec, err := TrainNetworkGenerator(ctx, cfg, train, valid, func(st neural.EpochStats) error {
				if st.Epoch == 2 {
					mid = st.Checkpoint()
				}
				return nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, resumed, err := TrainNetworkGenerator(ctx, cfg, train, valid, nil, mid)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(resumed.Checkpoint, rec.Checkpoint) {
				t.Error("conv training resumed from epoch 2 differs from the uninterrupted run")
			}
			g = model
			for _, e := range rec.Curve {
				info.TrainLoss = append(info.TrainLoss, e.TrainLoss)
				info.ValidLoss = append(info.ValidLoss, e.ValidLoss)
			}
		}
		info.HeldOutMSE = latent.ReconstructionError(g, valid)
		path := filepath.Join(t.TempDir(), cfg.Name+".arrow")
		if err := genfile.Save(path, g, info); err != nil {
			t.Fatal(err)
		}
		back, backInfo, err := genfile.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.Name() != cfg.Generator.Type || backInfo.HeldOutMSE != info.HeldOutMSE || latent.ReconstructionError(back, valid) != info.HeldOutMSE {
			t.Errorf("%s: loaded %s with held-out MSE %v (recorded %v), want %v", cfg.Name, back.Name(),
				latent.ReconstructionError(back, valid), backInfo.HeldOutMSE, info.HeldOutMSE)
		}
	}
}
