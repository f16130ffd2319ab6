package neural

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent/internal/check"
)

// Adam hyper-parameters other than the learning rate (Kingma and Ba 2015).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// Defaults of AEOptions.
const (
	DefaultBatchSize    = 64
	DefaultShardSize    = 32
	DefaultLearningRate = 1e-3
)

// Schedule names a learning-rate schedule of TrainAutoencoder. The rate of
// Adam's steps in epoch e (from 0) is
//
//	constant: lr
//	cosine:   lr_min + (lr − lr_min)(1 + cos(π e/E))/2,   E = Epochs
//	plateau:  lr, multiplied by PlateauFactor (not below lr_min) whenever
//	          PlateauPatience epochs in a row have not lowered the best
//	          validation loss (the count restarts after each reduction),
//	          as torch.optim.lr_scheduler.ReduceLROnPlateau with
//	          threshold 0 and patience PlateauPatience − 1.
type Schedule string

// The schedules.
const (
	Constant Schedule = "constant"
	Cosine   Schedule = "cosine"
	Plateau  Schedule = "plateau"
)

// Schedules lists the schedules in a stable order.
var Schedules = []Schedule{Constant, Cosine, Plateau}

// Defaults of the schedule options.
const (
	DefaultMinLearningRateRatio = 0.01 // MinLearningRate = 0.01·LearningRate
	DefaultPlateauFactor        = 0.5
	DefaultPlateauPatience      = 5
)

// CheckpointVersion is the version of the Checkpoint layout written by this
// package.
const CheckpointVersion = 1

// AEOptions configures TrainAutoencoder.
type AEOptions struct {
	// Hidden are the widths of the encoder's hidden layers, n → Hidden[0] →
	// … → Hidden[k−1] → Latent; the decoder mirrors them, Latent →
	// Hidden[k−1] → … → Hidden[0] → n. May be empty (a linear autoencoder).
	Hidden []int
	// Latent is the code dimension d ≥ 1.
	Latent int
	// Activation of the hidden layers (default Tanh). The code layer and the
	// output layer are linear.
	Activation Activation
	// Epochs is the maximum number of passes over the training data (≥ 1),
	// counting those already in Checkpoint.
	Epochs int
	// BatchSize is the number of samples per Adam step (default 64). The
	// last batch of an epoch may be smaller.
	BatchSize int
	// ShardSize is the number of samples per gradient shard (default 32).
	// Each batch is cut into shards of ShardSize consecutive samples whose
	// gradients are computed independently and summed in shard order, so
	// the result depends on ShardSize but not on Workers.
	ShardSize int
	// LearningRate of Adam (default 1e-3), the initial one under a
	// schedule.
	LearningRate float64
	// Schedule of the learning rate (default Constant).
	Schedule Schedule
	// MinLearningRate is lr_min of the cosine and plateau schedules, in
	// (0, LearningRate] (default DefaultMinLearningRateRatio·LearningRate).
	MinLearningRate float64
	// PlateauFactor in (0, 1) and PlateauPatience ≥ 1 tune the plateau
	// schedule (defaults DefaultPlateauFactor, DefaultPlateauPatience).
	PlateauFactor   float64
	PlateauPatience int
	// WeightDecay μ ≥ 0 adds (μ/2)‖W‖² over all weight matrices (not the
	// biases) to the minimised loss. The reported losses exclude it.
	WeightDecay float64
	// Patience stops training after this many consecutive epochs without a
	// strict decrease of the validation loss (0: never stop early).
	Patience int
	// Seed of the weight initialisation and of the shuffling.
	Seed uint64
	// Workers is the number of goroutines computing shard gradients
	// (default GOMAXPROCS). It does not change the result.
	Workers int
	// Progress, if not nil, is called after every epoch; a non-nil error
	// stops training, and TrainAutoencoder returns it (wrapped) together
	// with the result so far.
	Progress func(EpochStats) error
	// Checkpoint, if not nil, resumes training from the state it holds. The
	// options fixing the trajectory (Hidden, Latent, Activation, BatchSize,
	// ShardSize, LearningRate, WeightDecay, Seed, the schedule's options and,
	// for the cosine schedule, Epochs) and the data must be those of the run
	// that wrote it.
	Checkpoint *Checkpoint
}

