// Package training describes the training of a generator, the
// *.train.yaml side of latentda ([TrainConfig]): the model whose
// simulations make the archive (built by experiment.BuildArchive), the
// held-out split, and the PCA, quadratic or (convolutional) autoencoder
// generator fitted to it. Generator files are read and written by package
// latent/genfile.
package training

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/neural"
)

// TrainConfig describes how to train a generator: the model whose
// simulations make the archive, the archive, and the generator.
type TrainConfig struct {
	// Name labels the generator (and its file, generators/<name>.arrow).
	Name    string                    `yaml:"name" json:"name"`
	Model   config.ModelConfig        `yaml:"model" json:"model"`
	Archive experiment.ArchiveOptions `yaml:"archive" json:"archive"`
	// Validation is the fraction of the archive, at its end in time, held
	// out to stop training early and to report the reconstruction error
	// (default 0.1).
	Validation float64         `yaml:"validation" json:"validation"`
	Generator  GeneratorConfig `yaml:"generator" json:"generator"`
}

// GeneratorConfig selects and tunes the generator.
type GeneratorConfig struct {
	// Type is pca, quadratic, autoencoder or conv.
	Type string `yaml:"type" json:"type"`
	// LatentDim is d. For pca, 0 picks the smallest d explaining Variance.
	LatentDim int     `yaml:"latent_dim" json:"latent_dim"`
	Variance  float64 `yaml:"variance" json:"variance"`
	// Autoencoder: hidden widths, activation (tanh, relu, gelu, softplus,
	// linear; default tanh), Adam settings,
	// early stopping patience (epochs), weight decay and seed.
	Hidden       []int   `yaml:"hidden" json:"hidden"`
	Activation   string  `yaml:"activation" json:"activation"`
	Epochs       int     `yaml:"epochs" json:"epochs"`
	BatchSize    int     `yaml:"batch_size" json:"batch_size"`
	LearningRate float64 `yaml:"learning_rate" json:"learning_rate"`
	Patience     int     `yaml:"patience" json:"patience"`
	WeightDecay  float64 `yaml:"weight_decay" json:"weight_decay"`
	Seed         uint64  `yaml:"seed" json:"seed"`
	// Autoencoder and conv: the learning-rate schedule (constant, cosine
	// or plateau; default constant) and its options (see neural.Schedule).
	// The new fields are left out of the recorded config when unset, so
	// generator files trained before them keep their config key.
	Schedule        string  `yaml:"schedule" json:"schedule,omitempty"`
	MinLearningRate float64 `yaml:"min_learning_rate" json:"min_learning_rate,omitempty"`
	PlateauFactor   float64 `yaml:"plateau_factor" json:"plateau_factor,omitempty"`
	PlateauPatience int     `yaml:"plateau_patience" json:"plateau_patience,omitempty"`
	// Conv: the channels and strides of the convolution stages and the odd
	// kernel width (defaults [8, 16, 16], [2, 2, 2] and 5); the Adam
	// settings, activation and seed are the autoencoder's.
	Channels []int `yaml:"channels" json:"channels,omitempty"`
	Strides  []int `yaml:"strides" json:"strides,omitempty"`
	Kernel   int   `yaml:"kernel" json:"kernel,omitempty"`
	// Quadratic: the candidate relative regularisation weights (default
	// latent.DefaultQuadraticLambdas; the held-out split picks one) and
	// the encoder's Gauss–Newton iterations (default 5).
	Lambdas     []float64 `yaml:"lambdas" json:"lambdas,omitempty"`
	EncoderIter int       `yaml:"encoder_iter" json:"encoder_iter,omitempty"`
	// HeartbeatTimeout is how long the training activity may go without a
	// heartbeat before Temporal retries it on another worker: the time to
	// detect a dead worker (default 15m, at least 1s). It does not change
	// the generator, so it is not part of the config the generator file
	// records.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout" json:"heartbeat_timeout,omitempty"`
}

// DefaultTrainHeartbeat is GeneratorConfig.HeartbeatTimeout's default.
const DefaultTrainHeartbeat = 15 * time.Minute

// LoadTrain reads and validates a training config file.
func LoadTrain(path string) (TrainConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return TrainConfig{}, fmt.Errorf("training: %w", err)
	}
	cfg, err := ParseTrain(data)
	if err != nil {
		return TrainConfig{}, fmt.Errorf("training: %s: %w", path, err)
	}
	return cfg, nil
}

