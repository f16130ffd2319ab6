package worker_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/latentda/latentda/activities"
	trainacts "github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/training"
	"github.com/latentda/latentda/workflows"
)

// Training configs: a full-rank PCA of Lorenz-96 (d = n = 40, so the
// latent filter is the full-space filter up to round-off) and a tiny
// autoencoder of an 8-variable Lorenz-96.
const (
	e2ePCATrain = `
name: l96-pca40
model: {name: lorenz96, nx: 40}
archive: {samples: 1000, every: 5, spin_up: 20, seed: 7}
validation: 0.1
generator: {type: pca, latent_dim: 40}
`
	e2eAETrain = `
name: l96-ae4
model: {name: lorenz96, nx: 8}
archive: {samples: 600, every: 5, spin_up: 10, seed: 7}
validation: 0.1
generator: {type: autoencoder, latent_dim: 4, hidden: [16], epochs: 6, batch_size: 32, learning_rate: 0.003}
`
)

// executeTrain runs the TrainGenerator workflow as `latentda train` starts
// it and returns its result.
func executeTrain(ctx context.Context, t *testing.T, c client.Client, cfg training.TrainConfig) (trainacts.TrainOutput, client.WorkflowRun, error) {
	t.Helper()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "latentda-train-" + cfg.Name,
		TaskQueue: workflows.TaskQueue,
	}, workflows.TrainGenerator, workflows.TrainInput{Config: cfg})
	if err != nil {
		t.Fatalf("start training %s: %v", cfg.Name, err)
	}
	var out trainacts.TrainOutput
	err = run.Get(ctx, &out)
	return out, run, err
}

