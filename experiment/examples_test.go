package experiment

import (
	"path/filepath"
	"testing"
)

// TestExamplesMatchBenchmarkTable checks that every shipped example config
// parses, builds, and sets up the same experiment as its row of the DAPPER
// table (only the number of cycles and the burn-in may differ).
func TestExamplesMatchBenchmarkTable(t *testing.T) {
	rows := map[string]Config{}
	for _, c := range DapperCases(0) {
		rows[c.Config.Name] = c.Config.WithDefaults()
	}
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) != len(rows) {
		t.Fatalf("found %d example configs (%v), want one per benchmark row (%d)", len(files), err, len(rows))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Build(cfg); err != nil {
				t.Fatal(err)
			}
			want, ok := rows[cfg.Name]
			if !ok {
				t.Fatalf("no benchmark row named %q", cfg.Name)
			}
			if cfg.Model != want.Model || cfg.Filter != want.Filter || cfg.Init != want.Init ||
				cfg.Observations.Operator != want.Observations.Operator || cfg.Observations.Variance != want.Observations.Variance ||
				cfg.Observations.StepsBetween != want.Observations.StepsBetween || cfg.Seed != want.Seed {
				t.Errorf("example differs from the benchmark row:\n got %+v\nwant %+v", cfg, want)
			}
		})
	}
}
