package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchLatentTrace: --trace writes one file per evaluation run, named
// after its row and seed, with the header and a line per cycle, of which
// --cycles are scored.
func TestBenchLatentTrace(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	if _, stderr, err := runCLI(context.Background(), "bench", "latent", "--model", "lorenz96", "--regime", "small", "--filter", "letkf",
		"--tuned", "inflation=1.02,loc_radius=4", "--first-seed", "201", "--seeds", "2", "--cycles", "20", "--parallel", "1",
		"--trace", trace, "--json", filepath.Join(dir, "r.json"), "--report", filepath.Join(dir, "r.md")); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	entries, err := os.ReadDir(trace)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"lorenz96-small-N4-letkf-seed201.csv", "lorenz96-small-N4-letkf-seed202.csv", "lorenz96-small-N8-letkf-seed201.csv", "lorenz96-small-N8-letkf-seed202.csv"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("trace files %v, want %v", names, want)
	}
	data, err := os.ReadFile(filepath.Join(trace, want[0]))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if !strings.HasPrefix(lines[0], "cycle,scored,rmse_f,rmse_a,") || strings.Count(string(data), ",true,") != 20 || !strings.Contains(lines[len(lines)-1], ",true,") {
		t.Errorf("trace %s: %d lines, want a header and 20 scored cycles at the end:\n%s", want[0], len(lines), data)
	}
}