// trainDirect runs the two training activities in this process in a fresh
// state root, as the workflow schedules them.
func trainDirect(t *testing.T, cfg training.TrainConfig) (trainacts.TrainOutput, string) {
	t.Helper()
	a := &trainacts.Activities{StateRoot: t.TempDir()}
	paths := trainacts.TrainPathsFor(cfg.Name)
	if _, err := a.BuildArchive(context.Background(), trainacts.ArchiveInput{Config: cfg, Paths: paths}); err != nil {
		t.Fatal(err)
	}
	out, err := a.TrainGenerator(context.Background(), trainacts.TrainInput{Config: cfg, Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	return out, a.StateRoot
}

// checkTrainFiles checks that the workflow's archive and generator are the
// direct run's, byte for byte: the config survives the trip through
// Temporal's payloads exactly.
func checkTrainFiles(t *testing.T, name, wantRoot, gotRoot string) {
	t.Helper()
	p := trainacts.TrainPathsFor(name)
	for _, rel := range []string{p.Archive, p.Generator} {
		compareFile(t, filepath.Join(wantRoot, rel), filepath.Join(gotRoot, rel))
	}
}

func compareFile(t *testing.T, want, got string) {
	t.Helper()
	a, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("workflow did not write %s: %v", got, err)
	}
	if string(a) != string(b) {
		t.Errorf("%s differs from the direct run's %s", got, want)
	}
}

// checkDecodes checks the latent files of cycle k of a run: the forecast
// codes are the encoded forecast members, and the analysis members are the
// decoded analysis codes, bit for bit.
func checkDecodes(t *testing.T, dir store.RunDir, k int, g latent.Generator, members int) {
	t.Helper()
	rs := store.OpenRunState(dir)
	defer rs.Close()
	read := func(f store.Field, cols int) [][]float64 {
		E, meta, err := rs.Ensemble(f, k)
		if err != nil {
			t.Fatalf("cycle %d: %v", k, err)
		}
		r, c := E.Dims()
		if r != members || c != cols || meta.Cycle != k {
			t.Fatalf("%s is %d×%d for cycle %d, want %d×%d for cycle %d", f, r, c, meta.Cycle, members, cols, k)
		}
		rows := make([][]float64, r)
		for i := range rows {
			rows[i] = E.RawRowView(i)
		}
		return rows
	}
	n, d := g.StateDim(), g.LatentDim()
	xf, xa := read(store.FieldForecast, n), read(store.FieldAnalysis, n)
	zf, za := read(store.FieldLatentForecast, d), read(store.FieldLatentAnalysis, d)
	z, x := make([]float64, d), make([]float64, n)
	for i := range members {
		g.Encode(z, xf[i])
		if !slices.Equal(z, zf[i]) {
			t.Errorf("cycle %d member %d: the forecast codes are not the encoded forecast", k, i)
		}
		g.Decode(x, za[i])
		if !slices.Equal(x, xa[i]) {
			t.Errorf("cycle %d member %d: the analysis is not the decoded analysis codes", k, i)
		}
	}
	if slices.Equal(zf[0], za[0]) {
		t.Errorf("cycle %d: the analysis left the codes of member 0 unchanged", k)
	}
}

func parseTrain(t *testing.T, yaml string) training.TrainConfig {
	t.Helper()
	cfg, err := training.ParseTrain([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTrainEndToEnd trains generators with the TrainGenerator workflow on
// the embedded server and assimilates with them: the worker writes
// generators/<name>.arrow under its state root, and a run naming that
// relative path uses it.
func TestTrainEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	env := startEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	pcaCfg := parseTrain(t, e2ePCATrain)
	aeCfg := parseTrain(t, e2eAETrain)
	t0 := time.Now()
	pcaOut, pcaRun, err := executeTrain(ctx, t, env.c, pcaCfg)
	if err != nil {
		t.Fatalf("PCA training failed: %v", err)
	}
	aeOut, aeRun, err := executeTrain(ctx, t, env.c, aeCfg)
	if err != nil {
		t.Fatalf("autoencoder training failed: %v", err)
	}
	t.Logf("trained both generators in %v: %+v, %+v", time.Since(t0).Round(time.Millisecond), pcaOut, aeOut)

	// The workflow's results and files are the activities', run directly.
	for _, c := range []struct {
		cfg training.TrainConfig
		out trainacts.TrainOutput
		run client.WorkflowRun
	}{{pcaCfg, pcaOut, pcaRun}, {aeCfg, aeOut, aeRun}} {
		direct, root := trainDirect(t, c.cfg)
		direct.Path = filepath.Join(env.stateRoot, trainacts.TrainPathsFor(c.cfg.Name).Generator)
		if c.out != direct {
			t.Errorf("%s: workflow returned\n%+v\nthe direct run\n%+v", c.cfg.Name, c.out, direct)
		}
		checkTrainFiles(t, c.cfg.Name, root, env.stateRoot)

		// Two heartbeating activities, each done in one attempt.
		h := history(ctx, t, env.c, c.run.GetID(), c.run.GetRunID())
		var types []string
		for _, ev := range h.Events {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				types = append(types, a.GetActivityType().GetName())
				if a.GetHeartbeatTimeout().AsDuration() <= 0 {
					t.Errorf("%s: activity %s scheduled without a heartbeat timeout", c.cfg.Name, a.GetActivityType().GetName())
				}
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() != 1 {
				t.Errorf("%s: an activity needed attempt %d: %v", c.cfg.Name, a.GetAttempt(), a.GetLastFailure())
			}
		}
		if want := []string{"BuildArchive", "TrainGenerator"}; !slices.Equal(types, want) {
			t.Errorf("%s: scheduled activities %v, want %v", c.cfg.Name, types, want)
		}
	}
	if pcaOut.Type != "pca" || pcaOut.StateDim != 40 || pcaOut.LatentDim != 40 || !(pcaOut.HeldOutMSE < 1e-20) {
		t.Errorf("full-rank PCA: %+v", pcaOut)
	}
	if aeOut.Type != "autoencoder" || aeOut.StateDim != 8 || aeOut.LatentDim != 4 || aeOut.Epochs != 6 {
		t.Errorf("autoencoder: %+v", aeOut)
	}

	// An invalid training fails at once: a non-retryable error, one
	// attempt.
	bad := pcaCfg
	bad.Name = "l96-pca-rank"
	bad.Archive.Samples = 20 // 18 training snapshots: rank 17 < 40
	_, badRun, err := executeTrain(ctx, t, env.c, bad)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrInvalidConfig || !strings.Contains(err.Error(), "exceeds the rank") {
		t.Errorf("training beyond the rank: %v, want an %s application error", err, activities.ErrInvalidConfig)
	}
	if n := countEvents(history(ctx, t, env.c, badRun.GetID(), badRun.GetRunID()), enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED); n != 1 {
		t.Errorf("the invalid training failed %d activity attempts, want 1", n)
	}

	// Assimilate with the trained generators; the group waits for its
	// parallel runs.
	t.Run("assimilate", func(t *testing.T) { assimilateWithGenerators(ctx, t, env, pcaOut) })
}

func assimilateWithGenerators(ctx context.Context, t *testing.T, env testEnv, pcaOut trainacts.TrainOutput) {
	t.Run("latent PCA", func(t *testing.T) {
		t.Parallel()
		const cycles = 50
		full := experiment.DapperConfigs(cycles)["l96-etkf"]
		full.BurnIn = 1 // 20 cycles
		cfg := full
		cfg.Name = "l96-latent-pca40"
		cfg.Latent = &config.LatentConfig{Generator: filepath.ToSlash(trainacts.TrainPathsFor("l96-pca40").Generator)}
		if cfg.Latent.Generator != "generators/l96-pca40.arrow" {
			t.Fatalf("generator path %q", cfg.Latent.Generator)
		}
		in := input("e2e-latent-pca", cfg, 10, true)
		run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
		if err != nil {
			t.Fatalf("start workflow: %v", err)
		}
		var res workflows.Result
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("latent run failed: %v", err)
		}
		if res.Summary.Cycles != cycles || res.Stopped {
			t.Fatalf("result %+v", res)
		}

		// Full rank: the full-space filter up to round-off.
		want, err := experiment.Run(ctx, full, nil)
		if err != nil {
			t.Fatal(err)
		}
		rel := math.Abs(res.Summary.RMSEa-want.RMSEa) / want.RMSEa
		t.Logf("rmse_a latent %v, full space %v (relative difference %.2g)", res.Summary.RMSEa, want.RMSEa, rel)
		if rel > 1e-6 {
			t.Errorf("latent PCA run rmse_a %v, full-space %v: relative difference %.2g > 1e-6", res.Summary.RMSEa, want.RMSEa, rel)
		}
		if res.Summary.RMSEa > 0.5 {
			t.Errorf("rmse_a %v: the latent filter does not track", res.Summary.RMSEa)
		}

		// Every cycle's statistics are the in-process latent run's, with
		// the generator named by its absolute path.
		inProcess := cfg
		inProcess.Latent = &config.LatentConfig{Generator: filepath.Join(env.stateRoot, cfg.Latent.Generator)}
		rows, _, err := store.ReadDiagnostics(res.Diagnostics)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		if _, err := experiment.Run(ctx, inProcess, func(st experiment.CycleStats) {
			if k >= len(rows) || experiment.StatsOfRow(rows[k]) != st {
				t.Errorf("cycle %d: in-process %+v, workflow diagnostics %+v", st.Cycle, st, rows[min(k, len(rows)-1)])
			}
			k++
		}); err != nil {
			t.Fatal(err)
		}
		if k != cycles || len(rows) != cycles {
			t.Errorf("%d in-process cycles, %d diagnostics rows, want %d", k, len(rows), cycles)
		}

		// The latent ensembles are stored beside the states.
		g, _, err := genfile.Load(pcaOut.Path)
		if err != nil {
			t.Fatal(err)
		}
		dir := store.RunDir{Root: res.RunDir}
		for _, k := range []int{1, cycles / 2, cycles} {
			checkDecodes(t, dir, k, g, cfg.Filter.Members)
		}
	})

	t.Run("latent autoencoder", func(t *testing.T) {
		t.Parallel()
		const cycles = 20
		cfg := experiment.DapperConfigs(cycles)["l96-etkf"]
		cfg.Name = "l96-latent-ae4"
		cfg.BurnIn = 0.5
		cfg.Model.Nx = 8
		cfg.Filter.Members = 10
		cfg.Latent = &config.LatentConfig{Generator: "generators/l96-ae4.arrow", Update: "increment"}
		in := input("e2e-latent-ae", cfg, 10, false)
		run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
		if err != nil {
			t.Fatalf("start workflow: %v", err)
		}
		var res workflows.Result
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("latent run failed: %v", err)
		}
		if res.Summary.Cycles != cycles || math.IsNaN(res.Summary.RMSEa) {
			t.Fatalf("result %+v", res)
		}
		rs := store.OpenRunState(store.RunDir{Root: res.RunDir})
		defer rs.Close()
		for _, k := range []int{1, cycles} {
			E, _, err := rs.Ensemble(store.FieldLatentAnalysis, k)
			if err != nil {
				t.Fatalf("cycle %d: %v", k, err)
			}
			if r, c := E.Dims(); r != 10 || c != 4 {
				t.Errorf("cycle %d latent analysis is %d×%d, want 10×4", k, r, c)
			}
		}
	})

	t.Run("missing generator", func(t *testing.T) {
		t.Parallel()
		cfg := experiment.DapperConfigs(10)["l96-etkf"]
		cfg.Name = "l96-latent-missing"
		cfg.BurnIn = 0.1
		cfg.Latent = &config.LatentConfig{Generator: "generators/none.arrow"}
		in := input("e2e-latent-missing", cfg, 10, true)
		run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
		if err != nil {
			t.Fatalf("start workflow: %v", err)
		}
		err = run.Get(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(env.stateRoot, "generators", "none.arrow")) {
			t.Errorf("run with a missing generator: %v, want an error naming the file", err)
		}
	})
}
