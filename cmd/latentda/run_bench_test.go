package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkRunInProcess times `latentda run --in-process` on
// examples/l96-etkf.yaml (1000 cycles of a 40-variable ETKF with 24
// members), keeping every ensemble (the default store section) and
// keeping only the ensembles' means and spreads. docs/benchmarks.md has
// the numbers and the command:
//
//	go test -run '^$' -bench RunInProcess -benchtime 10x -count 6 ./cmd/latentda
func BenchmarkRunInProcess(b *testing.B) {
	l96, err := os.ReadFile(filepath.Join("..", "..", "examples", "l96-etkf.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, store string }{
		{"keep-all", ""},
		{"means-only", "store: {forecast: mean, analysis: mean}\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tmp := b.TempDir()
			cfg := filepath.Join(tmp, "l96-etkf.yaml")
			if err := os.WriteFile(cfg, append(append([]byte{}, l96...), bc.store...), 0o666); err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				state := filepath.Join(tmp, "state-"+strconv.Itoa(i))
				if _, stderr, err := runCLI(context.Background(), "run", "--in-process", "-c", cfg, "--state-dir", state, "--run-id", "bench", "-o", "json"); err != nil {
					b.Fatalf("%v\n%s", err, stderr)
				}
				b.StopTimer()
				if err := os.RemoveAll(state); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
