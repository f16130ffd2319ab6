package training

import (
	"context"
	"math"
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
	"gonum.org/v1/gonum/mat"
)

func l96Info(nx string) genfile.Info {
	return genfile.Info{Model: "lorenz96", Params: map[string]string{"nx": nx, "forcing": "8", "dt": "0.05"}}
}

// fitPCAFile fits the PCA generator of pcaTrainYAML (with latent_dim d) on
// a Lorenz-96 archive of 40 variables and returns it with its record, the
// archive and the config.
func fitPCAFile(t *testing.T, d int) (*latent.PCA, genfile.Info, *mat.Dense) {
	t.Helper()
	cfg := mustParseTrain(t, pcaTrainYAML)
	cfg.Generator.LatentDim = d
	X := l96Archive(t, 40, 400, 2)
	train, valid := cfg.SplitArchive(X)
	p, err := FitPCAGenerator(cfg, train)
	if err != nil {
		t.Fatal(err)
	}
	info := l96Info("40")
	info.HeldOutMSE = latent.ReconstructionError(p, valid)
	return p, info, X
}

// trainAE trains the autoencoder of aeTrainYAML on a Lorenz-96 archive
// of 8 variables.
func trainAE(t *testing.T) (*neural.Autoencoder, genfile.Info, *mat.Dense) {
	t.Helper()
	cfg := mustParseTrain(t, aeTrainYAML)
	X, _, err := experiment.BuildArchive(context.Background(), config.Config{Model: cfg.Model}, cfg.Archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	train, valid := cfg.SplitArchive(X)
	var epochs []int
	res, err := TrainAutoencoderGenerator(context.Background(), cfg, train, valid, func(st neural.EpochStats) error {
		epochs = append(epochs, st.Epoch)
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(epochs, []int{1, 2, 3}) || len(res.Curve) != 3 {
		t.Fatalf("progress after epochs %v, curve of %d epochs; want 3", epochs, len(res.Curve))
	}
	info := l96Info("8")
	for _, e := range res.Curve {
		info.TrainLoss = append(info.TrainLoss, e.TrainLoss)
		info.ValidLoss = append(info.ValidLoss, e.ValidLoss)
	}
	info.HeldOutMSE = latent.ReconstructionError(res.Model, valid)
	return res.Model, info, X
}

// l96LatentCase is the DAPPER L96 ETKF set-up, shortened, with the filter
// on the codes of the generator file path.
func l96LatentCase(cycles int, path string) config.Config {
	cfg := experiment.DapperConfigs(cycles)["l96-etkf"]
	cfg.BurnIn = 1 // 20 of the cycles
	if path != "" {
		cfg.Latent = &config.LatentConfig{Generator: path}
	}
	return cfg
}

// TestLatentExperimentFromFile runs the latent filter with a generator
// read from a file: it is the in-memory generator's run bit for bit, and
// with a full-rank PCA it tracks the full-space filter.
func TestLatentExperimentFromFile(t *testing.T) {
	const cycles = 60
	p, info, _ := fitPCAFile(t, 40)
	path := filepath.Join(t.TempDir(), "l96-pca40.arrow")
	if err := genfile.Save(path, p, info); err != nil {
		t.Fatal(err)
	}
	cfg := l96LatentCase(cycles, path)
	var seen []int
	fromFile, err := experiment.Run(context.Background(), cfg, func(st experiment.CycleStats) { seen = append(seen, st.Cycle) })
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != cycles || fromFile.Cycles != cycles || fromFile.Scored == 0 {
		t.Fatalf("ran cycles %v, summary %+v", seen, fromFile)
	}
	s, err := experiment.BuildWithGenerator(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	inMemory, err := s.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fromFile != inMemory {
		t.Errorf("latent run with the generator file\n%+v\ndiffers from the run with the fitted generator\n%+v", fromFile, inMemory)
	}
	full, err := experiment.Run(context.Background(), l96LatentCase(cycles, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	// d = n: the same filter up to round-off (see
	// TestLatentFullRankPCAIsFullSpace), which the assimilation keeps
	// from growing.
	rel := math.Abs(fromFile.RMSEa-full.RMSEa) / full.RMSEa
	t.Logf("rmse_a: full-rank PCA from file %v, full space %v (relative difference %.2g)", fromFile.RMSEa, full.RMSEa, rel)
	if rel > 1e-6 {
		t.Errorf("full-rank PCA rmse_a %v, full space %v (relative difference %.2g)", fromFile.RMSEa, full.RMSEa, rel)
	}
	if full.RMSEa > 0.5 {
		t.Errorf("full-space rmse_a %v: the reference run does not track", full.RMSEa)
	}

	// A generator for another state dimension, or no file, is refused
	// when the experiment is built.
	ae, ainfo, _ := trainAE(t)
	aePath := filepath.Join(t.TempDir(), "ae8.arrow")
	if err := genfile.Save(aePath, ae, ainfo); err != nil {
		t.Fatal(err)
	}
	if _, err := experiment.Build(l96LatentCase(cycles, aePath)); err == nil || !strings.Contains(err.Error(), "maps to 8 variables, the model has 40") {
		t.Errorf("generator of the wrong dimension: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.arrow")
	if _, err := experiment.Build(l96LatentCase(cycles, missing)); err == nil || !strings.Contains(err.Error(), "latent.generator") || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing generator file: %v", err)
	}

	// The autoencoder file drives a Lorenz-96 run of its own size.
	aeCfg := l96LatentCase(30, aePath)
	aeCfg.Model.Nx = 8
	aeCfg.Filter.Members = 10
	for _, enc := range []string{"amortised", "projection"} {
		aeCfg.Latent.Encoding = enc
		sum, err := experiment.Run(context.Background(), aeCfg, nil)
		if err != nil {
			t.Fatalf("%s encoding: %v", enc, err)
		}
		if sum.Cycles != 30 || math.IsNaN(sum.RMSEa) {
			t.Errorf("%s encoding: summary %+v", enc, sum)
		}
	}
}

// loadExample loads the run config and the training config of two files
// in examples/.
func loadExample(t *testing.T, run, train string) (config.Config, TrainConfig) {
	t.Helper()
	cfg, err := config.Load(filepath.Join("../examples", run))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := LoadTrain(filepath.Join("../examples", train))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, tc
}

// TestLatentExample: examples/ks-latent.yaml names the generator that
// examples/ks-latent.train.yaml trains, on the same model, and runs on it
// (fitted here to a shorter archive, for 60 cycles).
func TestLatentExample(t *testing.T) {
	cfg, tc := loadExample(t, "ks-latent.yaml", "ks-latent.train.yaml")
	if want := "generators/" + tc.Name + ".arrow"; cfg.Latent == nil || cfg.Latent.Generator != want {
		t.Fatalf("latent section %+v, want the generator %s", cfg.Latent, want)
	}
	if !reflect.DeepEqual(cfg.Model, tc.Model) {
		t.Errorf("the run's model %+v differs from the generator's %+v", cfg.Model, tc.Model)
	}
	if cfg.Seed == tc.Archive.Seed {
		t.Errorf("the truth and the archive share the seed %d", cfg.Seed)
	}
	if tc.Generator.Type != "pca" {
		t.Fatalf("the test fits PCA generators, the example trains %s", tc.Generator.Type)
	}
	tc.Archive.Samples = 2000
	X, _, err := experiment.BuildArchive(context.Background(), config.Config{Model: tc.Model}, tc.Archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	train, valid := tc.SplitArchive(X)
	g, err := FitPCAGenerator(tc, train)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cycles, cfg.BurnIn = 60, 20
	s, err := experiment.BuildWithGeneratorStats(cfg, g, latent.EstimateStats(g, train, valid))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The benchmark's evaluation RMSE is about 0.13; 60 cycles from a
	// perturbed start on a generator fitted to a tenth of the archive
	// must at least track the truth (climatology is 1.3).
	t.Logf("rmse_a %.3f, spread %.3f, NIS ratio %.2f", sum.RMSEa, sum.SpreadA, sum.NISRatio)
	if !(sum.RMSEa < 0.6) {
		t.Errorf("rmse_a %v: the example does not track the truth", sum.RMSEa)
	}
}

// TestKSOODExampleParses: examples/ks-ood.yaml validates and asks for the
// manifold test on the generator examples/ks-pca32.train.yaml trains, with
// Bonferroni control (worker's TestKSManifoldExampleOnTemporal runs it).
func TestKSOODExampleParses(t *testing.T) {
	cfg, tr := loadExample(t, "ks-ood.yaml", "ks-pca32.train.yaml")
	if !cfg.OOD.Has(config.TestManifold) || cfg.OOD.Generator != "generators/"+tr.Name+".arrow" || cfg.OOD.OutlierControl != "bonferroni" || tr.Generator.LatentDim != 32 {
		t.Errorf("ood %+v, training %s with d = %d", cfg.OOD, tr.Name, tr.Generator.LatentDim)
	}
}

// TestKSSmallLatentExampleParses: examples/ks-latent-small.yaml validates
// and runs the localised hybrid on the generator examples/ks-conv.train.yaml
// trains, on the same model, with the adaptive inflation of the benchmark
// row it documents (local innovation with the EnKF-N on top) and N = 4.
func TestKSSmallLatentExampleParses(t *testing.T) {
	cfg, tc := loadExample(t, "ks-latent-small.yaml", "ks-conv.train.yaml")
	f := cfg.Filter
	if l := cfg.Latent; l == nil || l.Generator != "generators/"+tc.Name+".arrow" || l.Analysis != config.LatentHybridLocal || tc.Generator.Type != "conv" {
		t.Errorf("latent section %+v, training %s of a %s generator", cfg.Latent, tc.Name, tc.Generator.Type)
	}
	if !reflect.DeepEqual(cfg.Model, tc.Model) || cfg.Seed == tc.Archive.Seed {
		t.Errorf("the run's model %+v and seed %d, the generator's %+v and %d", cfg.Model, cfg.Seed, tc.Model, tc.Archive.Seed)
	}
	if f.Members != 4 || f.AdaptiveScheme() != config.SchemeLocalInnovation || !f.Adaptive.EnKFN {
		t.Errorf("filter %+v, adaptive %+v", f, f.Adaptive)
	}
}

// TestKSSparseLatentExampleParses: examples/ks-latent-sparse.yaml validates
// and runs the localised hybrid with the estimated weight on the generator
// examples/ks-conv.train.yaml trains, on the same model, on the sparse
// network of the benchmark row it documents (every 4th point, N = 16).
func TestKSSparseLatentExampleParses(t *testing.T) {
	cfg, tc := loadExample(t, "ks-latent-sparse.yaml", "ks-conv.train.yaml")
	l, o := cfg.Latent, cfg.Observations
	if l == nil || l.Generator != "generators/"+tc.Name+".arrow" || l.Analysis != config.LatentHybridLocal || l.AlphaEstimate == nil || l.Alpha != nil || tc.Generator.Type != "conv" {
		t.Errorf("latent section %+v, training %s of a %s generator", cfg.Latent, tc.Name, tc.Generator.Type)
	}
	if !reflect.DeepEqual(cfg.Model, tc.Model) || cfg.Seed == tc.Archive.Seed {
		t.Errorf("the run's model %+v and seed %d, the generator's %+v and %d", cfg.Model, cfg.Seed, tc.Model, tc.Archive.Seed)
	}
	if cfg.Filter.Members != 16 || o.Operator != "every-k" || o.Every != 4 {
		t.Errorf("filter %+v, observations %+v", cfg.Filter, o)
	}
}