// ParseTrain decodes a training config strictly, applies the defaults and
// validates it.
func ParseTrain(data []byte) (TrainConfig, error) {
	var cfg TrainConfig
	if err := config.DecodeStrict(data, &cfg); err != nil {
		return TrainConfig{}, err
	}
	full := cfg.WithDefaults()
	if err := config.Replaced(data, cfg, full); err != nil {
		return TrainConfig{}, err
	}
	if err := config.Missing(data, full.required()...); err != nil {
		return TrainConfig{}, err
	}
	return full, full.Validate()
}

// required lists the keys c must write (see [config.Missing]).
func (c TrainConfig) required() []config.Required {
	keys := append([]config.Required{{Key: "archive.samples", Want: "(the number of snapshots, >= 10)"}}, c.Model.Required()...)
	switch t := c.Generator.Type; t {
	case "quadratic", "autoencoder", "conv":
		keys = append(keys, config.Required{Key: "generator.latent_dim", Want: fmt.Sprintf("by type %s (the latent dimension d, >= 1)", t)})
	}
	return keys
}

// WithDefaults fills in the documented defaults.
func (c TrainConfig) WithDefaults() TrainConfig {
	c.Model = config.Config{Model: c.Model}.WithDefaults().Model
	c.Archive.WithDefaults()
	if c.Validation == 0 {
		c.Validation = 0.1
	}
	g := &c.Generator
	g.Type = strings.ToLower(strings.TrimSpace(g.Type))
	if g.HeartbeatTimeout == 0 {
		g.HeartbeatTimeout = DefaultTrainHeartbeat
	}
	if g.Type == "conv" && g.Channels == nil && g.Strides == nil {
		g.Channels, g.Strides = []int{8, 16, 16}, []int{2, 2, 2}
	}
	if g.Type == "conv" && g.Kernel == 0 {
		g.Kernel = 5
	}
	if g.Type == "quadratic" && g.EncoderIter == 0 {
		g.EncoderIter = latent.DefaultQuadraticEncoderIter
	}
	if g.Type == "autoencoder" || g.Type == "conv" {
		if g.Activation == "" {
			g.Activation = "tanh"
		}
		if g.Epochs == 0 {
			g.Epochs = 100
		}
		if g.BatchSize == 0 {
			g.BatchSize = 64
		}
		if g.LearningRate == 0 {
			g.LearningRate = 1e-3
		}
		if g.Seed == 0 {
			g.Seed = 1
		}
	}
	return c
}

