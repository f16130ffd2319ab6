package experiment

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/latent"
)

// TestExamplesMatchBenchmarkTable checks that every shipped example config
// parses, builds, and sets up the same experiment as its DAPPER set-up in
// DapperConfigs (only the number of cycles and the burn-in may differ).
func TestExamplesMatchBenchmarkTable(t *testing.T) {
	rows := map[string]config.Config{}
	for name, c := range DapperConfigs(0) {
		rows[name] = c.WithDefaults()
	}
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".train.yaml") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := config.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Latent != nil {
				return // needs a trained generator; see TestLatentExample
			}
			if cfg.OOD != nil {
				return // not a benchmark row; see TestOODExample
			}
			if _, err := Build(cfg); err != nil {
				t.Fatal(err)
			}
			seen++
			want, ok := rows[cfg.Name]
			if !ok {
				t.Fatalf("no benchmark row named %q", cfg.Name)
			}
			if !reflect.DeepEqual(cfg.Model, want.Model) || cfg.Filter != want.Filter || cfg.Init != want.Init ||
				cfg.Observations.Operator != want.Observations.Operator || cfg.Observations.Variance != want.Observations.Variance ||
				cfg.Observations.StepsBetween != want.Observations.StepsBetween || cfg.Seed != want.Seed {
				t.Errorf("example differs from the benchmark row:\n got %+v\nwant %+v", cfg, want)
			}
		})
	}
	if seen != len(rows) {
		t.Errorf("%d example configs for the %d benchmark rows", seen, len(rows))
	}
}

func TestTrainExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../examples/*.train.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no training examples: %v", err)
	}
	for _, f := range files {
		if _, err := LoadTrain(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestLatentExample: examples/ks-latent.yaml names the generator that
// examples/ks-latent.train.yaml trains, on the same model, and runs on it
// (fitted here to a shorter archive, for 60 cycles).
func TestLatentExample(t *testing.T) {
	cfg, err := config.Load("../examples/ks-latent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := LoadTrain("../examples/ks-latent.train.yaml")
	if err != nil {
		t.Fatal(err)
	}
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
	X, _, err := BuildArchive(context.Background(), config.Config{Model: tc.Model}, tc.Archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	train, valid := tc.SplitArchive(X)
	g, err := FitPCAGenerator(tc, train)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cycles, cfg.BurnIn = 60, 20
	s, err := BuildWithGeneratorStats(cfg, g, latent.EstimateStats(g, train, valid))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := runSetup(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The benchmark's evaluation RMSE is about 0.2; 60 cycles from a
	// perturbed start on a generator fitted to a tenth of the archive
	// must at least track the truth (climatology is 1.3).
	t.Logf("rmse_a %.3f, spread %.3f, NIS ratio %.2f", sum.RMSEa, sum.SpreadA, sum.NISRatio)
	if !(sum.RMSEa < 0.6) {
		t.Errorf("rmse_a %v: the example does not track the truth", sum.RMSEa)
	}
}
