package training

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/neural"
)

// pcaTrainYAML is a valid PCA training config for Lorenz-96.
const pcaTrainYAML = `
name: l96-pca
model: {name: lorenz96, nx: 40}
archive: {samples: 200, every: 5, spin_up: 10, seed: 3}
validation: 0.2
generator: {type: pca, latent_dim: 10}
`

// aeTrainYAML is a valid (tiny) autoencoder training config.
const aeTrainYAML = `
name: l96-ae
model: {name: lorenz96, nx: 8}
archive: {samples: 300, every: 5, spin_up: 10, seed: 3}
generator: {type: autoencoder, latent_dim: 4, hidden: [16], activation: tanh, epochs: 3, batch_size: 32, learning_rate: 0.003}
`

func mustParseTrain(t testing.TB, yaml string) TrainConfig {
	t.Helper()
	cfg, err := ParseTrain([]byte(yaml))
	if err != nil {
		t.Fatalf("ParseTrain: %v\n%s", err, yaml)
	}
	return cfg
}

func TestParseTrainValid(t *testing.T) {
	cfg := mustParseTrain(t, pcaTrainYAML)
	if cfg.Name != "l96-pca" || cfg.Model.Nx != 40 || cfg.Archive.Samples != 200 || cfg.Archive.Every != 5 ||
		cfg.Archive.SpinUp != 10 || cfg.Archive.Seed != 3 || cfg.Validation != 0.2 ||
		cfg.Generator.Type != "pca" || cfg.Generator.LatentDim != 10 {
		t.Errorf("unexpected config %+v", cfg)
	}
	// The model defaults are the experiment's.
	if cfg.Model.Dt != 0.05 || cfg.Model.Forcing != 8 {
		t.Errorf("model defaults not applied: %+v", cfg.Model)
	}

	// Documented defaults: archive every 10 and spin-up 100, validation
	// 0.1 (when left out: a written 0 is rejected, see below), the model's
	// nx, and for the autoencoder tanh, 100 epochs, batches of 64, Adam
	// at 1e-3 and seed 1. The type is case- and space-insensitive.
	cfg = mustParseTrain(t, `
name: ae
model: {name: lorenz96}
archive: {samples: 50}
generator: {type: " AutoEncoder ", latent_dim: 3}
`)
	g := cfg.Generator
	if cfg.Archive.Every != 10 || cfg.Archive.SpinUp != 100 || cfg.Validation != 0.1 || cfg.Model.Nx != 40 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if g.Type != "autoencoder" || g.Activation != "tanh" || g.Epochs != 100 || g.BatchSize != 64 ||
		g.LearningRate != 1e-3 || g.Seed != 1 || g.Patience != 0 || g.WeightDecay != 0 || len(g.Hidden) != 0 ||
		g.HeartbeatTimeout != 15*time.Minute {
		t.Errorf("autoencoder defaults not applied: %+v", g)
	}
	// The heartbeat timeout of the training activity, for both types.
	if g := mustParseTrain(t, pcaTrainYAML).Generator; g.HeartbeatTimeout != DefaultTrainHeartbeat {
		t.Errorf("pca heartbeat timeout %v, want the default %v", g.HeartbeatTimeout, DefaultTrainHeartbeat)
	}
	if g := mustParseTrain(t, strings.Replace(aeTrainYAML, "epochs: 3", "epochs: 3, heartbeat_timeout: 2s", 1)).Generator; g.HeartbeatTimeout != 2*time.Second {
		t.Errorf("heartbeat_timeout: 2s parsed as %v", g.HeartbeatTimeout)
	}
	// PCA by explained variance, without latent_dim.
	cfg = mustParseTrain(t, strings.Replace(pcaTrainYAML, "latent_dim: 10", "variance: 0.9", 1))
	if cfg.Generator.LatentDim != 0 || cfg.Generator.Variance != 0.9 {
		t.Errorf("pca by variance: %+v", cfg.Generator)
	}
	// The autoencoder options are the config's.
	opts := mustParseTrain(t, aeTrainYAML).AutoencoderOptions()
	if opts.Latent != 4 || !slices.Equal(opts.Hidden, []int{16}) || opts.Activation != neural.Tanh || opts.Epochs != 3 ||
		opts.BatchSize != 32 || opts.LearningRate != 0.003 || opts.Seed != 1 {
		t.Errorf("AutoencoderOptions %+v", opts)
	}
	// Defaults are idempotent: the config travels to the activities, which
	// apply them again.
	if again := cfg.WithDefaults(); fmt.Sprintf("%+v", again) != fmt.Sprintf("%+v", cfg) {
		t.Errorf("WithDefaults is not idempotent:\n%+v\n%+v", cfg, again)
	}
}

