package worker_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/workflows"
)

// TestBlockAnalysisEndToEnd runs a Lorenz-96 LETKF whose analysis is split
// into blocks of the domain, one activity each, with and without a
// fanned-out forecast: the run's files are those of the same experiment
// run as whole cycles, bit for bit.
func TestBlockAnalysisEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	env := startEnv(t)
	base := experiment.Config{
		Name: "blocks", Cycles: 6,
		Model:        experiment.ModelConfig{Name: "lorenz96", Nx: 60},
		Observations: experiment.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       experiment.FilterConfig{Method: "letkf", Members: 10, Inflation: 1.04, LocRadius: 4, BatchSize: 2, Blocks: 4},
	}
	fanned := base
	fanned.Name = "blocks-fanout"
	fanned.Forecast = &experiment.ForecastConfig{Fanout: &experiment.FanoutConfig{MembersPerTask: 4}}
	for _, cfg := range []experiment.Config{base, fanned} {
		t.Run(cfg.Name, func(t *testing.T) {
			in := input(cfg.Name, cfg, 50, false)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
			if err != nil {
				t.Fatal(err)
			}
			var res workflows.Result
			if err := run.Get(ctx, &res); err != nil {
				t.Fatal(err)
			}
			want, wantDir := runDirect(t, in)
			if res.Summary != want {
				t.Errorf("summary %+v, whole-cycle run %+v", res.Summary, want)
			}
			compareDirs(t, wantDir, filepath.Join(env.stateRoot, in.RunPath))
		})
	}
}