// EpochStats reports one epoch of training. Losses are mean squared errors
// per variable in normalised units.
type EpochStats struct {
	Epoch     int     `json:"epoch"`      // number of completed epochs, from 1
	TrainLoss float64 `json:"train_loss"` // mean over the epoch's batches, before each step
	ValidLoss float64 `json:"valid_loss"` // on the validation set after the epoch (= TrainLoss without one)
	BestEpoch int     `json:"best_epoch"` // epoch of the lowest ValidLoss so far
	BestLoss  float64 `json:"best_loss"`  // that loss

	snapshot func() *Checkpoint
}

// Checkpoint returns the training state after this epoch, for resuming. It
// is only available on the stats passed to Progress, during the call; it
// returns nil otherwise.
func (s EpochStats) Checkpoint() *Checkpoint {
	if s.snapshot == nil {
		return nil
	}
	return s.snapshot()
}

// Checkpoint is the complete state of a training run after an epoch, as
// plain numbers and slices so that any package can store it (encoding/json
// round-trips it exactly). Resuming from a checkpoint written after epoch k
// reproduces bit for bit the run that continued from epoch k.
//
// Params, AdamM, AdamV and BestParams use one layout: the encoder layers
// then the decoder layers, each as its weights (Out × In, row-major) followed
// by its biases; see AEOptions.Hidden for the widths.
type Checkpoint struct {
	Version int `json:"version"`

	// The options and data that fix the trajectory.
	StateDim     int        `json:"state_dim"`
	Latent       int        `json:"latent"`
	Hidden       []int      `json:"hidden"`
	Activation   Activation `json:"activation"`
	BatchSize    int        `json:"batch_size"`
	ShardSize    int        `json:"shard_size"`
	LearningRate float64    `json:"learning_rate"`
	WeightDecay  float64    `json:"weight_decay"`
	Seed         uint64     `json:"seed"`
	DataHash     uint64     `json:"data_hash"` // of the training and validation data

	// Conv is the architecture of a convolutional autoencoder (then Hidden
	// is empty); nil for the MLP.
	Conv *ConvSpec `json:"conv,omitempty"`
	// The schedule and its options; empty for the constant schedule.
	Schedule        Schedule `json:"schedule,omitempty"`
	MinLearningRate float64  `json:"min_learning_rate,omitempty"`
	PlateauFactor   float64  `json:"plateau_factor,omitempty"`
	PlateauPatience int      `json:"plateau_patience,omitempty"`
	CosineEpochs    int      `json:"cosine_epochs,omitempty"`

	// Normalisation computed from the training data.
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`

	Epoch      int       `json:"epoch"` // completed epochs
	Step       int       `json:"step"`  // Adam steps taken
	Params     []float64 `json:"params"`
	AdamM      []float64 `json:"adam_m"` // first moments
	AdamV      []float64 `json:"adam_v"` // second moments
	BestParams []float64 `json:"best_params"`
	BestEpoch  int       `json:"best_epoch"`
	BestLoss   float64   `json:"best_loss"`
	BadEpochs  int       `json:"bad_epochs"` // consecutive epochs without improvement
	TrainLoss  []float64 `json:"train_loss"` // per completed epoch
	ValidLoss  []float64 `json:"valid_loss"`
	// The plateau schedule's learning rate for the next epoch and its
	// count of epochs without improvement since the last reduction.
	LR         float64 `json:"lr,omitempty"`
	PlateauBad int     `json:"plateau_bad,omitempty"`
}

// Model returns the autoencoder with the best parameters of c, without the
// training data.
func (c *Checkpoint) Model() (*Autoencoder, error) {
	if c.Conv != nil {
		return nil, errors.New("neural: Checkpoint.Model: a convolutional autoencoder's checkpoint; use ConvModel")
	}
	if c.StateDim < 1 || c.Latent < 1 || slices.ContainsFunc(c.Hidden, func(h int) bool { return h < 1 }) {
		return nil, fmt.Errorf("neural: Checkpoint.Model: bad architecture %d → %v → %d", c.StateDim, c.Hidden, c.Latent)
	}
	if err := c.Activation.check(); err != nil {
		return nil, fmt.Errorf("neural: Checkpoint.Model: %w", err)
	}
	shape := newShape(c.StateDim, c.Hidden, c.Latent, c.Activation)
	if len(c.BestParams) != shape.size {
		return nil, fmt.Errorf("neural: Checkpoint.Model: %d parameters, want %d", len(c.BestParams), shape.size)
	}
	enc, dec := shape.toLayers(c.BestParams)
	return NewAutoencoder(enc, dec, Normalization{Mean: c.Mean, Std: c.Std})
}

// TrainResult is the outcome of TrainAutoencoder.
type TrainResult struct {
	Model *Autoencoder // with the weights of BestEpoch
	TrainRecord
}

// TrainRecord is the course of a training run.
type TrainRecord struct {
	Curve        []EpochStats // one entry per completed epoch, including resumed ones
	BestEpoch    int
	BestLoss     float64
	EarlyStopped bool        // stopped by Patience
	Checkpoint   *Checkpoint // state after the last completed epoch
}

// TrainAutoencoder trains an MLP autoencoder on train (m samples × n, one
// state per row) by minimising the mean squared reconstruction error in
// normalised units u = (x − mean)/std,
//
//	L(θ) = 1/(B n) Σ_{u ∈ batch} ‖g(e(u)) − u‖²  (+ (μ/2)‖W‖²),
//
// with e and g the encoder and decoder networks (see Autoencoder) and B the
// batch size, by Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8, bias-corrected) on mini-batches
// of a fresh permutation each epoch, with the learning rate of
// opts.Schedule. The normalisation uses the per-variable
// mean and population standard deviation of train (a standard deviation
// below 1e-12·|mean|, or zero, is replaced by 1).
//
// valid, if not nil, must have n columns; after every epoch its loss is
// computed, and the weights with the lowest one are returned (early stopping
// with opts.Patience). Without valid the epoch's training loss plays its
// role.
//
// The result is a deterministic function of the data and the options other
// than Workers and Progress: weights are initialised from PCG(Seed, 2⁶³+1),
// epoch e (from 0) is shuffled by PCG(Seed, e), and the shard gradients are
// summed in a fixed order (bit-reproducible on one platform and Go version).
//
// Errors in the data or options return a nil result. If ctx is done, if
// Progress fails, or if the loss becomes non-finite, training stops and the
// error comes back with the result of the epochs completed so far (nil if
// none), whose Checkpoint allows resuming.
func TrainAutoencoder(ctx context.Context, train, valid *mat.Dense, opts AEOptions) (*TrainResult, error) {
	t, err := newTrainer(train, valid, opts)
	if err != nil {
		return nil, err
	}
	err = t.run(ctx)
	if t.epoch == 0 {
		return nil, err
	}
	enc, dec := t.shape.toLayers(t.best)
	model, merr := NewAutoencoder(enc, dec, Normalization{Mean: t.mean, Std: t.std})
	if merr != nil {
		// The best parameters have a finite loss, so they are finite.
		panic("neural: internal error: " + merr.Error())
	}
	return &TrainResult{Model: model, TrainRecord: t.record()}, err
}

// job asks a worker for shard number shard of the current batch (or of the
// evaluated data), with results in slot.
type job struct {
	eval        bool
	shard, slot int
}

type trainer struct {
	opts   AEOptions
	conv   *ConvSpec // nil for the MLP
	shape  netShape
	n      int
	train  []float64 // normalised, m × n row-major
	valid  []float64
	mTrain int
	mValid int
	mean   []float64
	std    []float64
	hash   uint64

	params, adamM, adamV, grad []float64
	step, epoch                int
	best                       []float64
	bestEpoch                  int
	bestLoss                   float64
	bad                        int
	trainLoss, validLoss       []float64
	earlyStopped               bool
	lr                         float64 // of the plateau schedule, for the next epoch
	plateauBad                 int

	// backup of the state at the start of the epoch
	bParams, bAdamM, bAdamV []float64
	bStep                   int

	shardGrad [][]float64 // per slot (one per worker)
	shardLoss []float64   // per slot
	evalLoss  []float64   // per shard of the validation data
	ws        []*workspace
	perm      []int

	// context of the current dispatch, read by the workers
	batch    []int
	evalData []float64
	evalRows int
	jobs     chan job
	wg       sync.WaitGroup
}

// Check reports the first invalid option, as TrainAutoencoder would, after
// the defaults; o is not changed.
func (o AEOptions) Check() error { return o.setDefaults() }

func (o *AEOptions) setDefaults() error {
	if o.Activation == "" {
		o.Activation = Tanh
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.ShardSize == 0 {
		o.ShardSize = DefaultShardSize
	}
	if o.LearningRate == 0 {
		o.LearningRate = DefaultLearningRate
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Schedule == "" {
		o.Schedule = Constant
	}
	if o.Schedule != Constant {
		if o.MinLearningRate == 0 {
			o.MinLearningRate = DefaultMinLearningRateRatio * o.LearningRate
		}
		if o.PlateauFactor == 0 {
			o.PlateauFactor = DefaultPlateauFactor
		}
		if o.PlateauPatience == 0 {
			o.PlateauPatience = DefaultPlateauPatience
		}
	}
	switch {
	case o.Latent < 1:
		return fmt.Errorf("option Latent must be ≥ 1, got %d", o.Latent)
	case o.Epochs < 1:
		return fmt.Errorf("option Epochs must be ≥ 1, got %d", o.Epochs)
	case o.BatchSize < 1:
		return fmt.Errorf("option BatchSize must be ≥ 1, got %d", o.BatchSize)
	case o.ShardSize < 1:
		return fmt.Errorf("option ShardSize must be ≥ 1, got %d", o.ShardSize)
	case !(o.LearningRate > 0) || math.IsInf(o.LearningRate, 0):
		return fmt.Errorf("option LearningRate must be finite and > 0, got %v", o.LearningRate)
	case !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0):
		return fmt.Errorf("option WeightDecay must be finite and ≥ 0, got %v", o.WeightDecay)
	case o.Patience < 0:
		return fmt.Errorf("option Patience must be ≥ 0, got %d", o.Patience)
	case o.Workers < 1:
		return fmt.Errorf("option Workers must be ≥ 1, got %d", o.Workers)
	case !slices.Contains(Schedules, o.Schedule):
		return fmt.Errorf("option Schedule must be one of %v, got %q", Schedules, o.Schedule)
	case o.Schedule == Constant && (o.MinLearningRate != 0 || o.PlateauFactor != 0 || o.PlateauPatience != 0):
		return errors.New("options MinLearningRate, PlateauFactor and PlateauPatience need a cosine or plateau Schedule")
	case o.Schedule != Constant && !(o.MinLearningRate > 0 && o.MinLearningRate <= o.LearningRate):
		return fmt.Errorf("option MinLearningRate must be in (0, LearningRate = %v], got %v", o.LearningRate, o.MinLearningRate)
	case o.Schedule != Constant && !(o.PlateauFactor > 0 && o.PlateauFactor < 1):
		return fmt.Errorf("option PlateauFactor must be in (0, 1), got %v", o.PlateauFactor)
	case o.PlateauPatience < 0:
		return fmt.Errorf("option PlateauPatience must be ≥ 1, got %d", o.PlateauPatience)
	}
	for k, h := range o.Hidden {
		if h < 1 {
			return fmt.Errorf("option Hidden[%d] must be ≥ 1, got %d", k, h)
		}
	}
	return o.Activation.check()
}

// newTrainer returns the trainer of the MLP autoencoder of opts.
func newTrainer(train, valid *mat.Dense, opts AEOptions) (*trainer, error) {
	return newNetTrainer(train, valid, opts, nil)
}

// newNetTrainer returns the trainer of the convolutional autoencoder of conv,
// or of the MLP of opts if conv is nil.
func newNetTrainer(train, valid *mat.Dense, opts AEOptions, conv *ConvSpec) (*trainer, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("neural: TrainAutoencoder: %w", err)
	}
	m, n, err := check.Data("neural: TrainAutoencoder: training data", train)
	if err != nil {
		return nil, err
	}
	t := &trainer{opts: opts, n: n, mTrain: m, lr: opts.LearningRate}
	if valid != nil && !valid.IsEmpty() {
		mv, nv, err := check.Data("neural: TrainAutoencoder: validation data", valid)
		if err != nil {
			return nil, err
		}
		if nv != n {
			return nil, fmt.Errorf("neural: TrainAutoencoder: validation data have %d columns, training data %d", nv, n)
		}
		t.mValid = mv
	}
	if conv != nil {
		if err := conv.Validate(n); err != nil {
			return nil, fmt.Errorf("neural: TrainConvAutoencoder: %w", err)
		}
		c := ConvSpec{Channels: slices.Clone(conv.Channels), Strides: slices.Clone(conv.Strides), Kernel: conv.Kernel}
		t.conv = &c
		t.shape = convShape(n, c, opts.Latent, opts.Activation)
	} else {
		t.shape = newShape(n, opts.Hidden, opts.Latent, opts.Activation)
	}
	t.hash = hashData(train, valid)

	// Normalisation.
	t.mean = make([]float64, n)
	t.std = make([]float64, n)
	raw := train.RawMatrix()
	for i := 0; i < m; i++ {
		floats.Add(t.mean, raw.Data[i*raw.Stride:i*raw.Stride+n])
	}
	floats.Scale(1/float64(m), t.mean)
	for i := 0; i < m; i++ {
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+n] {
			e := v - t.mean[j]
			t.std[j] += e * e
		}
	}
	for j := range t.std {
		t.std[j] = math.Sqrt(t.std[j] / float64(m))
		if !(t.std[j] > 1e-12*math.Abs(t.mean[j])) {
			t.std[j] = 1
		}
	}

	P := t.shape.size
	t.params = make([]float64, P)
	t.adamM = make([]float64, P)
	t.adamV = make([]float64, P)
	t.grad = make([]float64, P)
	t.best = make([]float64, P)
	t.bParams = make([]float64, P)
	t.bAdamM = make([]float64, P)
	t.bAdamV = make([]float64, P)
	t.bestLoss = math.Inf(1)

	if c := opts.Checkpoint; c != nil {
		if err := t.restore(c); err != nil {
			return nil, fmt.Errorf("neural: TrainAutoencoder: checkpoint: %w", err)
		}
	} else {
		rng := rand.New(rand.NewPCG(opts.Seed, 1<<63+1))
		t.shape.initParams(t.params, rng.Float64)
		copy(t.best, t.params)
	}

	t.train = normalise(train, t.mean, t.std)
	if t.mValid > 0 {
		t.valid = normalise(valid, t.mean, t.std)
	}

	S, B := opts.ShardSize, min(opts.BatchSize, m)
	nsTrain := (B + S - 1) / S
	nsValid := (t.mValid + S - 1) / S
	workers := min(opts.Workers, max(nsTrain, nsValid))
	for range workers {
		t.ws = append(t.ws, newWorkspace(&t.shape, S))
		t.shardGrad = append(t.shardGrad, make([]float64, P))
	}
	t.shardLoss = make([]float64, workers)
	t.evalLoss = make([]float64, nsValid)
	t.perm = make([]int, m)
	return t, nil
}

func normalise(X *mat.Dense, mean, std []float64) []float64 {
	m, n := X.Dims()
	out := make([]float64, m*n)
	raw := X.RawMatrix()
	for i := 0; i < m; i++ {
		dst := out[i*n : (i+1)*n]
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+n] {
			dst[j] = (v - mean[j]) / std[j]
		}
	}
	return out
}

// hashData fingerprints the shapes and bits of the data (splitmix64 mixing
// of each word into the running hash).
func hashData(train, valid *mat.Dense) uint64 {
	h := uint64(0x6c6174656e746461)
	mix := func(w uint64) {
		h ^= w
		h += 0x9e3779b97f4a7c15
		z := h
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		h = z ^ (z >> 31)
	}
	for _, X := range []*mat.Dense{train, valid} {
		if X == nil || X.IsEmpty() {
			mix(0)
			continue
		}
		m, n := X.Dims()
		mix(uint64(m))
		mix(uint64(n))
		raw := X.RawMatrix()
		for i := 0; i < m; i++ {
			for _, v := range raw.Data[i*raw.Stride : i*raw.Stride+n] {
				mix(math.Float64bits(v))
			}
		}
	}
	return h
}

func (t *trainer) restore(c *Checkpoint) error {
	o := t.opts
	P := t.shape.size
	switch {
	case c.Version != CheckpointVersion:
		return fmt.Errorf("version %d, want %d", c.Version, CheckpointVersion)
	case c.StateDim != t.n || c.Latent != o.Latent || !slices.Equal(c.Hidden, o.Hidden) || c.Activation != o.Activation:
		return fmt.Errorf("architecture %d → %v → %d (%s) differs from the options' %d → %v → %d (%s)",
			c.StateDim, c.Hidden, c.Latent, c.Activation, t.n, o.Hidden, o.Latent, o.Activation)
	case c.BatchSize != o.BatchSize || c.ShardSize != o.ShardSize || c.LearningRate != o.LearningRate ||
		c.WeightDecay != o.WeightDecay || c.Seed != o.Seed:
		return errors.New("BatchSize, ShardSize, LearningRate, WeightDecay or Seed differ from the options")
	case (c.Conv == nil) != (t.conv == nil) || c.Conv != nil && (!slices.Equal(c.Conv.Channels, t.conv.Channels) ||
		!slices.Equal(c.Conv.Strides, t.conv.Strides) || c.Conv.Kernel != t.conv.Kernel):
		return errors.New("the convolutional architecture differs from the options'")
	case t.scheduleFields() != c.scheduleFields():
		return errors.New("the learning-rate schedule differs from the options'")
	case o.Schedule == Plateau && !(c.LR >= o.MinLearningRate && c.LR <= o.LearningRate && c.PlateauBad >= 0):
		return fmt.Errorf("plateau learning rate %v or count %d out of range", c.LR, c.PlateauBad)
	case c.DataHash != t.hash:
		return errors.New("written for different training or validation data")
	case len(c.Mean) != t.n || len(c.Std) != t.n:
		return errors.New("bad normalisation length")
	case len(c.Params) != P || len(c.AdamM) != P || len(c.AdamV) != P || len(c.BestParams) != P:
		return fmt.Errorf("parameter vectors must have length %d", P)
	case c.Epoch < 1 || len(c.TrainLoss) != c.Epoch || len(c.ValidLoss) != c.Epoch:
		return fmt.Errorf("epoch %d with %d and %d losses", c.Epoch, len(c.TrainLoss), len(c.ValidLoss))
	case c.Step < 0 || c.BestEpoch < 1 || c.BestEpoch > c.Epoch || c.BadEpochs != c.Epoch-c.BestEpoch:
		return errors.New("inconsistent step, best epoch or bad-epoch count")
	}
	if !check.Finite(c.Params) || !check.Finite(c.AdamM) || !check.Finite(c.AdamV) || !check.Finite(c.BestParams) ||
		!check.Finite(c.TrainLoss) || !check.Finite(c.ValidLoss) || math.IsNaN(c.BestLoss) || math.IsInf(c.BestLoss, 0) {
		return errors.New("non-finite values")
	}
	copy(t.params, c.Params)
	copy(t.adamM, c.AdamM)
	copy(t.adamV, c.AdamV)
	copy(t.best, c.BestParams)
	t.step, t.epoch = c.Step, c.Epoch
	t.bestEpoch, t.bestLoss, t.bad = c.BestEpoch, c.BestLoss, c.BadEpochs
	t.trainLoss = slices.Clone(c.TrainLoss)
	t.validLoss = slices.Clone(c.ValidLoss)
	if o.Schedule == Plateau {
		t.lr, t.plateauBad = c.LR, c.PlateauBad
	}
	// The stored normalisation is the one the parameters were trained with.
	copy(t.mean, c.Mean)
	copy(t.std, c.Std)
	return nil
}

// scheduleFields returns the schedule options as a checkpoint stores them.
func (t *trainer) scheduleFields() scheduleFields {
	o := t.opts
	var c scheduleFields
	if o.Schedule != Constant {
		c.schedule, c.minLR = o.Schedule, o.MinLearningRate
	}
	if o.Schedule == Plateau {
		c.factor, c.patience = o.PlateauFactor, o.PlateauPatience
	}
	if o.Schedule == Cosine {
		c.epochs = o.Epochs
	}
	return c
}

type scheduleFields struct {
	schedule         Schedule
	minLR, factor    float64
	patience, epochs int
}

func (c *Checkpoint) scheduleFields() scheduleFields {
	return scheduleFields{c.Schedule, c.MinLearningRate, c.PlateauFactor, c.PlateauPatience, c.CosineEpochs}
}

func (t *trainer) checkpoint() *Checkpoint {
	o := t.opts
	sf := t.scheduleFields()
	c := &Checkpoint{
		Version:      CheckpointVersion,
		StateDim:     t.n,
		Latent:       o.Latent,
		Hidden:       slices.Clone(o.Hidden),
		Activation:   o.Activation,
		BatchSize:    o.BatchSize,
		ShardSize:    o.ShardSize,
		LearningRate: o.LearningRate,
		WeightDecay:  o.WeightDecay,
		Seed:         o.Seed,
		DataHash:     t.hash,
		Mean:         slices.Clone(t.mean),
		Std:          slices.Clone(t.std),
		Epoch:        t.epoch,
		Step:         t.step,
		Params:       slices.Clone(t.params),
		AdamM:        slices.Clone(t.adamM),
		AdamV:        slices.Clone(t.adamV),
		BestParams:   slices.Clone(t.best),
		BestEpoch:    t.bestEpoch,
		BestLoss:     t.bestLoss,
		BadEpochs:    t.bad,
		TrainLoss:    slices.Clone(t.trainLoss),
		ValidLoss:    slices.Clone(t.validLoss),

		Schedule:        sf.schedule,
		MinLearningRate: sf.minLR,
		PlateauFactor:   sf.factor,
		PlateauPatience: sf.patience,
		CosineEpochs:    sf.epochs,
	}
	if t.conv != nil {
		cs := *t.conv
		c.Conv = &cs
	}
	if o.Schedule == Plateau {
		c.LR, c.PlateauBad = t.lr, t.plateauBad
	}
	return c
}

// curve rebuilds the per-epoch statistics from the losses.
func (t *trainer) curve() []EpochStats {
	c := make([]EpochStats, len(t.trainLoss))
	best, bestEpoch := math.Inf(1), 0
	for e := range c {
		if t.validLoss[e] < best {
			best, bestEpoch = t.validLoss[e], e+1
		}
		c[e] = EpochStats{Epoch: e + 1, TrainLoss: t.trainLoss[e], ValidLoss: t.validLoss[e], BestEpoch: bestEpoch, BestLoss: best}
	}
	return c
}

// record returns the course of training so far.
func (t *trainer) record() TrainRecord {
	return TrainRecord{
		Curve:        t.curve(),
		BestEpoch:    t.bestEpoch,
		BestLoss:     t.bestLoss,
		EarlyStopped: t.earlyStopped,
		Checkpoint:   t.checkpoint(),
	}
}

// epochRate returns the learning rate of the epoch about to run.
func (t *trainer) epochRate() float64 {
	o := t.opts
	switch o.Schedule {
	case Cosine:
		return o.MinLearningRate + (o.LearningRate-o.MinLearningRate)*(1+math.Cos(math.Pi*float64(t.epoch)/float64(o.Epochs)))/2
	case Plateau:
		return t.lr
	}
	return o.LearningRate
}

func (t *trainer) startWorkers() (stop func()) {
	if len(t.ws) == 1 {
		return func() {}
	}
	t.jobs = make(chan job)
	for _, ws := range t.ws {
		go func() {
			for j := range t.jobs {
				t.runJob(ws, j)
				t.wg.Done()
			}
		}()
	}
	return func() { close(t.jobs) }
}

// dispatch runs the jobs for shards lo…hi−1 (at most one per worker) in
// slots 0…hi−lo−1 and waits for them.
func (t *trainer) dispatch(eval bool, lo, hi int) {
	if len(t.ws) == 1 {
		for s := lo; s < hi; s++ {
			t.runJob(t.ws[0], job{eval: eval, shard: s, slot: s - lo})
		}
		return
	}
	t.wg.Add(hi - lo)
	for s := lo; s < hi; s++ {
		t.jobs <- job{eval: eval, shard: s, slot: s - lo}
	}
	t.wg.Wait()
}

func (t *trainer) runJob(ws *workspace, j job) {
	S, n := t.opts.ShardSize, t.n
	if j.eval {
		lo := j.shard * S
		r := min(S, t.evalRows-lo)
		in := t.evalData[lo*n : (lo+r)*n]
		out := t.shape.forward(ws, t.params, in, r)
		t.evalLoss[j.shard] = sse(out, in)
		return
	}
	idx := t.batch[j.shard*S : min((j.shard+1)*S, len(t.batch))]
	r := len(idx)
	in := ws.x[:r*n]
	for i, k := range idx {
		copy(in[i*n:(i+1)*n], t.train[k*n:(k+1)*n])
	}
	t.shape.forward(ws, t.params, in, r)
	t.shardLoss[j.slot] = t.shape.backward(ws, t.shardGrad[j.slot], t.params, in, r)
}

// gradient sets t.grad to the gradient of the objective on the training
// samples idx (the mean squared error plus the weight decay term) at
// t.params, and returns the sum of squared errors.
//
// The shards are computed in waves of one per worker and their gradients
// added to the total in shard order, ((g₀ + g₁) + g₂) + …, which is the same
// sum for any number of workers, with one gradient buffer per worker.
func (t *trainer) gradient(idx []int) float64 {
	S, W := t.opts.ShardSize, len(t.ws)
	ns := (len(idx) + S - 1) / S
	t.batch = idx
	var loss float64
	for lo := 0; lo < ns; lo += W {
		hi := min(lo+W, ns)
		t.dispatch(false, lo, hi)
		for s := lo; s < hi; s++ {
			if s == 0 {
				copy(t.grad, t.shardGrad[0])
				loss = t.shardLoss[0]
			} else {
				floats.Add(t.grad, t.shardGrad[s-lo])
				loss += t.shardLoss[s-lo]
			}
		}
	}
	floats.Scale(1/float64(len(idx)*t.n), t.grad)
	if wd := t.opts.WeightDecay; wd > 0 {
		for l := 0; l < t.shape.layers(); l++ {
			floats.AddScaled(t.shape.w(t.grad, l), wd, t.shape.w(t.params, l))
		}
	}
	return loss
}

// evaluate returns the mean squared error per variable on data (rows × n,
// normalised) at t.params.
func (t *trainer) evaluate(data []float64, rows int) float64 {
	S := t.opts.ShardSize
	ns := (rows + S - 1) / S
	t.evalData, t.evalRows = data, rows
	t.dispatch(true, 0, ns)
	var loss float64
	for _, v := range t.evalLoss[:ns] {
		loss += v
	}
	return loss / float64(rows*t.n)
}

// adamStep applies one bias-corrected Adam update with t.grad and learning
// rate lr.
func (t *trainer) adamStep(lr float64) {
	t.step++
	// As torch.optim.Adam: θ −= (lr/c₁)·m / (√v/√c₂ + ε), cₖ = 1 − βₖᵗ.
	c1 := 1 - math.Pow(adamBeta1, float64(t.step))
	c2 := 1 - math.Pow(adamBeta2, float64(t.step))
	step := lr / c1
	isc2 := 1 / math.Sqrt(c2)
	p, m, v := t.params, t.adamM[:len(t.params)], t.adamV[:len(t.params)]
	for i, g := range t.grad[:len(p)] {
		mi := adamBeta1*m[i] + (1-adamBeta1)*g
		vi := adamBeta2*v[i] + (1-adamBeta2)*g*g
		m[i], v[i] = mi, vi
		p[i] -= step * mi / (math.Sqrt(vi)*isc2 + adamEps)
	}
}

func (t *trainer) saveBackup() {
	copy(t.bParams, t.params)
	copy(t.bAdamM, t.adamM)
	copy(t.bAdamV, t.adamV)
	t.bStep = t.step
}

func (t *trainer) restoreBackup() {
	copy(t.params, t.bParams)
	copy(t.adamM, t.bAdamM)
	copy(t.adamV, t.bAdamV)
	t.step = t.bStep
}

// run trains from the current state until Epochs, early stopping or an
// error; the epochs completed are kept.
func (t *trainer) run(ctx context.Context) error {
	o := t.opts
	if o.Patience > 0 && t.bad >= o.Patience {
		t.earlyStopped = true
		return nil
	}
	stop := t.startWorkers()
	defer stop()
	snapshot := t.checkpoint
	m, n := t.mTrain, t.n
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	for t.epoch < o.Epochs {
		t.saveBackup()
		for i := range t.perm {
			t.perm[i] = i
		}
		pcg.Seed(o.Seed, uint64(t.epoch))
		rng.Shuffle(m, func(i, j int) { t.perm[i], t.perm[j] = t.perm[j], t.perm[i] })

		lr := t.epochRate()
		var sum float64
		for lo := 0; lo < m; lo += o.BatchSize {
			if err := ctx.Err(); err != nil {
				t.restoreBackup()
				return err
			}
			sum += t.gradient(t.perm[lo:min(lo+o.BatchSize, m)])
			t.adamStep(lr)
		}
		trainLoss := sum / float64(m*n)
		validLoss := trainLoss
		if t.mValid > 0 {
			validLoss = t.evaluate(t.valid, t.mValid)
		}
		if math.IsNaN(trainLoss) || math.IsInf(trainLoss, 0) || math.IsNaN(validLoss) || math.IsInf(validLoss, 0) {
			t.restoreBackup()
			return fmt.Errorf("neural: TrainAutoencoder: loss diverged in epoch %d (train %v, valid %v); lower LearningRate", t.epoch+1, trainLoss, validLoss)
		}
		t.epoch++
		t.trainLoss = append(t.trainLoss, trainLoss)
		t.validLoss = append(t.validLoss, validLoss)
		if validLoss < t.bestLoss {
			t.bestLoss, t.bestEpoch, t.bad = validLoss, t.epoch, 0
			copy(t.best, t.params)
			t.plateauBad = 0
		} else {
			t.bad++
			if o.Schedule == Plateau {
				t.plateauBad++
				if t.plateauBad >= o.PlateauPatience {
					t.lr = max(o.MinLearningRate, t.lr*o.PlateauFactor)
					t.plateauBad = 0
				}
			}
		}
		if o.Progress != nil {
			st := EpochStats{Epoch: t.epoch, TrainLoss: trainLoss, ValidLoss: validLoss,
				BestEpoch: t.bestEpoch, BestLoss: t.bestLoss, snapshot: snapshot}
			if err := o.Progress(st); err != nil {
				return fmt.Errorf("neural: TrainAutoencoder: stopped by Progress after epoch %d: %w", t.epoch, err)
			}
		}
		if o.Patience > 0 && t.bad >= o.Patience {
			t.earlyStopped = true
			break
		}
	}
	return nil
}
