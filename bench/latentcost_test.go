package bench

import (
	"context"
	"testing"
)

// TestRunLatentCost runs the cost comparison at a small size and checks
// that both filters ran and were timed.
func TestRunLatentCost(t *testing.T) {
	gen, rows, err := RunLatentCost(context.Background(), LatentCostOptions{Nx: 64, Members: 8, LatentDim: 8, Samples: 100, Epochs: 1, Cycles: 3})
	if err != nil {
		t.Fatal(err)
	}
	if gen.LatentDim != 8 || !(gen.HeldOutMSE > 0) {
		t.Errorf("generator %+v", gen)
	}
	if len(rows) != 2 || rows[0].Filter != "letkf" || rows[1].Filter != "latent-etkf" {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if r.Error == "" && !(r.AnalysisMicros > 0) {
			t.Errorf("%s: analysis not timed: %+v", r.Filter, r)
		}
	}
	if rows[0].Error != "" {
		t.Errorf("the full-space LETKF failed: %s", rows[0].Error)
	}
	if _, _, err := RunLatentCost(context.Background(), LatentCostOptions{Nx: 8}); err == nil {
		t.Error("nx = 8 accepted")
	}
}