// An external model is validated without starting it (its program need
// not exist yet), and nx is its state size.
func TestParseTrainExternal(t *testing.T) {
	cfg := mustParseTrain(t, strings.Replace(pcaTrainYAML, "name: lorenz96, nx: 40", "name: external, command: [./not-built-yet], state_size: 40, dt: 0.05", 1))
	if cfg.Model.Nx != 40 || cfg.Model.Processes != 1 || cfg.Model.Timeout != config.DefaultExternalTimeout {
		t.Errorf("external model defaults not applied: %+v", cfg.Model)
	}
}

func TestParseTrainRejects(t *testing.T) {
	pca := func(old, new string) string { return strings.Replace(pcaTrainYAML, old, new, 1) }
	ae := func(old, new string) string { return strings.Replace(aeTrainYAML, old, new, 1) }
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty config"},
		{"only a comment", "# nothing\n", "empty config"},
		{"bad YAML", "{{{", "invalid YAML"},
		{"key written twice", pca("seed: 3}", "seed: 3}\narchive: {samples: 100}"), `invalid YAML: line 5: mapping key "archive" already defined at line 4`},
		{"wrong type", pca("samples: 200", "samples: many"), "archive.samples: line 4: want an integer, got many"},
		{"unknown field", pcaTrainYAML + "colour: red\n", "colour: line 7: unknown key; the keys at the top level are name, model, archive, validation, generator"},
		{"unknown nested field", pca("latent_dim: 10", "latent_dims: 10"), "generator.latent_dims: line 6: unknown key; the keys under generator are type, latent_dim,"},
		{"experiment field", pcaTrainYAML + "cycles: 10\n", "cycles: line 7: unknown key"},
		{"no name", pca("name: l96-pca", "name: ' '"), "name: required"},
		{"name with a slash", pca("name: l96-pca", "name: gen/l96"), "name: required, a plain name"},
		{"name with a backslash", pca("name: l96-pca", `name: 'gen\l96'`), "name: required, a plain name"},
		{"name escaping", pca("name: l96-pca", "name: ../l96"), "name: required, a plain name"},
		{"no model", pca("name: lorenz96, ", ""), `model.name: unknown model ""`},
		{"unknown model", pca("name: lorenz96", "name: lorenz84"), `model.name: unknown model "lorenz84"`},
		{"external without command", pca("name: lorenz96, nx: 40", "name: external, state_size: 40, dt: 0.05"), "model: external: command: required"},
		{"external with forcing", pca("name: lorenz96, nx: 40", "name: external, command: [./m], state_size: 40, dt: 0.05, forcing: 8"), "model: forcing, length, sigma, rho and beta are not parameters of model external"},
		{"external nx and state size", pca("name: lorenz96, nx: 40", "name: external, command: [./m], state_size: 40, dt: 0.05, nx: 20"), "model.nx: 20 differs from model.state_size 40"},
		{"external no state size", pca("name: lorenz96, nx: 40", "name: external, command: [./m], dt: 0.05"), "model.state_size: required by model external (its number of variables, >= 1)"},
		{"external state size 0", pca("name: lorenz96, nx: 40", "name: external, command: [./m], dt: 0.05, state_size: 0"), "model: external: state_size: must be >= 1"},
		{"command for a built-in model", pca("nx: 40", "nx: 40, command: [./m]"), "model: command, env, workdir, state_size, processes, timeout and transport are for model external, not lorenz96"},
		{"samples < 10", pca("samples: 200", "samples: 9"), "archive.samples: need at least 10 snapshots, got 9"},
		{"no samples", pca("samples: 200, ", ""), "archive.samples: required (the number of snapshots, >= 10)"},
		{"samples 0", pca("samples: 200", "samples: 0"), "archive.samples: need at least 10 snapshots, got 0"},
		{"external without dt", pca("name: lorenz96, nx: 40", "name: external, command: [./m], state_size: 40"), "model.dt: required by model external (its time step, > 0)"},
		{"every < 1", pca("every: 5", "every: -1"), "archive.every: must be >= 1"},
		{"negative spin-up", pca("spin_up: 10", "spin_up: -1"), "archive.spin_up"},
		{"infinite spin-up", pca("spin_up: 10", "spin_up: .inf"), "archive.spin_up"},
		{"NaN spin-up", pca("spin_up: 10", "spin_up: .nan"), "archive.spin_up"},
		{"validation 1", pca("validation: 0.2", "validation: 1"), "validation: must be a fraction in (0, 1), got 1"},
		{"validation > 1", pca("validation: 0.2", "validation: 1.5"), "validation: must be a fraction"},
		{"negative validation", pca("validation: 0.2", "validation: -0.1"), "validation: must be a fraction"},
		{"NaN validation", pca("validation: 0.2", "validation: .nan"), "validation: must be a fraction"},
		{"validation 0 written", pca("validation: 0.2", "validation: 0"), "validation: line 5: 0 means unset here, which takes the default 0.1"},
		{"second document", pcaTrainYAML + "---\nname: other\n", "a second YAML document; a config file holds one document"},
		{"no generator type", pca("type: pca, ", ""), `generator.type: want pca, quadratic, autoencoder or conv, got ""`},
		{"unknown generator type", pca("type: pca", "type: vae"), `generator.type: want pca, quadratic, autoencoder or conv, got "vae"`},
		{"pca without latent_dim or variance", pca("latent_dim: 10", "seed: 0"), "generator.latent_dim: pca needs latent_dim >= 1 or variance in (0, 1]"},
		{"pca variance > 1", pca("latent_dim: 10", "variance: 1.5"), "generator.variance: must lie in (0, 1] (the fraction of the variance the components keep), got 1.5"},
		{"pca negative variance", pca("latent_dim: 10", "variance: -0.5"), "generator.variance: must lie in (0, 1]"},
		{"pca NaN variance", pca("latent_dim: 10", "variance: .nan"), "generator.variance: must lie in (0, 1]"},
		{"pca negative latent_dim", pca("latent_dim: 10", "latent_dim: -2"), "generator.latent_dim: pca needs"},
		{"pca with epochs", pca("latent_dim: 10", "latent_dim: 10, epochs: 5"), "generator.epochs: is for autoencoder and conv, not pca"},
		{"pca with a seed", pca("latent_dim: 10", "latent_dim: 10, seed: 2"), "generator.seed: is for autoencoder and conv, not pca"},
		{"autoencoder with variance", strings.Replace(aeTrainYAML, "epochs: 3", "epochs: 3, variance: 0.9", 1), "generator.variance: is for pca, not autoencoder (which takes latent_dim)"},
		{"pca latent_dim and variance", pca("latent_dim: 10", "latent_dim: 10, variance: 0.9"), "generator.variance: pca takes latent_dim or variance, not both (latent_dim 10, variance 0.9)"},
		{"pca latent_dim > nx", pca("latent_dim: 10", "latent_dim: 41"), "generator.latent_dim: 41 exceeds the state dimension 40"},
		{"lorenz63 latent_dim > 3", strings.Replace(pca("name: lorenz96, nx: 40", "name: lorenz63"), "latent_dim: 10", "latent_dim: 4", 1), "generator.latent_dim: 4 exceeds the state dimension 3"},
		{"autoencoder latent_dim 0", ae("latent_dim: 4", "latent_dim: 0"), "generator.latent_dim: must be >= 1, got 0"},
		{"autoencoder no latent_dim", ae("latent_dim: 4, ", ""), "generator.latent_dim: required by type autoencoder (the latent dimension d, >= 1)"},
		{"autoencoder latent_dim > nx", ae("latent_dim: 4", "latent_dim: 9"), "generator.latent_dim: 9 exceeds the state dimension 8"},
		{"hidden width 0", ae("hidden: [16]", "hidden: [16, 0]"), "generator.hidden: widths must be >= 1, got [16 0]"},
		{"negative hidden width", ae("hidden: [16]", "hidden: [-3]"), "generator.hidden: widths must be >= 1"},
		{"bad activation", ae("activation: tanh", "activation: sigmoid"), `generator.activation: want one of [linear tanh relu gelu softplus], got "sigmoid"`},
		{"negative epochs", ae("epochs: 3", "epochs: -1"), "generator: need epochs >= 1"},
		{"negative batch size", ae("batch_size: 32", "batch_size: -1"), "generator: need epochs >= 1, batch_size >= 1"},
		{"negative learning rate", ae("learning_rate: 0.003", "learning_rate: -1"), "learning_rate > 0"},
		{"NaN learning rate", ae("learning_rate: 0.003", "learning_rate: .nan"), "learning_rate > 0"},
		{"negative patience", ae("epochs: 3", "epochs: 3, patience: -1"), "patience >= 0"},
		{"negative weight decay", ae("epochs: 3", "epochs: 3, weight_decay: -1e-4"), "weight_decay >= 0"},
		{"heartbeat timeout short", ae("epochs: 3", "epochs: 3, heartbeat_timeout: 500ms"), "generator.heartbeat_timeout: must be a duration of at least 1s (such as 30s or 15m), got 500ms"},
		{"negative heartbeat timeout", pca("latent_dim: 10", "latent_dim: 10, heartbeat_timeout: -1m"), "generator.heartbeat_timeout: must be a duration of at least 1s"},
		{"heartbeat timeout without unit", ae("epochs: 3", "epochs: 3, heartbeat_timeout: 30"), "generator.heartbeat_timeout: line 5: want a duration such as 30s or 2m, got 30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseTrain([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v (config %+v), want one containing %q", err, cfg, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
		})
	}
}

