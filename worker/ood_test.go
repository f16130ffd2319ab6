package worker_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/latent"
	"github.com/latentda/latentda/latent/genfile"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/workflows"
)

// TestFlaggedBatchPausesRun injects an anomaly (a wave of amplitude 4σ added
// to what the observations see, from cycle 6) into a run configured to
// reject flagged observations and pause on a flagged batch, and checks the
// flags end to end: the run pauses after cycle 6 and says why in the status
// query and the LatentdaFlagged search attribute; the stored observations
// of cycle 6 are all there, marked flagged with the reason; the
// diagnostics row holds the test's statistic above its threshold; a stop
// signal ends the run.
func TestFlaggedBatchPausesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	env := startEnv(t)
	cfg := config.Config{
		Name: "ood-e2e", Cycles: 12,
		Model:        config.ModelConfig{Name: "lorenz96"},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       config.FilterConfig{Method: "etkf", Members: 20, Inflation: 1.05},
		OOD:          &config.OODConfig{Tests: []string{config.TestOutlier, config.TestInnovation}, Policy: config.PolicyReject, PauseOnBatch: true},
		Anomaly:      &config.AnomalyConfig{FromCycle: 6, Pattern: "wave", Amplitude: 4, Wavenumber: 3},
	}
	in := input("ood-e2e", cfg, 4, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.Status
	for st.Phase != workflows.PhasePaused {
		if ctx.Err() != nil {
			t.Fatalf("run did not pause; last status %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
		st = queryStatus(ctx, t, env.c, run.GetID())
	}
	if st.Cycle != 6 || st.Last.BatchFlag != config.TestInnovation || !strings.Contains(st.PauseReason, "cycle 6") ||
		st.Summary.Flagged != st.Last.NObs || st.Summary.FlaggedBatches != 1 {
		t.Errorf("paused status %+v", st)
	}
	desc, err := env.c.DescribeWorkflow(ctx, run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := desc.TypedSearchAttributes.GetInt64(workflows.AttrFlagged); v != int64(st.Summary.Flagged) {
		t.Errorf("%s = %d, want %d", workflows.AttrFlagged.GetName(), v, st.Summary.Flagged)
	}

	dir := store.RunDir{Root: filepath.Join(env.stateRoot, in.RunPath)}
	rs := store.OpenRunState(dir)
	obs, _, err := rs.Observations(6)
	rs.Close()
	if err != nil {
		t.Fatal(err)
	}
	for i := range obs.Values {
		if !obs.Flagged[i] || !strings.Contains(obs.Reasons[i], "batch: NIS") || math.IsNaN(obs.InnovationZ[i]) {
			t.Fatalf("observation %d of cycle 6: flagged %v, reason %q, z %v", i, obs.Flagged[i], obs.Reasons[i], obs.InnovationZ[i])
		}
	}
	rows, _, err := store.ReadDiagnostics(dir.Diagnostics())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d diagnostics rows, want 6", len(rows))
	}
	if r := rows[5]; r.BatchFlag != config.TestInnovation || !(r.QCNIS > r.QCNISThreshold) || r.NFlagged != r.NObs || r.RMSEA != r.RMSEF {
		t.Errorf("cycle 6 diagnostics %+v", r)
	}
	if r := rows[4]; r.BatchFlag != "" || !(r.QCNIS < r.QCNISThreshold) {
		t.Errorf("cycle 5 diagnostics %+v", r)
	}

	if err := env.c.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalStop, nil); err != nil {
		t.Fatal(err)
	}
	var res workflows.Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || res.Summary.Cycles != 6 {
		t.Errorf("result %+v, want stopped after 6 cycles", res)
	}
}

// TestKSManifoldExampleOnTemporal runs examples/ks-ood.yaml on the
// embedded server, shortened to 16 cycles in batches of 4 with the anomaly
// from cycle 4 and its generator (generators/ks-pca32.arrow, as `latentda
// train -c examples/ks-pca32.train.yaml` writes it) fitted on a smaller
// archive: the manifold chart, its state carried from batch to batch,
// flags the wave off the generator's manifold within a few cycles and
// from then on, which the status query (what `latentda status` prints)
// and the stored observations show, with the chart's parts in the reason.
func TestKSManifoldExampleOnTemporal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	cfg, err := config.Load("../examples/ks-ood.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cycles, cfg.BurnIn, cfg.Anomaly.FromCycle, cfg.OOD.CalibrationSamples = 16, 0, 4, 500
	env := startEnv(t)
	X, _, err := experiment.BuildArchive(context.Background(), cfg, experiment.ArchiveOptions{Samples: 2000, Every: 2, Seed: 11}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := latent.FitPCA(X, latent.PCAOptions{Dim: 32})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(env.stateRoot, "generators"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := genfile.Save(filepath.Join(env.stateRoot, cfg.OOD.Generator), g, genfile.Info{Model: "ks"}); err != nil {
		t.Fatal(err)
	}
	in := input("ks-ood", cfg, 4, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	st := queryStatus(ctx, t, env.c, run.GetID())
	if !strings.Contains(st.Last.BatchFlag, config.TestManifold) || st.Summary.FlaggedBatches < 8 {
		t.Errorf("status %+v: want the last batch flagged by manifold and most of the 13 anomalous batches counted", st)
	}
	dir := store.RunDir{Root: filepath.Join(env.stateRoot, in.RunPath)}
	rs := store.OpenRunState(dir)
	obs, _, err := rs.Observations(16)
	rs.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The reason names the chart and each of its parts.
	reason := obs.Reasons[0]
	for _, part := range []string{"manifold chart", "the score's chart", "residual chart", "the code spectrum's chart", "the location chart"} {
		if !obs.Flagged[0] || !strings.Contains(reason, part) {
			t.Errorf("cycle 16, observation 0: flagged %v, reason %q; want it to name %q", obs.Flagged[0], reason, part)
		}
	}
}

// TestChartAlarmsPauseOnce: with pause_on_batch, the innovation chart's
// alarms over a sensor bias pause the run at the first cycle of each run
// of them, not after every cycle of it, across batches of 4 cycles; a
// cycle that the one-cycle innovation test flags pauses as before. The
// test resumes every pause and checks the pauses against the rule applied
// to the stored diagnostics (the run ends after its last cycle instead of
// pausing), and that some flagged cycles did not pause.
func TestChartAlarmsPauseOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	env := startEnv(t)
	cfg := config.Config{
		Name: "chart-pause", Cycles: 40,
		Model:        config.ModelConfig{Name: "lorenz96"},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       config.FilterConfig{Method: "etkf", Members: 20, Inflation: 1.05},
		OOD:          &config.OODConfig{Tests: []string{config.TestInnovation}, InnovationMemory: 5, PauseOnBatch: true},
		Anomaly:      &config.AnomalyConfig{FromCycle: 10, Bias: 4, BiasIndex: 4},
	}
	in := input("chart-pause", cfg, 4, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := env.c.ExecuteWorkflow(ctx, startOptions(in), workflows.Assimilation, in)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Get(ctx, nil) }()
	var paused []int
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		case <-time.After(100 * time.Millisecond):
			st := queryStatus(ctx, t, env.c, run.GetID())
			if st.Phase != workflows.PhasePaused || len(paused) > 0 && paused[len(paused)-1] == st.Cycle {
				continue
			}
			paused = append(paused, st.Cycle)
			if err := env.c.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalResume, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows, _, err := store.ReadDiagnostics(store.RunDir{Root: filepath.Join(env.stateRoot, in.RunPath)}.Diagnostics())
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	flagged, prev := 0, ""
	for _, r := range rows {
		flags := strings.Split(r.BatchFlag, "+")
		if r.BatchFlag != "" {
			flagged++
			// After the last cycle the run ends instead of pausing.
			if r.Cycle < cfg.Cycles && (slices.Contains(flags, config.TestInnovation) || !strings.Contains(prev, config.FlagInnovationChart)) {
				want = append(want, r.Cycle)
			}
		}
		prev = r.BatchFlag
	}
	t.Logf("%d flagged cycles, pauses after %v", flagged, paused)
	if !slices.Equal(paused, want) {
		t.Errorf("paused after cycles %v, want %v", paused, want)
	}
	if len(want) == 0 || flagged <= len(want) {
		t.Errorf("%d flagged cycles and %d pauses: the test needs a run of the chart's alarms", flagged, len(want))
	}
}
