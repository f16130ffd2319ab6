package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/internal/gentest"
	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/report"
	"github.com/latentda/latentda/store"
)

// l63Config is the example L63 ETKF config cut to 40 cycles.
func l63Config(t *testing.T, dir string) string {
	t.Helper()
	src, err := os.ReadFile("../../examples/l63-etkf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "l63.yaml")
	short := strings.Replace(strings.Replace(string(src), "cycles: 4000", "cycles: 40", 1), "burn_in: 16", "burn_in: 1", 1)
	if err := os.WriteFile(p, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sameRerun checks that the diagnostics of rerun, an unchanged rerun of
// orig from cycle 20 of 40, are orig's bit for bit, and returns orig's.
func sameRerun(t *testing.T, dir, orig, rerun string) []store.DiagRow {
	t.Helper()
	rows := func(run string) []store.DiagRow {
		r, _, err := store.ReadDiagnostics(filepath.Join(dir, "runs", run, "diagnostics.arrow"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	o, s := rows(orig), rows(rerun)
	if len(s) != 20 || s[0].Cycle != 21 {
		t.Fatalf("rerun diagnostics: %d rows from cycle %d, want 20 from 21", len(s), s[0].Cycle)
	}
	for i, r := range s {
		if !r.Same(o[20+i]) {
			t.Errorf("unchanged rerun, cycle %d: %+v, original %+v", r.Cycle, r, o[20+i])
		}
	}
	return o
}

func runJSON(t *testing.T, args ...string) temporalclient.RunSummary {
	t.Helper()
	out, _, err := execute(t, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var s temporalclient.RunSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return s
}

// TestRerunAndCompare reruns a stored run from cycle 20, once unchanged
// (which must reproduce the original's cycles 21..40 exactly: every random
// draw is indexed by cycle) and once with more inflation, and compares.
func TestRerunAndCompare(t *testing.T) {
	dir := t.TempDir()
	cfg := l63Config(t, dir)
	orig := runJSON(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "orig", "--in-process", "-o", "json")
	same := runJSON(t, "rerun", "orig", "--from-cycle", "20", "--state-dir", dir, "--run-id", "same", "--in-process", "-o", "json")
	infl := runJSON(t, "rerun", "orig", "--from-cycle", "20", "--set", "filter.inflation=1.3", "--set", "cycles=50",
		"--state-dir", dir, "--run-id", "infl", "--in-process", "-o", "json")
	if orig.Cycles != 40 || same.Cycles != 20 || infl.Cycles != 30 {
		t.Fatalf("cycles run: orig %d, same %d, infl %d; want 40, 20, 30", orig.Cycles, same.Cycles, infl.Cycles)
	}

	o := sameRerun(t, dir, "orig", "same")
	// The warm start is the original's analysis, with the rerun's
	// metadata and its origin.
	rs := store.OpenRunState(store.RunDir{Root: filepath.Join(dir, "runs", "orig")})
	E0, _, err := rs.Ensemble(store.FieldAnalysis, 20)
	rs.Close()
	if err != nil {
		t.Fatal(err)
	}
	E1, m, err := store.ReadEnsemble(filepath.Join(dir, "runs", "infl", "cycles", "000020", "analysis.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(E0, E1) || m.RunID != "infl" || m.Cycle != 20 || m.Extra["warm_start"] != "runs/orig@20" {
		t.Errorf("warm-start analysis: meta %+v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", "infl", "cycles", "000000")); !os.IsNotExist(err) {
		t.Errorf("the rerun wrote cycle 0: %v", err)
	}

	// A run named by its workflow ID, as runs list shows it, is the same run.
	out, _, err := execute(t, "compare", "latentda-orig", "infl", "--state-dir", dir, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var c report.Comparison
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Cycles) != 50 || c.Cycles[0].Runs[1] != nil || c.Cycles[45].Runs[0] != nil || c.Cycles[25].Runs[0] == nil || c.Cycles[25].Runs[1] == nil {
		t.Errorf("aligned cycles: %d rows, %+v", len(c.Cycles), c.Cycles[0])
	}
	if c.Summary.Cycles != 20 || c.Summary.Runs[0].Scored != 20 || c.Summary.Runs[0].RMSEa == c.Summary.Runs[1].RMSEa {
		t.Errorf("summary %+v", c.Summary)
	}
	// Each run's fixed inflation is its time mean (it was 0 in the JSON).
	if math.Abs(c.Summary.Runs[0].Inflation-1.02) > 1e-12 || math.Abs(c.Summary.Runs[1].Inflation-1.3) > 1e-12 {
		t.Errorf("summary inflations %v and %v, want 1.02 and 1.3", c.Summary.Runs[0].Inflation, c.Summary.Runs[1].Inflation)
	}
	if got := c.Cycles[30].Runs[0].RMSEa; got != o[30].RMSEA {
		t.Errorf("cycle 31 of orig: %v, diagnostics %v", got, o[30].RMSEA)
	}
	out, _, err = execute(t, "compare", "orig", "same", "--state-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"A = orig", "B = same", "over the 20 cycles", "rmse_a A"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare text output lacks %q:\n%s", want, out)
		}
	}
	var sc report.Comparison
	if sc, err = report.CompareRuns(filepath.Join(dir, "runs"), "orig", "same"); err != nil || sc.Summary.Runs[0] != sc.Summary.Runs[1] {
		t.Errorf("unchanged rerun: summaries %+v, %v", sc.Summary, err)
	}
}

func TestRerunRejects(t *testing.T) {
	dir := t.TempDir()
	cfg := l63Config(t, dir)
	runJSON(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "orig", "--in-process", "-o", "json")
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"orig"}, "--from-cycle K (>= 0) is required", true},
		{[]string{"orig", "--from-cycle", "-5"}, "--from-cycle must be >= 0, got -5", true},
		{[]string{"orig", "--from-cycle", "10", "--set", "filter.inflaton=2"}, "filter.inflaton: unknown key; the keys under filter are method, members", true},
		{[]string{"orig", "--from-cycle", "10", "--set", "filter.members=three"}, "setting filter.members: want an integer", true},
		{[]string{"orig", "--from-cycle", "10", "--set", "filter.members=30"}, "is 10 members × 3 variables; the new config wants filter.members=30", true},
		{[]string{"orig", "--from-cycle", "40"}, "K must be 0..39", true},
		{[]string{"orig", "--from-cycle", "10", "--set", "cycles=5"}, "K must be 0..4", true},
		{[]string{"orig", "--from-cycle", "5000", "--set", "cycles=6000"}, "run orig has cycles 1..40, so K must be 0..40", true},
		{[]string{"orig", "--from-cycle", "10", "--run-id", "orig"}, "rerun: --run-id orig is the run it starts from; a rerun is a new run", true},
		{[]string{"nope", "--from-cycle", "10"}, `run "nope": no run directory`, false},
		{[]string{"../orig", "--from-cycle", "10"}, "must be a plain name", true},
		{[]string{"orig", "--from-cycle", "10", "--run-id", "../../escape"}, "must be a plain name", true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := execute(t, append(append([]string{"rerun"}, tc.args...), "--state-dir", dir, "--in-process")...)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &ue) != tc.usage {
				t.Errorf("got %v (usage error: %v), want one containing %q (usage error: %v)", err, errors.As(err, &ue), tc.want, tc.usage)
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "runs")); len(entries) != 1 {
		t.Errorf("rejected reruns left run directories: %v", entries)
	}
}

// TestRunIDHoldsItsStart: the same rerun command under the
// same --run-id re-attaches to the rerun (an idempotent retry); another
// --from-cycle, another source run, or the ID of a plain run is refused,
// naming what the run is and what the command asks for, and changes
// nothing.
func TestRunIDHoldsItsStart(t *testing.T) {
	dir := t.TempDir()
	cfg := l63Config(t, dir)
	for _, run := range []string{"orig", "orig2"} {
		runJSON(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", run, "--in-process", "-o", "json")
	}
	rerun := func(src, from, id string) (string, error) {
		out, _, err := execute(t, "rerun", src, "--from-cycle", from, "--state-dir", dir, "--run-id", id, "--in-process", "-o", "json")
		return out, err
	}
	first, err := rerun("orig", "20", "r")
	if err != nil {
		t.Fatal(err)
	}
	again, err := rerun("orig", "20", "r")
	if err != nil {
		t.Fatalf("the same rerun again: %v", err)
	}
	var s0, s1 temporalclient.RunSummary
	if err := errors.Join(json.Unmarshal([]byte(first), &s0), json.Unmarshal([]byte(again), &s1)); err != nil {
		t.Fatal(err)
	}
	if s0.RMSEa != s1.RMSEa || s1.Cycles != 20 {
		t.Errorf("the same rerun again: %+v, first %+v", s1, s0)
	}
	before := snapshot(t, filepath.Join(dir, "runs"))
	for _, tc := range []struct{ src, from, id, want string }{
		{"orig", "10", "r", "run r is a rerun of orig from cycle 20, and this command asks for a rerun of orig from cycle 10; choose another --run-id"},
		{"orig2", "20", "r", "run r is a rerun of orig from cycle 20, and this command asks for a rerun of orig2 from cycle 20; choose another --run-id"},
		{"orig", "20", "orig2", "run orig2 is a run from its own initial ensemble, and this command asks for a rerun of orig from cycle 20; choose another --run-id"},
	} {
		_, err := rerun(tc.src, tc.from, tc.id)
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ue) {
			t.Errorf("rerun %s --from-cycle %s --run-id %s: %v, want the usage error %q", tc.src, tc.from, tc.id, err, tc.want)
		}
	}
	// A plain run of the same config under the rerun's ID.
	_, _, err = execute(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "r", "--in-process", "-o", "json")
	if want := "run r is a rerun of orig from cycle 20, and this command asks for a run from its own initial ensemble"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("run --run-id r: %v, want %q", err, want)
	}
	if after := snapshot(t, filepath.Join(dir, "runs")); !maps.Equal(before, after) {
		t.Error("refused reruns changed the run directories")
	}
}

// TestRerunAttachesOnlyToTheSameRunningRerun: while rerun workflow r waits for
// a worker (so the run directory holds nothing yet), the same rerun
// command follows it, and one from another cycle is refused by the
// workflow's start input instead of silently following r.
func TestRerunAttachesOnlyToTheSameRunningRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and a worker process")
	}
	tmp := t.TempDir()
	state := filepath.Join(tmp, "state")
	runJSON(t, "run", "-c", l63Config(t, tmp), "--state-dir", state, "--run-id", "orig", "--in-process", "-o", "json")
	srv, c := startServer(t, "", 0)
	addr := srv.FrontendAddress()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rerun := func(from string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, stderr, err := runCLI(ctx, "rerun", "orig", "--from-cycle", from, "--address", addr, "--no-worker", "--state-dir", state, "--run-id", "r", "-o", "json")
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, stderr)
			}
			done <- err
		}()
		return done
	}

	first := rerun("20") // no worker yet: the workflow waits
	for {
		if _, err := c.DescribeWorkflowExecution(ctx, "latentda-r", ""); err == nil {
			break
		}
		select {
		case err := <-first:
			t.Fatalf("the first rerun ended: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	want := "run r is already running (workflow latentda-r) as a rerun of orig from cycle 20, and this command asks for a rerun of orig from cycle 10; choose another --run-id"
	if err := <-rerun("10"); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a rerun from another cycle under a running rerun's ID: got %v, want %q", err, want)
	}
	second := rerun("20")
	startLatentda(t, tmp, "worker", "--address", addr, "--state-dir", state)
	for i, done := range []<-chan error{first, second} {
		if err := <-done; err != nil {
			t.Fatalf("rerun %d: %v", i+1, err)
		}
	}
	sameRerun(t, state, "orig", "r")
}

// TestRerunFromCycleNotKept: a run that kept every 10th analysis ensemble
// reruns from those, refuses the others naming the setting and the cycles
// to use instead, and still gives its report (from the stored means).
func TestRerunFromCycleNotKept(t *testing.T) {
	dir := t.TempDir()
	cfg := l63Config(t, dir)
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(src, "store: {analysis: every 10, forecast: mean}\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	runJSON(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "sparse", "--in-process", "-o", "json", "--batch-cycles", "15")
	_, _, err = execute(t, "rerun", "sparse", "--from-cycle", "25", "--state-dir", dir, "--in-process")
	want := "rerun: run sparse: store: cycle 25 analysis ensemble not kept (store.analysis: every 10); the nearest cycles kept are 20 and 30; rerun from cycle 20 or 30"
	var ue usageError
	if err == nil || err.Error() != want || !errors.As(err, &ue) {
		t.Errorf("rerun from cycle 25: %v, want the usage error %q", err, want)
	}
	// Cycle 15 ends a batch of 15 cycles: its analysis is kept.
	for _, k := range []string{"20", "15"} {
		runJSON(t, "rerun", "sparse", "--from-cycle", k, "--state-dir", dir, "--run-id", "from"+k, "--in-process", "-o", "json")
	}
	if _, _, err := execute(t, "report", "sparse", "--state-dir", dir, "-o", filepath.Join(dir, "report")); err != nil {
		t.Errorf("report of a run that kept means only: %v", err)
	}
}

// TestRunIDsStayInTheStateDir: run IDs that are paths, or outside the
// portable set, are refused before anything is written, with at most 40
// of their characters quoted.
func TestRunIDsStayInTheStateDir(t *testing.T) {
	dir := t.TempDir()
	cfg := l63Config(t, dir)
	state := filepath.Join(dir, "state")
	for _, id := range []string{"../escape", "..", ".", "a/b", `a\b`, "/abs", "x/../../y",
		"with space", "naïve", "-leading-dash", ".hidden", strings.Repeat("x", 10000), "a\x00b", "tab\there"} {
		_, _, err := execute(t, "run", "-c", cfg, "--state-dir", state, "--run-id="+id, "--in-process")
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "must be a plain name") || len(err.Error()) > 250 {
			t.Errorf("--run-id %q: %v, want a short usage error", id, err)
		}
	}
	for _, id := range []string{"a", "l96-etkf-20261202T022758Z", "A.b_c-9", strings.Repeat("x", 128)} {
		if err := checkRunID("--run-id", id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 { // l63.yaml
		t.Errorf("refused runs wrote %v", entries)
	}
}

// TestRerunCarriesEstimates: a rerun of a run whose adaptive inflation
// (the stochastic EnKF's innovation scheme) and observation-error
// variance estimate are carried from cycle to cycle starts from the
// estimates stored after its first cycle, so an unchanged rerun
// reproduces the original's cycles bit for bit; a rerun that adds the
// estimates to a run without them starts them from their starting
// guesses.
func TestRerunCarriesEstimates(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/l63-enkf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	short := strings.NewReplacer("cycles: 4000", "cycles: 40", "burn_in: 16", "burn_in: 1").Replace(string(src))
	cfg := filepath.Join(dir, "l63.yaml")
	adaptive := strings.NewReplacer("inflation: 1.04", "inflation: adaptive", "variance: 2\n  steps_between",
		"variance: 2\n  variance_estimate: {method: desroziers, memory: 5}\n  steps_between").Replace(short)
	if adaptive == short || strings.Count(adaptive, "variance_estimate") != 1 {
		t.Fatalf("the example changed:\n%s", adaptive)
	}
	if err := os.WriteFile(cfg, []byte(adaptive), 0o644); err != nil {
		t.Fatal(err)
	}
	runJSON(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "orig", "--in-process", "-o", "json", "--batch-cycles", "15")
	runJSON(t, "rerun", "orig", "--from-cycle", "20", "--state-dir", dir, "--run-id", "same", "--in-process", "-o", "json")
	o := sameRerun(t, dir, "orig", "same")
	if o[20].Inflation == o[0].Inflation || o[20].VarianceScale == 1 {
		t.Errorf("the estimates did not move: inflation %v, variance scale %v", o[20].Inflation, o[20].VarianceScale)
	}

	// From a run with the hand-set inflation and R as given.
	if err := os.WriteFile(cfg, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	runJSON(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "fixed", "--in-process", "-o", "json")
	runJSON(t, "rerun", "fixed", "--from-cycle", "20", "--set", "filter.inflation=adaptive", "--set", "observations.variance_estimate.method=desroziers",
		"--state-dir", dir, "--run-id", "added", "--in-process", "-o", "json")
	for _, f := range []string{"inflation.arrow", "variance-scales.arrow"} {
		x, _, err := store.ReadVector(filepath.Join(dir, "runs", "added", "cycles", "000020", f))
		if err != nil || len(x) != 1 || x[0] != 1 {
			t.Errorf("%s of the warm start: %v, %v; want the starting guess 1", f, x, err)
		}
	}
}

// TestRerunCarriesManifoldChart: a rerun of a run with the manifold chart
// (ood.manifold_memory) starts from the chart's state stored after its
// first cycle, so an unchanged rerun flags the original's cycles bit for
// bit, in the middle of a sensor bias that the chart flags.
func TestRerunCarriesManifoldChart(t *testing.T) {
	dir := t.TempDir()
	yaml := `name: chart
seed: 4
cycles: 40
model: {name: lorenz96}
observations: {operator: every-k, every: 2}
filter: {method: etkf, members: 10, inflation: 1.05}
ood: {generator: generators/pca.arrow, tests: [manifold], manifold_memory: 5, calibration_samples: 1000}
anomaly: {bias: 6, bias_index: 4, from_cycle: 10}
`
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	gentest.SavePCA(t, cfg, 1000, 12, filepath.Join(dir, "generators", "pca.arrow"))
	path := filepath.Join(dir, "chart.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	runJSON(t, "run", "-c", path, "--state-dir", dir, "--run-id", "orig", "--in-process", "-o", "json", "--batch-cycles", "15")
	runJSON(t, "rerun", "orig", "--from-cycle", "20", "--state-dir", dir, "--run-id", "same", "--in-process", "-o", "json")
	o := sameRerun(t, dir, "orig", "same")
	flagged := 0
	for _, r := range o[20:] {
		if strings.Contains(r.BatchFlag, "manifold") {
			flagged++
		}
	}
	if flagged == 0 {
		t.Errorf("the chart flagged none of cycles 21-40, so the rerun does not test its state")
	}
}

// TestStoredConfigUnusedDefaults: a run's config.yaml holds every key with
// its default, those the rest of the config leaves unused too (ood.outlier_k
// without the outlier test, anomaly.width without a pattern). report and
// rerun read it, also as a run directory written before the checksum line
// holds it; a --set of such a key is refused, as in a user's file.
func TestStoredConfigUnusedDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ood.yaml")
	yaml := `name: ood
cycles: 20
model: {name: lorenz96, nx: 12}
observations: {operator: every-k, every: 2}
filter: {method: etkf, members: 8, inflation: 1.05}
ood: {tests: [innovation]}
anomaly: {from_cycle: 5, bias: 2, bias_index: 3}
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	runJSON(t, "run", "-c", path, "--state-dir", dir, "--run-id", "orig", "--in-process", "-o", "json")
	stored := store.RunDir{Root: filepath.Join(dir, "runs", "orig")}.Config()
	data, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"outlier_k: 3", "width: 2"} {
		if !strings.Contains(string(data), key) {
			t.Fatalf("config.yaml lacks %q, which this test is about:\n%s", key, data)
		}
	}
	rerun := func(id string, set ...string) error {
		args := []string{"rerun", "orig", "--from-cycle", "10", "--state-dir", dir, "--run-id", id, "--in-process", "-o", "json"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		_, _, err := execute(t, args...)
		return err
	}
	if _, _, err := execute(t, "report", "orig", "--state-dir", dir); err != nil {
		t.Errorf("report: %v", err)
	}
	if err := rerun("more", "filter.inflation=1.1"); err != nil {
		t.Errorf("rerun --set filter.inflation=1.1: %v", err)
	}
	err = rerun("k", "ood.outlier_k=4")
	var ue usageError
	if want := "setting ood.outlier_k: only used by the outlier test"; err == nil || !strings.Contains(err.Error(), want) || !errors.As(err, &ue) {
		t.Errorf("rerun --set ood.outlier_k=4: %v, want a usage error containing %q", err, want)
	}
	body, err := config.VerifyChecksum(data)
	if err != nil || len(body) == len(data) {
		t.Fatalf("config.yaml without its checksum line: %v", err)
	}
	if err := os.WriteFile(stored, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rerun("old"); err != nil {
		t.Errorf("rerun of a config.yaml without a checksum line: %v", err)
	}
	if _, _, err := execute(t, "report", "orig", "--state-dir", dir); err != nil {
		t.Errorf("report of a config.yaml without a checksum line: %v", err)
	}
}