func TestLoadTrain(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.train.yaml")
	if err := os.WriteFile(good, []byte(pcaTrainYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err := LoadTrain(good); err != nil || cfg.Name != "l96-pca" {
		t.Fatalf("LoadTrain: %+v, %v", cfg, err)
	}
	bad := filepath.Join(dir, "bad.train.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(pcaTrainYAML, "samples: 200", "samples: 3", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Errors name the file and the field.
	if _, err := LoadTrain(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "archive.samples") {
		t.Errorf("LoadTrain of an invalid config: %v, want an error naming %s and archive.samples", err, bad)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := LoadTrain(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("LoadTrain of a missing file: %v", err)
	}
}

// FuzzParseTrain checks that no input makes ParseTrain panic and that an
// accepted config is valid, keeps its defaults and satisfies what the
// activities rely on (a plain name for the file name, a known generator, a
// latent dimension within the state dimension, a proper validation split).
func FuzzParseTrain(f *testing.F) {
	f.Add([]byte(pcaTrainYAML))
	f.Add([]byte(aeTrainYAML))
	f.Add([]byte(strings.Replace(aeTrainYAML, "epochs: 3", "epochs: 3, heartbeat_timeout: 2s", 1)))
	f.Add([]byte(strings.Replace(pcaTrainYAML, "latent_dim: 10", "variance: 0.99", 1)))
	f.Add([]byte("name: x\nmodel: {name: lorenz63}\narchive: {samples: 10}\ngenerator: {type: pca, latent_dim: 3}\n"))
	f.Add([]byte("name: x\nmodel: {name: ks, nx: 16}\narchive: {samples: 10, every: 1, spin_up: 0}\nvalidation: 0.5\ngenerator: {type: autoencoder, latent_dim: 16, hidden: [], activation: linear}\n"))
	f.Add([]byte("name: x/y\n"))
	f.Add([]byte("[1, 2]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseTrain(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v\n%+v", err, cfg)
		}
		if again := cfg.WithDefaults(); fmt.Sprintf("%+v", again) != fmt.Sprintf("%+v", cfg) {
			t.Fatalf("defaults not idempotent:\n%+v\n%+v", cfg, again)
		}
		g := cfg.Generator
		switch {
		case cfg.Name == "" || strings.ContainsAny(cfg.Name, `/\`):
			t.Fatalf("accepted name %q", cfg.Name)
		case g.Type != "pca" && g.Type != "autoencoder":
			t.Fatalf("accepted generator type %q", g.Type)
		case g.LatentDim > cfg.Model.Nx:
			t.Fatalf("accepted latent_dim %d > nx %d", g.LatentDim, cfg.Model.Nx)
		case g.Type == "autoencoder" && (g.LatentDim < 1 || g.Epochs < 1 || g.BatchSize < 1 || !(g.LearningRate > 0)):
			t.Fatalf("accepted autoencoder %+v", g)
		case !(cfg.Validation > 0 && cfg.Validation < 1):
			t.Fatalf("accepted validation %v", cfg.Validation)
		case cfg.Archive.Samples < 10 || cfg.Archive.Every < 1:
			t.Fatalf("accepted archive %+v", cfg.Archive)
		case g.HeartbeatTimeout < time.Second:
			t.Fatalf("accepted heartbeat_timeout %v", g.HeartbeatTimeout)
		}
		if g.Type == "autoencoder" {
			if !slices.Contains(neural.Activations, neural.Activation(g.Activation)) {
				t.Fatalf("accepted activation %q", g.Activation)
			}
		}
	})
}

func TestSplitArchive(t *testing.T) {
	X := mat.NewDense(20, 3, nil)
	for i := range 20 {
		X.SetRow(i, []float64{float64(i), float64(10 * i), float64(-i)})
	}
	for _, tc := range []struct {
		validation float64
		nv         int
	}{
		{0.1, 2},
		{0.2, 4},
		{0.5, 10},
		{0.125, 3}, // 2.5 rounds away from zero
		{0.01, 1},  // at least one snapshot is held out
		{0.9, 18},
	} {
		cfg := TrainConfig{Validation: tc.validation}
		train, valid := cfg.SplitArchive(X)
		mt, nt := train.Dims()
		mv, nvc := valid.Dims()
		if mv != tc.nv || mt != 20-tc.nv || nt != 3 || nvc != 3 {
			t.Errorf("validation %v: split %d×%d + %d×%d, want %d + %d rows of 3", tc.validation, mt, nt, mv, nvc, 20-tc.nv, tc.nv)
			continue
		}
		// The validation part is the end of the archive in time: a
		// held-out continuation, not a random subset.
		for i := range mt {
			if train.At(i, 0) != float64(i) || train.At(i, 1) != float64(10*i) {
				t.Errorf("validation %v: training row %d is %v", tc.validation, i, train.RawRowView(i))
			}
		}
		for i := range mv {
			if want := float64(mt + i); valid.At(i, 0) != want || valid.At(i, 2) != -want {
				t.Errorf("validation %v: validation row %d is %v, want snapshot %v", tc.validation, i, valid.RawRowView(i), want)
			}
		}
	}
}

// l96Archive builds an archive of Lorenz-96 with nx variables.
func l96Archive(t testing.TB, nx, samples int, seed uint64) *mat.Dense {
	t.Helper()
	X, _, err := experiment.BuildArchive(context.Background(), config.Config{Model: config.ModelConfig{Name: "lorenz96", Nx: nx}},
		experiment.ArchiveOptions{Samples: samples, Every: 5, SpinUp: 10, Seed: seed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return X
}

func TestReconstructionError(t *testing.T) {
	X := l96Archive(t, 40, 400, 1)
	m, n := X.Dims()
	if e := latent.ReconstructionError(latent.NewIdentity(n), X); e != 0 {
		t.Errorf("identity reconstruction error %v, want 0", e)
	}
	var meanSquare float64
	for _, v := range X.RawMatrix().Data {
		meanSquare += v * v
	}
	meanSquare /= float64(m * n)

	// Full rank (d = n): G(E(x)) = x up to round-off, ~ (ε·|x|)².
	cfg := mustParseTrain(t, pcaTrainYAML)
	cfg.Generator.LatentDim = n
	train, valid := cfg.SplitArchive(X)
	full, err := FitPCAGenerator(cfg, train)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]*mat.Dense{"training": train, "held-out": valid} {
		if e := latent.ReconstructionError(full, data); !(e >= 0 && e < 1e-20*meanSquare) {
			t.Errorf("full-rank PCA reconstruction error on the %s data %v, want < 1e-20 × %v", name, e, meanSquare)
		}
	}

	// Truncated: on the training data the error is the variance of the
	// discarded components, (m−1)/m · (total − Σ σₖ²) per element, and it
	// decreases with d.
	mt, _ := train.Dims()
	prev := math.Inf(1)
	for _, d := range []int{2, 5, 10, 20, 39} {
		cfg.Generator.LatentDim = d
		p, err := FitPCAGenerator(cfg, train)
		if err != nil {
			t.Fatal(err)
		}
		var kept float64
		for _, v := range p.ExplainedVariance() {
			kept += v
		}
		want := (p.Params().TotalVariance - kept) * float64(mt-1) / float64(mt*n)
		got := latent.ReconstructionError(p, train)
		if math.Abs(got-want) > 1e-9*want {
			t.Errorf("d = %d: training reconstruction error %v, want the discarded variance %v", d, got, want)
		}
		if held := latent.ReconstructionError(p, valid); !(held < prev) {
			t.Errorf("d = %d: held-out error %v not below %v of the smaller d", d, held, prev)
		} else {
			prev = held
		}
	}

	// By variance: the smallest d explaining the fraction.
	cfg.Generator.LatentDim, cfg.Generator.Variance = 0, 0.9
	p, err := FitPCAGenerator(cfg, train)
	if err != nil {
		t.Fatal(err)
	}
	var cum float64
	ratios := p.ExplainedVarianceRatio()
	for _, r := range ratios {
		cum += r
	}
	if d := p.LatentDim(); d < 1 || d >= n || cum < 0.9-1e-12 || cum-ratios[d-1] >= 0.9 {
		t.Errorf("variance 0.9 gave d = %d explaining %v", d, cum)
	}
}
