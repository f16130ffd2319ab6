package worker_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/store"
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
	base := config.Config{
		Name: "blocks", Cycles: 6,
		Model:         config.ModelConfig{Name: "lorenz96", Nx: 60},
		Observations:  config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:        config.FilterConfig{Method: "letkf", Members: 10, Inflation: 1.04, LocRadius: 4, BatchSize: 2},
		Orchestration: &config.Orchestration{Blocks: 4},
	}
	fanned := base
	fanned.Name = "blocks-fanout"
	fanned.Orchestration = &config.Orchestration{Blocks: 4, Fanout: &config.FanoutConfig{MembersPerTask: 4}}
	for _, cfg := range []config.Config{base, fanned} {
		t.Run(cfg.Name, func(t *testing.T) { matchesWholeCycles(t, env, cfg) })
	}
}

// matchesWholeCycles runs cfg on the worker and checks its summary and
// files against the same experiment run as whole cycles in process; it
// returns the latter's run directory.
func matchesWholeCycles(t *testing.T, env testEnv, cfg config.Config) string {
	t.Helper()
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
	return wantDir
}

// TestBlockAnalysisWithQualityControl: with an ood section the block-wise
// cycle runs the same quality control as a whole cycle (every activity
// runs it again; it is deterministic), so flagged observations, inflated
// variances and rejected batches give the whole-cycle files bit for bit:
// a sensor bias under the inflate policy with the projection test, and a
// wave that makes the innovation test reject whole batches.
func TestBlockAnalysisWithQualityControl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	env := startEnv(t)
	base := config.Config{
		Name: "blocks-ood", Cycles: 8,
		Model:         config.ModelConfig{Name: "lorenz96", Nx: 40},
		Observations:  config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:        config.FilterConfig{Method: "letkf", Members: 10, Inflation: 1.04, LocRadius: 4, BatchSize: 2},
		Orchestration: &config.Orchestration{Blocks: 3},
	}
	X, _, err := experiment.BuildArchive(context.Background(), base, experiment.ArchiveOptions{Samples: 500, Seed: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := latent.FitPCA(X, latent.PCAOptions{Dim: 15})
	if err != nil {
		t.Fatal(err)
	}
	genPath := filepath.Join(t.TempDir(), "pca.arrow")
	if err := genfile.Save(genPath, g, genfile.Info{Model: "lorenz96"}); err != nil {
		t.Fatal(err)
	}
	inflate := base
	inflate.Name = "blocks-ood-inflate"
	inflate.OOD = &config.OODConfig{Generator: genPath, CalibrationSamples: 200, Policy: config.PolicyInflate}
	inflate.Anomaly = &config.AnomalyConfig{FromCycle: 2, Bias: 6, BiasIndex: 5}
	reject := base
	reject.Name = "blocks-ood-reject"
	reject.OOD = &config.OODConfig{Tests: []string{config.TestOutlier, config.TestInnovation}, Policy: config.PolicyReject}
	reject.Anomaly = &config.AnomalyConfig{FromCycle: 4, Pattern: "wave", Amplitude: 4}
	for _, cfg := range []config.Config{inflate, reject} {
		t.Run(cfg.Name, func(t *testing.T) {
			wantDir := matchesWholeCycles(t, env, cfg)
			rows, _, err := store.ReadDiagnostics(filepath.Join(wantDir, "diagnostics.arrow"))
			if err != nil {
				t.Fatal(err)
			}
			flagged, batches := 0, 0
			for _, r := range rows {
				flagged += r.NFlagged
				if r.BatchFlag != "" {
					batches++
				}
			}
			if flagged == 0 || cfg.OOD.Policy == config.PolicyReject && batches == 0 {
				t.Errorf("the anomaly flagged %d observations and %d batches: the test exercises nothing", flagged, batches)
			}
		})
	}
}
