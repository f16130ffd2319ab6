package neural

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/internal/check"
	"github.com/latentda/latentda/latent/internal/fixture"
)

// manifoldFixture trains, once, the d = 2 autoencoder of the manifold test.
var manifoldFixture = sync.OnceValues(func() (*TrainResult, error) {
	return TrainAutoencoder(context.Background(), fixture.ManifoldData(2000, 0.01, 1), fixture.ManifoldData(500, 0.01, 2),
		AEOptions{Hidden: []int{32, 32}, Latent: 2, Epochs: 60, LearningRate: 3e-3, Seed: 1})
})

// On data near a curved 2-D sheet in ℝ⁸ (noise variance 1e-4), the best
// plane leaves about half of the variance out (PCA MSE ≈ 0.135) while a
// d = 2 autoencoder follows the sheet (MSE ≈ 2.8e-3 after 60 epochs, 0.4 s).
// The assertion asks for 10× better than PCA, a wide margin on the ~50×
// observed; the training curve must also go down.
func TestTrainBeatsPCAOnManifold(t *testing.T) {
	res, err := manifoldFixture()
	if err != nil {
		t.Fatal(err)
	}
	valid := fixture.ManifoldData(500, 0.01, 2)
	pca, err := latent.FitPCA(fixture.ManifoldData(2000, 0.01, 1), latent.PCAOptions{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	ae, lin := latent.ReconstructionError(res.Model, valid), latent.ReconstructionError(pca, valid)
	t.Logf("validation MSE: autoencoder %.3g, PCA %.3g (best epoch %d of %d)", ae, lin, res.BestEpoch, len(res.Curve))
	if !(ae < lin/10) {
		t.Errorf("autoencoder MSE %.3g not 10× below PCA's %.3g", ae, lin)
	}
	c := res.Curve
	if !(c[len(c)-1].TrainLoss < c[0].TrainLoss/20) || !(res.BestLoss < c[0].ValidLoss/20) {
		t.Errorf("loss did not decrease: first %+v, last %+v", c[0], c[len(c)-1])
	}
	for e := 1; e < len(c); e++ {
		if c[e].BestLoss > c[e-1].BestLoss || c[e].Epoch != e+1 {
			t.Fatalf("curve inconsistent at %d: %+v after %+v", e, c[e], c[e-1])
		}
	}
	if res.Model.Name() != "autoencoder" || res.Model.LatentDim() != 2 || res.Model.StateDim() != 8 {
		t.Errorf("model dims %d, %d", res.Model.LatentDim(), res.Model.StateDim())
	}
}

// smallRun is a fast configuration for the determinism tests: 300 samples
// in batches of 50 cut into shards of 16 (4 shards, the last ragged).
func smallRun() (train, valid *mat.Dense, opts AEOptions) {
	return fixture.ManifoldData(300, 0.05, 3), fixture.ManifoldData(100, 0.05, 4), AEOptions{
		Hidden: []int{16, 12}, Latent: 2, Activation: GELU, Epochs: 6, BatchSize: 50, ShardSize: 16,
		LearningRate: 3e-3, WeightDecay: 1e-4, Patience: 20, Seed: 7, Workers: 2}
}

func mustTrain(t *testing.T, train, valid *mat.Dense, opts AEOptions) *TrainResult {
	t.Helper()
	res, err := TrainAutoencoder(context.Background(), train, valid, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// sameBits reports whether two results hold bit-identical checkpoints,
// models and curves.
func sameBits(t *testing.T, what string, a, b *TrainResult) {
	t.Helper()
	ja, err := json.Marshal(a.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := json.Marshal(b.Checkpoint)
	if string(ja) != string(jb) {
		t.Errorf("%s: checkpoints differ", what)
	}
	bits := func(v []float64) []uint64 {
		u := make([]uint64, len(v))
		for i, x := range v {
			u[i] = math.Float64bits(x)
		}
		return u
	}
	if !reflect.DeepEqual(bits(a.Checkpoint.Params), bits(b.Checkpoint.Params)) ||
		!reflect.DeepEqual(bits(a.Checkpoint.BestParams), bits(b.Checkpoint.BestParams)) {
		t.Errorf("%s: parameters differ", what)
	}
	ea, da := a.Model.Layers()
	eb, db := b.Model.Layers()
	if !reflect.DeepEqual(ea, eb) || !reflect.DeepEqual(da, db) {
		t.Errorf("%s: models differ", what)
	}
	if !reflect.DeepEqual(a.Curve, b.Curve) || a.BestEpoch != b.BestEpoch || a.EarlyStopped != b.EarlyStopped {
		t.Errorf("%s: curves differ:\n%+v\n%+v", what, a.Curve, b.Curve)
	}
}

// The same seed gives the same bits, whatever the number of workers; another
// seed gives other weights.
func TestTrainDeterministic(t *testing.T) {
	train, valid, opts := smallRun()
	ref := mustTrain(t, train, valid, opts)
	sameBits(t, "rerun", ref, mustTrain(t, train, valid, opts))
	for _, w := range []int{1, 3, 8} {
		o := opts
		o.Workers = w
		sameBits(t, "workers", ref, mustTrain(t, train, valid, o))
	}
	o := opts
	o.Seed++
	other := mustTrain(t, train, valid, o)
	if reflect.DeepEqual(other.Checkpoint.Params, ref.Checkpoint.Params) {
		t.Error("another seed gives the same weights")
	}
}

// Resuming from a checkpoint taken after epoch 3 (stored as JSON), or after
// a cancellation in the middle of epoch 4, reproduces the uninterrupted run
// bit for bit.
func TestTrainResume(t *testing.T) {
	train, valid, opts := smallRun()
	full := mustTrain(t, train, valid, opts)

	errPause := errors.New("pause")
	var taken *Checkpoint
	o := opts
	o.Progress = func(s EpochStats) error {
		if s.Epoch == 3 {
			taken = s.Checkpoint()
			return errPause
		}
		return nil
	}
	part, err := TrainAutoencoder(context.Background(), train, valid, o)
	if !errors.Is(err, errPause) {
		t.Fatalf("error %v, want pause", err)
	}
	if part == nil || part.Checkpoint.Epoch != 3 || len(part.Curve) != 3 || !reflect.DeepEqual(taken, part.Checkpoint) {
		t.Fatalf("paused result %+v", part)
	}
	if part.Curve[2].Checkpoint() != nil {
		t.Error("curve entries hand out checkpoints")
	}
	if m, err := taken.Model(); err != nil {
		t.Errorf("Checkpoint.Model: %v", err)
	} else {
		e1, d1 := m.Layers()
		e2, d2 := part.Model.Layers()
		if !reflect.DeepEqual(e1, e2) || !reflect.DeepEqual(d1, d2) || !reflect.DeepEqual(m.Normalization(), part.Model.Normalization()) {
			t.Error("Checkpoint.Model differs from the result's model")
		}
	}
	blob, err := json.Marshal(taken)
	if err != nil {
		t.Fatal(err)
	}
	var stored Checkpoint
	if err := json.Unmarshal(blob, &stored); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&stored, taken) {
		t.Fatal("checkpoint does not round-trip through JSON")
	}
	o = opts
	o.Checkpoint = &stored
	o.Workers = 1
	sameBits(t, "resumed", full, mustTrain(t, train, valid, o))

	// Cancel during epoch 4: the checkpoint is that of epoch 3.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o = opts
	o.Progress = func(s EpochStats) error {
		if s.Epoch == 3 {
			cancel()
		}
		return nil
	}
	part, err = TrainAutoencoder(ctx, train, valid, o)
	if !errors.Is(err, context.Canceled) || part == nil || part.Checkpoint.Epoch != 3 {
		t.Fatalf("cancelled run: %v, %+v", err, part)
	}
	o = opts
	o.Checkpoint = part.Checkpoint
	sameBits(t, "resumed after cancel", full, mustTrain(t, train, valid, o))

	// More epochs from the final checkpoint continue the same run.
	o = opts
	o.Epochs = 8
	longer := mustTrain(t, train, valid, o)
	o.Checkpoint = full.Checkpoint
	sameBits(t, "extended", longer, mustTrain(t, train, valid, o))
}

// With few noisy training samples a wide network overfits: the validation
// loss stops improving and Patience ends the run, returning the weights of
// the best epoch.
func TestTrainEarlyStopping(t *testing.T) {
	train, valid := fixture.ManifoldData(40, 0.3, 5), fixture.ManifoldData(400, 0.3, 6)
	const patience = 5
	res := mustTrain(t, train, valid, AEOptions{Hidden: []int{64, 64}, Latent: 4, Epochs: 1000,
		BatchSize: 8, LearningRate: 1e-2, Patience: patience, Seed: 2})
	c := res.Curve
	t.Logf("stopped after %d epochs, best %d (valid %.3g, train %.3g)", len(c), res.BestEpoch, res.BestLoss, c[len(c)-1].TrainLoss)
	if !res.EarlyStopped || len(c) >= 1000 || len(c) != res.BestEpoch+patience {
		t.Fatalf("early stopping: stopped %v after %d epochs, best %d", res.EarlyStopped, len(c), res.BestEpoch)
	}
	for _, s := range c[res.BestEpoch:] {
		if s.ValidLoss < res.BestLoss {
			t.Errorf("epoch %d improved on the best", s.Epoch)
		}
	}
	// The model has the best weights: its validation loss (computed one
	// sample at a time, so with another summation order) is the best one to
	// round-off.
	norm := res.Model.Normalization()
	m, n := valid.Dims()
	z := make([]float64, 4)
	x := make([]float64, n)
	var s float64
	for i := 0; i < m; i++ {
		row := valid.RawRowView(i)
		res.Model.Encode(z, row)
		res.Model.Decode(x, z)
		for j := range x {
			e := (x[j] - row[j]) / norm.Std[j]
			s += e * e
		}
	}
	if got := s / float64(m*n); math.Abs(got-res.BestLoss) > 1e-12*res.BestLoss {
		t.Errorf("model validation loss %v, best %v", got, res.BestLoss)
	}
	// Resuming a stopped run stops at once.
	again := mustTrain(t, train, valid, AEOptions{Hidden: []int{64, 64}, Latent: 4, Epochs: 1000,
		BatchSize: 8, LearningRate: 1e-2, Patience: patience, Seed: 2, Checkpoint: res.Checkpoint})
	if !again.EarlyStopped || len(again.Curve) != len(c) {
		t.Errorf("resumed stopped run went on to %d epochs", len(again.Curve))
	}
}

func TestTrainErrors(t *testing.T) {
	train, valid, base := smallRun()
	withNaN := mat.DenseCopyOf(train)
	withNaN.Set(5, 5, math.NaN())
	withInf := mat.DenseCopyOf(valid)
	withInf.Set(1, 1, math.Inf(1))
	ck := mustTrain(t, train, valid, func() AEOptions { o := base; o.Epochs = 1; return o }()).Checkpoint
	for _, tc := range []struct {
		name         string
		train, valid *mat.Dense
		edit         func(o *AEOptions)
		want         string
	}{
		{"latent 0", train, valid, func(o *AEOptions) { o.Latent = 0 }, "Latent"},
		{"latent < 0", train, valid, func(o *AEOptions) { o.Latent = -2 }, "Latent"},
		{"epochs", train, valid, func(o *AEOptions) { o.Epochs = 0 }, "Epochs"},
		{"nil data", nil, valid, nil, "no data"},
		{"empty data", &mat.Dense{}, valid, nil, "no data"},
		{"NaN", withNaN, valid, nil, "non-finite"},
		{"Inf in validation", train, withInf, nil, "non-finite"},
		{"columns", train, mat.NewDense(3, 7, nil), nil, "columns"},
		{"hidden width", train, valid, func(o *AEOptions) { o.Hidden = []int{4, 0} }, "Hidden[1]"},
		{"activation", train, valid, func(o *AEOptions) { o.Activation = "swish" }, "unknown activation"},
		{"batch", train, valid, func(o *AEOptions) { o.BatchSize = -1 }, "BatchSize"},
		{"shard", train, valid, func(o *AEOptions) { o.ShardSize = -1 }, "ShardSize"},
		{"learning rate", train, valid, func(o *AEOptions) { o.LearningRate = math.NaN() }, "LearningRate"},
		{"weight decay", train, valid, func(o *AEOptions) { o.WeightDecay = -1 }, "WeightDecay"},
		{"patience", train, valid, func(o *AEOptions) { o.Patience = -1 }, "Patience"},
		{"workers", train, valid, func(o *AEOptions) { o.Workers = -1 }, "Workers"},
		{"checkpoint seed", train, valid, func(o *AEOptions) { o.Checkpoint = ck; o.Seed++ }, "Seed"},
		{"checkpoint architecture", train, valid, func(o *AEOptions) { o.Checkpoint = ck; o.Hidden = []int{16} }, "architecture"},
		{"checkpoint data", train.Slice(0, 250, 0, 8).(*mat.Dense), valid, func(o *AEOptions) { o.Checkpoint = ck }, "different"},
		{"checkpoint version", train, valid, func(o *AEOptions) { c := *ck; c.Version = 99; o.Checkpoint = &c }, "version"},
		{"checkpoint params", train, valid, func(o *AEOptions) { c := *ck; c.AdamV = c.AdamV[1:]; o.Checkpoint = &c }, "length"},
	} {
		o := base
		if tc.edit != nil {
			tc.edit(&o)
		}
		res, err := TrainAutoencoder(context.Background(), tc.train, tc.valid, o)
		if err == nil || res != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v; want an error mentioning %q", tc.name, res, err, tc.want)
		}
	}
}

// A learning rate that blows the weights up is reported, with the last
// finite epoch's state.
func TestTrainDiverges(t *testing.T) {
	train, valid, o := smallRun()
	o.LearningRate = 1e300
	o.Epochs = 50
	res, err := TrainAutoencoder(context.Background(), train, valid, o)
	if err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("error %v, want divergence", err)
	}
	if res != nil && !check.Finite(res.Checkpoint.Params) {
		t.Errorf("non-finite parameters in the returned checkpoint")
	}
}
