package experiment

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/latentda/latentda/config"
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
