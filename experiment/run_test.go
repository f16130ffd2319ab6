package experiment

import (
	"context"
	"strings"
	"testing"
)

// TestRunIsDeterministic checks the reproducibility contract: the same
// config gives the same numbers, a different seed different ones.
func TestRunIsDeterministic(t *testing.T) {
	cfg := DapperConfigs(600)["l96-enkf"] // L96 perturbed-obs EnKF: uses every stream
	cfg.Model.Noise = 0.01
	a, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Run(context.Background(), cfg, nil)
	if a != b {
		t.Errorf("two runs differ:\n%+v\n%+v", a, b)
	}
	cfg.Seed++
	c, _ := Run(context.Background(), cfg, nil)
	if c == a {
		t.Error("a different seed gave identical results")
	}
}

// TestDivergenceNamesTheCycle makes the filter diverge (observations it
// cannot trust, inflation 2 per cycle) and checks the error says where.
func TestDivergenceNamesTheCycle(t *testing.T) {
	cfg := DapperConfigs(500)["l96-etkf"]
	cfg.Filter.Inflation = 2
	cfg.Observations.Variance = 1e12
	_, err := Run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "cycle ") || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("got %v, want a divergence error naming the cycle", err)
	}
}

func TestRunHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, DapperConfigs(1000)["l63-etkf"], nil)
	if err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