// Validate reports the first invalid field.
func (c TrainConfig) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(c.Name) == "" || strings.ContainsAny(c.Name, `/\`) {
		return bad("name", "required, a plain name such as ks-ae32")
	}
	switch c.Model.Name {
	case "lorenz63", "lorenz96", "ks", "external":
	default:
		return bad("model.name", "unknown model %q (want lorenz63, lorenz96, ks or external)", c.Model.Name)
	}
	if c.Model.Name == "lorenz63" && c.Model.Nx != 3 {
		return bad("model.nx", "lorenz63 has 3 variables, got %d", c.Model.Nx)
	}
	if err := c.Model.ValidateExternal(); err != nil {
		return err
	}
	if c.Model.Name != "external" { // an external model is checked without starting it
		if _, err := experiment.NewModel(c.Model); err != nil {
			return bad("model", "%v", err)
		}
	}
	a := c.Archive
	if a.Samples < 10 {
		return bad("archive.samples", "need at least 10 snapshots, got %d", a.Samples)
	}
	if a.Every < 1 {
		return bad("archive.every", "must be >= 1 model steps, got %d", a.Every)
	}
	if !(a.SpinUp >= 0) || math.IsInf(a.SpinUp, 0) {
		return bad("archive.spin_up", "must be a finite time >= 0, got %v", a.SpinUp)
	}
	if !(c.Validation > 0 && c.Validation < 1) {
		return bad("validation", "must be a fraction in (0, 1), got %v", c.Validation)
	}
	if nv := max(1, int(math.Round(c.Validation*float64(a.Samples)))); a.Samples-nv < 2 {
		return bad("validation", "%v of %d snapshots leaves %d to train on; need at least 2", c.Validation, a.Samples, a.Samples-nv)
	}
	g := c.Generator
	switch g.Type {
	case "pca":
		switch {
		case g.LatentDim < 0 || (g.LatentDim == 0 && g.Variance == 0):
			return bad("generator.latent_dim", "pca needs latent_dim >= 1 or variance in (0, 1]")
		case g.LatentDim == 0 && !(g.Variance > 0 && g.Variance <= 1):
			return bad("generator.variance", "must lie in (0, 1] (the fraction of the variance the components keep), got %v", g.Variance)
		case g.LatentDim > 0 && g.Variance != 0:
			return bad("generator.variance", "pca takes latent_dim or variance, not both (latent_dim %d, variance %v)", g.LatentDim, g.Variance)
		}
	case "quadratic":
		if g.LatentDim < 1 {
			return bad("generator.latent_dim", "must be >= 1, got %d", g.LatentDim)
		}
		for _, l := range g.Lambdas {
			if !(l >= 0) || math.IsInf(l, 0) {
				return bad("generator.lambdas", "must be finite and >= 0, got %v", g.Lambdas)
			}
		}
		if g.EncoderIter < 1 {
			return bad("generator.encoder_iter", "must be >= 1, got %d", g.EncoderIter)
		}
	case "autoencoder", "conv":
		if g.LatentDim < 1 {
			return bad("generator.latent_dim", "must be >= 1, got %d", g.LatentDim)
		}
		if g.Type == "conv" {
			if len(g.Hidden) > 0 {
				return bad("generator.hidden", "is for the autoencoder; conv takes channels, strides and kernel")
			}
			if err := g.convSpec().Validate(c.Model.Nx); err != nil {
				return bad("generator.channels", "%v (strides %v, kernel %d, %d grid points)", err, g.Strides, g.Kernel, c.Model.Nx)
			}
		}
		for _, h := range g.Hidden {
			if h < 1 {
				return bad("generator.hidden", "widths must be >= 1, got %v", g.Hidden)
			}
		}
		if !slices.Contains(neural.Activations, neural.Activation(g.Activation)) {
			return bad("generator.activation", "want one of %v, got %q", neural.Activations, g.Activation)
		}
		if g.Epochs < 1 || g.BatchSize < 1 || !(g.LearningRate > 0) || g.Patience < 0 || !(g.WeightDecay >= 0) {
			return bad("generator", "need epochs >= 1, batch_size >= 1, learning_rate > 0, patience >= 0, weight_decay >= 0")
		}
		if err := c.AutoencoderOptions().Check(); err != nil {
			return bad("generator", "%v", err)
		}
	default:
		return bad("generator.type", "want pca, quadratic, autoencoder or conv, got %q", g.Type)
	}
	if g.Type != "conv" && (g.Channels != nil || g.Strides != nil || g.Kernel != 0) {
		return bad("generator.channels", "channels, strides and kernel are for conv, not %s", g.Type)
	}
	if g.Type != "quadratic" && (g.Lambdas != nil || g.EncoderIter != 0) {
		return bad("generator.lambdas", "lambdas and encoder_iter are for quadratic, not %s", g.Type)
	}
	if g.Type != "pca" && g.Variance != 0 {
		return bad("generator.variance", "is for pca, not %s (which takes latent_dim)", g.Type)
	}
	if g.Type != "autoencoder" && g.Type != "conv" {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"hidden", g.Hidden != nil}, {"activation", g.Activation != ""}, {"epochs", g.Epochs != 0}, {"batch_size", g.BatchSize != 0},
			{"learning_rate", g.LearningRate != 0}, {"patience", g.Patience != 0}, {"weight_decay", g.WeightDecay != 0}, {"seed", g.Seed != 0},
		} {
			if k.set {
				return bad("generator."+k.key, "is for autoencoder and conv, not %s", g.Type)
			}
		}
	}
	if g.Type != "autoencoder" && g.Type != "conv" && (g.Schedule != "" || g.MinLearningRate != 0 || g.PlateauFactor != 0 || g.PlateauPatience != 0) {
		return bad("generator.schedule", "the learning-rate schedule is for autoencoder and conv, not %s", g.Type)
	}
	if g.HeartbeatTimeout < time.Second {
		return bad("generator.heartbeat_timeout", "must be a duration of at least 1s (such as 30s or 15m), got %v", g.HeartbeatTimeout)
	}
	if g.LatentDim > c.Model.Nx {
		return bad("generator.latent_dim", "%d exceeds the state dimension %d", g.LatentDim, c.Model.Nx)
	}
	return nil
}

// SplitArchive returns the training and validation parts of an archive:
// the last Validation fraction of the snapshots (a held-out continuation in
// time) is for validation.
func (c TrainConfig) SplitArchive(X *mat.Dense) (train, valid *mat.Dense) {
	m, _ := X.Dims()
	nv := max(1, int(math.Round(c.Validation*float64(m))))
	return X.Slice(0, m-nv, 0, X.RawMatrix().Cols).(*mat.Dense), X.Slice(m-nv, m, 0, X.RawMatrix().Cols).(*mat.Dense)
}

// FitPCAGenerator fits the PCA generator a training config asks for.
func FitPCAGenerator(c TrainConfig, train *mat.Dense) (*latent.PCA, error) {
	if c.Generator.LatentDim > 0 {
		return latent.FitPCA(train, latent.PCAOptions{Dim: c.Generator.LatentDim})
	}
	return latent.FitPCA(train, latent.PCAOptions{Variance: c.Generator.Variance})
}

// AutoencoderOptions converts the config to the trainer's options.
func (c TrainConfig) AutoencoderOptions() neural.AEOptions {
	g := c.Generator
	return neural.AEOptions{
		Hidden: g.Hidden, Latent: g.LatentDim, Activation: neural.Activation(g.Activation),
		Epochs: g.Epochs, BatchSize: g.BatchSize, LearningRate: g.LearningRate,
		Patience: g.Patience, WeightDecay: g.WeightDecay, Seed: g.Seed,
		Schedule: neural.Schedule(g.Schedule), MinLearningRate: g.MinLearningRate,
		PlateauFactor: g.PlateauFactor, PlateauPatience: g.PlateauPatience,
	}
}

func (g GeneratorConfig) convSpec() neural.ConvSpec {
	return neural.ConvSpec{Channels: g.Channels, Strides: g.Strides, Kernel: g.Kernel}
}

// FitQuadraticGenerator fits the quadratic generator a training config
// asks for, choosing its regularisation on valid.
func FitQuadraticGenerator(c TrainConfig, train, valid *mat.Dense) (*latent.Quadratic, error) {
	g := c.Generator
	return latent.FitQuadratic(train, valid, latent.QuadraticOptions{Dim: g.LatentDim, Lambdas: g.Lambdas, EncoderIter: g.EncoderIter})
}

// TrainNetworkGenerator trains the autoencoder or convolutional
// autoencoder a training config asks for, reporting each epoch to progress
// and resuming from resume if not nil.
func TrainNetworkGenerator(ctx context.Context, c TrainConfig, train, valid *mat.Dense, progress func(neural.EpochStats) error, resume *neural.Checkpoint) (latent.Generator, neural.TrainRecord, error) {
	if c.Generator.Type != "conv" {
		res, err := TrainAutoencoderGenerator(ctx, c, train, valid, progress, resume)
		if res == nil {
			return nil, neural.TrainRecord{}, err
		}
		return res.Model, res.TrainRecord, err
	}
	opts := c.AutoencoderOptions()
	opts.Progress = progress
	opts.Checkpoint = resume
	res, err := neural.TrainConvAutoencoder(ctx, train, valid, c.Generator.convSpec(), opts)
	if res == nil {
		return nil, neural.TrainRecord{}, err
	}
	return res.Model, res.TrainRecord, err
}

// TrainAutoencoderGenerator trains the autoencoder a training config asks
// for (with [neural.TrainAutoencoder]), reporting each epoch to progress
// and resuming from resume if not nil.
func TrainAutoencoderGenerator(ctx context.Context, c TrainConfig, train, valid *mat.Dense, progress func(neural.EpochStats) error, resume *neural.Checkpoint) (*neural.TrainResult, error) {
	opts := c.AutoencoderOptions()
	opts.Progress = progress
	opts.Checkpoint = resume
	return neural.TrainAutoencoder(ctx, train, valid, opts)
}
