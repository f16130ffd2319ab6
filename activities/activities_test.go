package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/activities/internal/statetest"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/gentest"
	"github.com/latentda/latentda/store"
)

// The activities are called directly with a plain context: both check
// activity.IsActivity before touching the activity context, which is how
// `latentda run --in-process` uses them too.

// shortL63 is the DAPPER L63 ETKF set-up (Sakov 2012) with a given number
// of cycles and a burn-in of 1 time unit (4 cycles of 0.25), so that short
// runs still score most of their cycles and pass config validation.
func shortL63(cycles int) config.Config {
	cfg := experiment.DapperConfigs(cycles)["l63-etkf"]
	cfg.BurnIn = 1
	return cfg
}

const runID = "act-test"

// runPath is where runID lives under a state root, as the CLI lays it out.
var runPath = filepath.Join("runs", runID)

func newActivities(t *testing.T) *activities.Activities {
	t.Helper()
	return &activities.Activities{StateRoot: t.TempDir()}
}

func runDir(a *activities.Activities) store.RunDir {
	return store.RunDir{Root: filepath.Join(a.StateRoot, runPath)}
}

func initialize(t *testing.T, a *activities.Activities, cfg config.Config) activities.InitOutput {
	t.Helper()
	out, err := a.Initialize(context.Background(), activities.InitInput{RunID: runID, RunPath: runPath, Config: cfg})
	if err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	return out
}

func runCycles(a *activities.Activities, cfg config.Config, from, to int) (activities.CyclesOutput, error) {
	return a.RunCycles(context.Background(), activities.CyclesInput{RunID: runID, RunPath: runPath, Config: cfg, From: from, To: to})
}

// runBatches initialises a run and runs the given batches in order.
func runBatches(t *testing.T, a *activities.Activities, cfg config.Config, batches [][2]int) []activities.CyclesOutput {
	t.Helper()
	initialize(t, a, cfg)
	outs := make([]activities.CyclesOutput, 0, len(batches))
	for _, b := range batches {
		out, err := runCycles(a, cfg, b[0], b[1])
		if err != nil {
			t.Fatalf("RunCycles %d..%d: %v", b[0], b[1], err)
		}
		outs = append(outs, out)
	}
	return outs
}

func readDiag(t *testing.T, a *activities.Activities) []store.DiagRow {
	t.Helper()
	rows, meta, err := store.ReadDiagnostics(runDir(a).Diagnostics())
	if err != nil {
		t.Fatalf("read diagnostics: %v", err)
	}
	if meta.RunID != runID {
		t.Errorf("diagnostics run ID %q, want %q", meta.RunID, runID)
	}
	return rows
}

func cyclesOf(rows []store.DiagRow) []int {
	c := make([]int, len(rows))
	for i, r := range rows {
		c[i] = r.Cycle
	}
	return c
}

func seq(from, to int) []int {
	var s []int
	for k := from; k <= to; k++ {
		s = append(s, k)
	}
	return s
}

// TestRunCyclesWritesEveryCycle runs 30 cycles in two batches and checks the
// state on disk: every cycle's files, readable with the right shapes and
// metadata, a diagnostics table with one row per cycle, batch sums that are
// the sums of those rows, and rows bit-identical to the in-process runner's
// (experiment.Run documents that both paths give the same numbers).
func TestRunCyclesWritesEveryCycle(t *testing.T) {
	const cycles = 30
	cfg := shortL63(cycles)
	a := newActivities(t)
	init := initialize(t, a, cfg)
	dir := runDir(a)
	if init.RunDir != dir.Root || init.Diagnostics != dir.Diagnostics() {
		t.Errorf("Initialize returned %+v, want run dir %s and diagnostics %s", init, dir.Root, dir.Diagnostics())
	}
	batches := [][2]int{{1, 10}, {11, 30}}
	var outs []activities.CyclesOutput
	for _, b := range batches {
		out, err := runCycles(a, cfg, b[0], b[1])
		if err != nil {
			t.Fatalf("RunCycles %d..%d: %v", b[0], b[1], err)
		}
		outs = append(outs, out)
	}

	const members, nx = 10, 3 // the L63 ETKF case: N=10, 3 variables observed by identity
	rs := store.OpenRunState(dir)
	defer rs.Close()
	for k := 0; k <= cycles; k++ {
		truth, m, err := rs.Vector(store.FieldTruth, k)
		if err != nil {
			t.Fatalf("cycle %d truth: %v", k, err)
		}
		if len(truth) != nx || m.Cycle != k || m.RunID != runID || m.Model != "lorenz63" {
			t.Errorf("cycle %d truth: %d values, meta %+v", k, len(truth), m)
		}
		kinds := []store.Field{store.FieldAnalysis}
		if k > 0 {
			kinds = append(kinds, store.FieldForecast)
		}
		for _, kind := range kinds {
			E, m, err := rs.Ensemble(kind, k)
			if err != nil {
				t.Fatalf("cycle %d %s: %v", k, kind, err)
			}
			if r, c := E.Dims(); r != members || c != nx || m.Cycle != k || m.RunID != runID {
				t.Errorf("cycle %d %s: %d×%d ensemble, meta %+v; want %d×%d, cycle %d", k, kind, r, c, m, members, nx, k)
			}
		}
		if k == 0 {
			_, _, errF := rs.Ensemble(store.FieldForecast, 0)
			_, _, errO := rs.Observations(0)
			if !errors.Is(errF, fs.ErrNotExist) || !errors.Is(errO, fs.ErrNotExist) {
				t.Errorf("cycle 0 has a forecast (%v) or observations (%v); only the initial truth and ensemble belong there", errF, errO)
			}
			continue
		}
		obs, m, err := rs.Observations(k)
		if err != nil {
			t.Fatalf("cycle %d observations: %v", k, err)
		}
		if obs.Len() != nx || m.Cycle != k {
			t.Errorf("cycle %d observations: %d values, meta cycle %d", k, obs.Len(), m.Cycle)
		}
		for i, v := range obs.Variances {
			if v != cfg.Observations.Variance {
				t.Errorf("cycle %d observation %d: variance %v, config says %v", k, i, v, cfg.Observations.Variance)
			}
		}
	}

	rows := readDiag(t, a)
	if got, want := cyclesOf(rows), seq(1, cycles); !slices.Equal(got, want) {
		t.Fatalf("diagnostics cycles %v, want %v", got, want)
	}
	var total experiment.Sums
	for i, b := range batches {
		// The activity adds the cycles of a batch in cycle order, and the
		// rows hold the same float64 values, so the sums agree exactly.
		var want activities.CyclesOutput
		for _, r := range rows[b[0]-1 : b[1]] {
			want.Sums.Add(experiment.StatsOfRow(r), cfg.Scored(r.Cycle))
			want.Last = experiment.StatsOfRow(r)
		}
		if outs[i] != want {
			t.Errorf("batch %d..%d returned\n%+v\nbut its diagnostics rows sum to\n%+v", b[0], b[1], outs[i], want)
		}
		total.Merge(outs[i].Sums)
	}
	if total.Cycles != cycles || total.Scored != cycles-4 {
		t.Errorf("sums count %d cycles, %d scored; want %d and %d (burn-in 1 = 4 cycles)", total.Cycles, total.Scored, cycles, cycles-4)
	}

	// The in-process runner computes the same cycles from the same
	// building blocks; the Arrow round trip between batches is exact.
	var inProcess []experiment.CycleStats
	if _, err := experiment.Run(context.Background(), cfg, func(st experiment.CycleStats) { inProcess = append(inProcess, st) }); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if got := experiment.StatsOfRow(r); got != inProcess[i] {
			t.Errorf("cycle %d: diagnostics %+v, in-process run %+v", r.Cycle, got, inProcess[i])
		}
	}
}

// TestRunsAreBitIdentical checks the reproducibility contract on disk: the
// same config and run ID give the same state, bit for bit, in two fresh
// state roots, whatever the batching (which decides only how the cycles
// are grouped into batch files).
func TestRunsAreBitIdentical(t *testing.T) {
	const cycles = 30
	single := make([][2]int, cycles)
	for k := range single {
		single[k] = [2]int{k + 1, k + 1}
	}
	cases := []struct {
		name   string
		first  [][2]int
		second [][2]int
	}{
		{"same batches", [][2]int{{1, 10}, {11, 30}}, [][2]int{{1, 10}, {11, 30}}},
		{"one batch vs two", [][2]int{{1, 30}}, [][2]int{{1, 7}, {8, 30}}},
		{"one batch vs one cycle per batch", [][2]int{{1, 30}}, single},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := shortL63(cycles)
			a, b := newActivities(t), newActivities(t)
			outA := runBatches(t, a, cfg, c.first)
			outB := runBatches(t, b, cfg, c.second)
			filesA := statetest.Contents(t, runDir(a).Root)
			filesB := statetest.Contents(t, runDir(b).Root)
			// config.yaml, diagnostics.arrow, and 4 fields per cycle
			// plus the initial truth and analysis.
			if want := 2 + 4*cycles + 2; len(filesA) != want {
				t.Errorf("first run has %d entries, want %d", len(filesA), want)
			}
			// Every field, not only the analyses and the diagnostics: the
			// truth, observations and forecasts come from per-cycle random
			// streams and must not depend on the batching either.
			if d := statetest.DiffSnapshots(filesA, filesB); len(d) > 0 {
				t.Errorf("runs differ in %d entries:\n%s", len(d), strings.Join(d, "\n"))
			}
			if c.name == "same batches" {
				if d := statetest.DiffSnapshots(statetest.Snapshot(t, runDir(a).Root), statetest.Snapshot(t, runDir(b).Root)); len(d) > 0 {
					t.Errorf("the same batches gave different files:\n%s", strings.Join(d, "\n"))
				}
			}
			if la, lb := outA[len(outA)-1].Last, outB[len(outB)-1].Last; la != lb {
				t.Errorf("last cycle stats differ: %+v vs %+v", la, lb)
			}
		})
	}
}

// TestRunCyclesReusesFinishedBatch: a retry of a batch that completed (the
// worker died before Temporal recorded the result) returns the same output
// from the diagnostics table without touching any file.
func TestRunCyclesReusesFinishedBatch(t *testing.T) {
	cfg := shortL63(20)
	a := newActivities(t)
	batches := [][2]int{{1, 10}, {11, 20}}
	outs := runBatches(t, a, cfg, batches)
	root := runDir(a).Root
	before, beforeInfo := statetest.Snapshot(t, root), statetest.FileInfos(t, root)

	// Both the last batch and an earlier one (whose rows are followed by
	// later ones in the table) are recognised as finished.
	for i, b := range []([2]int){batches[1], batches[0]} {
		want := outs[len(outs)-1-i]
		got, err := runCycles(a, cfg, b[0], b[1])
		if err != nil {
			t.Fatalf("repeated RunCycles %d..%d: %v", b[0], b[1], err)
		}
		if got != want {
			t.Errorf("repeated RunCycles %d..%d returned\n%+v\nfirst call returned\n%+v", b[0], b[1], got, want)
		}
	}
	statetest.CheckUntouched(t, root, beforeInfo, "repeating a finished batch")
	if d := statetest.DiffSnapshots(before, statetest.Snapshot(t, root)); len(d) > 0 {
		t.Errorf("repeating finished batches changed files:\n%s", strings.Join(d, "\n"))
	}
}

// TestRunCyclesOtherBatchSize: a run whose analysis ensembles are thinned
// (store.analysis every 7), continued with batches of another size, finds
// its batches done, although they end on cycles whose ensembles were not
// kept, and leaves its files as they were. Recomputing the first such batch
// used to rewrite the diagnostics with its 4 rows only.
func TestRunCyclesOtherBatchSize(t *testing.T) {
	cfg := shortL63(20)
	cfg.Store = &config.StoreConfig{Forecast: "all", Analysis: "every 7", Latent: "all"}
	a := newActivities(t)
	runBatches(t, a, cfg, [][2]int{{1, 10}, {11, 20}})
	root := runDir(a).Root
	before := statetest.Snapshot(t, root)
	for from := 1; from <= 20; from += 4 {
		if _, err := runCycles(a, cfg, from, from+3); err != nil {
			t.Fatalf("RunCycles %d..%d: %v", from, from+3, err)
		}
	}
	if got := cyclesOf(readDiag(t, a)); !slices.Equal(got, seq(1, 20)) {
		t.Errorf("diagnostics after batches of 4: cycles %v, want 1..20", got)
	}
	if d := statetest.DiffSnapshots(before, statetest.Snapshot(t, root)); len(d) > 0 {
		t.Errorf("batches of another size changed files:\n%s", strings.Join(d, "\n"))
	}
}

// TestRunCyclesRecomputesUnfinishedBatch simulates a worker crash in the
// middle of a batch: the batch's files were not written, so a retry
// recomputes it, giving the same bytes as the run that was not interrupted.
func TestRunCyclesRecomputesUnfinishedBatch(t *testing.T) {
	cases := []struct {
		name   string
		delete []int    // cycles whose batch files are deleted after the run
		rerun  [][2]int // batches to run again
	}{
		{"last batch", []int{20}, [][2]int{{11, 20}}},
		// Re-running an earlier batch truncates the diagnostics to it;
		// the workflow then runs the later batch again.
		{"earlier batch, then the later one", []int{10}, [][2]int{{1, 10}, {11, 20}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := shortL63(20)
			a := newActivities(t)
			outs := runBatches(t, a, cfg, [][2]int{{1, 10}, {11, 20}})
			dir := runDir(a)
			want, wantInfo := statetest.Snapshot(t, dir.Root), statetest.FileInfos(t, dir.Root)
			// Let the clock move past the file system's timestamp
			// granularity (a jiffy, at most 10 ms), so the rewrite check
			// below can rely on modification times.
			time.Sleep(20 * time.Millisecond)
			for _, k := range c.delete {
				removeBatchFiles(t, dir, k)
			}
			var last activities.CyclesOutput
			for _, b := range c.rerun {
				var err error
				if last, err = runCycles(a, cfg, b[0], b[1]); err != nil {
					t.Fatalf("re-running %d..%d: %v", b[0], b[1], err)
				}
			}
			if last != outs[1] {
				t.Errorf("recomputed batch returned\n%+v\nthe first run returned\n%+v", last, outs[1])
			}
			if d := statetest.DiffSnapshots(want, statetest.Snapshot(t, dir.Root)); len(d) > 0 {
				t.Errorf("recomputed state differs from the uninterrupted run:\n%s", strings.Join(d, "\n"))
			}
			// The same bytes, but written again: what checkUntouched
			// must see when a batch is not reused. (Not by inode alone:
			// after two rewrites the first inode number may be reused.)
			old := wantInfo[dir.Diagnostics()]
			if fi, err := os.Stat(dir.Diagnostics()); err != nil || (os.SameFile(fi, old) && fi.ModTime().Equal(old.ModTime())) {
				t.Errorf("recomputing did not rewrite the diagnostics (err %v)", err)
			}
		})
	}
}

// removeBatchFiles removes the batch files (states and observations) that
// hold cycle k, as if the batch had not been committed.
func removeBatchFiles(t *testing.T, dir store.RunDir, k int) {
	t.Helper()
	for _, prefix := range []string{"states", "observations"} {
		if err := os.Remove(batchFile(t, dir, prefix, k)); err != nil {
			t.Fatal(err)
		}
	}
}

// batchFile is the path of the batch file prefix that holds cycle k.
func batchFile(t *testing.T, dir store.RunDir, prefix string, k int) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir.Batches(), prefix+"-*.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		var from, to int
		if _, err := fmt.Sscanf(strings.TrimPrefix(filepath.Base(p), prefix), "-%d-%d.arrow", &from, &to); err == nil && from <= k && k <= to {
			return p
		}
	}
	t.Fatalf("no %s batch file holds cycle %d", prefix, k)
	return ""
}

func TestInitializeIsIdempotent(t *testing.T) {
	cfg := shortL63(20)
	a := newActivities(t)
	first := initialize(t, a, cfg)
	root := runDir(a).Root
	before, beforeInfo := statetest.Snapshot(t, root), statetest.FileInfos(t, root)
	if second := initialize(t, a, cfg); second != first {
		t.Errorf("second Initialize returned %+v, first %+v", second, first)
	}
	statetest.CheckUntouched(t, root, beforeInfo, "a second Initialize")
	if d := statetest.DiffSnapshots(before, statetest.Snapshot(t, root)); len(d) > 0 {
		t.Errorf("second Initialize changed files:\n%s", strings.Join(d, "\n"))
	}

	// A different config in the same run directory is refused: the files
	// there belong to another experiment.
	other := cfg
	other.Seed++
	_, err := a.Initialize(context.Background(), activities.InitInput{RunID: runID, RunPath: runPath, Config: other})
	statetest.WantAppError(t, err, activities.ErrInvalidConfig, "different config")
	statetest.CheckUntouched(t, root, beforeInfo, "a refused Initialize")
}

// TestInitializeRace: runs with different configs given the same run ID
// at the same time (two processes, one state directory) do not share the
// directory: one initialises it and the others are refused, every time.
func TestInitializeRace(t *testing.T) {
	for round := range 10 {
		a := newActivities(t)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := shortL63(20)
				cfg.Seed += uint64(i)
				_, errs[i] = a.Initialize(context.Background(), activities.InitInput{RunID: runID, RunPath: runPath, Config: cfg})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			statetest.WantAppError(t, err, activities.ErrInvalidConfig, "different config")
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of %d racing runs initialised the directory, want 1", round, ok, len(errs))
		}
	}
}

// divergingConfig is the L96 ETKF case made to diverge, as in experiment's
// TestDivergenceNamesTheCycle: observations it cannot trust (variance 1e12)
// and an inflation of 2 per cycle blow the ensemble up within a few dozen
// cycles (cycle 10 at the time of writing).
func divergingConfig() config.Config {
	cfg := experiment.DapperConfigs(500)["l96-etkf"]
	cfg.Filter.Inflation = 2
	cfg.Observations.Variance = 1e12
	cfg.BurnIn = 0 // the run is cut short below; the default 400 cycles would not validate
	return cfg
}

// divergenceCycle finds the cycle at which the in-process runner diverges.
func divergenceCycle(t *testing.T, cfg config.Config) int {
	t.Helper()
	last := 0
	_, err := experiment.Run(context.Background(), cfg, func(st experiment.CycleStats) { last = st.Cycle })
	if err == nil {
		t.Fatalf("the diverging config ran all %d cycles without error", cfg.Cycles)
	}
	return last + 1
}

func TestDivergenceIsNonRetryable(t *testing.T) {
	cfg := divergingConfig()
	bad := divergenceCycle(t, cfg)
	// A first batch finishes before the divergence, so the failing batch
	// has earlier diagnostics rows to keep.
	first := bad / 2
	if first < 1 {
		t.Fatalf("divergence at cycle %d; the test needs a finished batch before it", bad)
	}
	t.Logf("the in-process runner diverges at cycle %d", bad)
	cfg.Cycles = bad + 10
	a := newActivities(t)
	initialize(t, a, cfg)
	if _, err := runCycles(a, cfg, 1, first); err != nil {
		t.Fatal(err)
	}
	_, err := runCycles(a, cfg, first+1, cfg.Cycles)
	statetest.WantAppError(t, err, activities.ErrDiverged, fmt.Sprintf("cycle %d:", bad), "diverged")

	rs := store.OpenRunState(runDir(a))
	defer rs.Close()
	for k := 0; k < bad; k++ {
		if _, _, err := rs.Ensemble(store.FieldAnalysis, k); err != nil {
			t.Errorf("analysis of cycle %d before the divergence: %v", k, err)
		}
	}
	if _, _, err := rs.Ensemble(store.FieldAnalysis, bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the diverged cycle %d: reading its analysis gave %v, want fs.ErrNotExist", bad, err)
	}
	rows := readDiag(t, a)
	if got, want := cyclesOf(rows), seq(1, bad-1); !slices.Equal(got, want) {
		t.Errorf("diagnostics after divergence hold cycles %v, want %v", got, want)
	}
	for _, r := range rows {
		if math.IsNaN(r.RMSEA) || math.IsInf(r.RMSEA, 0) {
			t.Errorf("cycle %d before the divergence has rmse_a %v", r.Cycle, r.RMSEA)
		}
	}
}

func TestBadRunPaths(t *testing.T) {
	cfg := shortL63(20)
	a := newActivities(t)
	for _, path := range []string{"", "../x", "runs/../../x", "/abs", filepath.Join(a.StateRoot, "runs", "abs")} {
		t.Run(fmt.Sprintf("%q", path), func(t *testing.T) {
			_, err := a.Initialize(context.Background(), activities.InitInput{RunID: runID, RunPath: path, Config: cfg})
			statetest.WantAppError(t, err, activities.ErrInvalidConfig, "run path")
			_, err = a.RunCycles(context.Background(), activities.CyclesInput{RunID: runID, RunPath: path, Config: cfg, From: 1, To: 5})
			statetest.WantAppError(t, err, activities.ErrInvalidConfig, "run path")
		})
	}
	// Nothing may have been created outside (or inside) the state root.
	if entries, err := os.ReadDir(a.StateRoot); err != nil || len(entries) != 0 {
		t.Errorf("state root after refused paths: %v entries, err %v", len(entries), err)
	}
}

func TestInvalidInputs(t *testing.T) {
	a := newActivities(t)
	cfg := shortL63(20)
	initialize(t, a, cfg)
	noCycles := cfg
	noCycles.Cycles = 0
	cases := []struct {
		name     string
		cfg      config.Config
		from, to int
		contains string
	}{
		{"cycle 0", cfg, 0, 5, "cycle range"},
		{"reversed range", cfg, 5, 4, "cycle range"},
		{"invalid config", noCycles, 1, 5, "cycles"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCycles(a, c.cfg, c.from, c.to)
			statetest.WantAppError(t, err, activities.ErrInvalidConfig, c.contains)
		})
	}
	_, err := a.Initialize(context.Background(), activities.InitInput{RunID: runID, RunPath: "runs/other", Config: noCycles})
	statetest.WantAppError(t, err, activities.ErrInvalidConfig, "cycles")
}

// TestCorruptStateIsNonRetryable: a damaged input file of the next batch is
// a BadState error naming the file; retrying would read the same bytes.
func TestCorruptStateIsNonRetryable(t *testing.T) {
	cases := []struct {
		name string
		file func(store.RunDir) string
	}{
		{"states of From-1", func(d store.RunDir) string { return batchFile(t, d, "states", 10) }},
		{"diagnostics", func(d store.RunDir) string { return d.Diagnostics() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := shortL63(20)
			a := newActivities(t)
			runBatches(t, a, cfg, [][2]int{{1, 10}})
			path := c.file(runDir(a))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			_, err = runCycles(a, cfg, 11, 20)
			statetest.WantAppError(t, err, activities.ErrBadState, path)
			if !errors.Is(err, store.ErrInvalid) {
				t.Errorf("error %v does not wrap store.ErrInvalid", err)
			}
		})
	}
}

// TestMissingStateIsRetryable: a missing input file (for example a shared
// state directory not yet mounted on this worker) may appear on a retry or
// on another worker, so it must not fail the run for good.
func TestMissingStateIsRetryable(t *testing.T) {
	cfg := shortL63(20)
	a := newActivities(t)
	runBatches(t, a, cfg, [][2]int{{1, 10}})
	removeBatchFiles(t, runDir(a), 10)
	_, err := runCycles(a, cfg, 11, 20)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want an error wrapping os.ErrNotExist", err)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		t.Errorf("missing state is non-retryable: %v", err)
	}
}

// TestOODGeneratorRelativeToStateRoot: ood.generator names its file
// relative to the state directory, as latent.generator does, whatever the
// worker's working directory.
func TestOODGeneratorRelativeToStateRoot(t *testing.T) {
	a := newActivities(t)
	cfg := config.Config{
		Name: "ood-rel", Cycles: 3,
		Model:        config.ModelConfig{Name: "lorenz96"},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       config.FilterConfig{Method: "etkf", Members: 10, Inflation: 1.05},
	}
	gentest.SavePCA(t, cfg, 300, 10, filepath.Join(a.StateRoot, "generators", "pca.arrow"))
	cfg.OOD = &config.OODConfig{Generator: filepath.Join("generators", "pca.arrow"), Calibration: config.CalibrationChi2}
	initialize(t, a, cfg)
	out, err := runCycles(a, cfg, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := store.ReadDiagnostics(runDir(a).Diagnostics())
	if err != nil {
		t.Fatal(err)
	}
	if out.Last.Cycle != 3 || len(rows) != 3 || math.IsNaN(rows[2].Projection) {
		t.Errorf("cycle %d, %d rows, last J* %v: want 3 cycles with the projection test", out.Last.Cycle, len(rows), rows[len(rows)-1].Projection)
	}
}

// TestGeneratorIsKept: a run keeps the SHA-256 of each generator file it
// started with. A generator retrained under the same name mid-run stops
// the next batch with a non-retryable ErrInvalidConfig naming the key and
// the file, leaving the stored cycles as they were; with the file put
// back the run goes on.
func TestGeneratorIsKept(t *testing.T) {
	a := newActivities(t)
	cfg := config.Config{
		Name: "kept", Cycles: 6,
		Model:        config.ModelConfig{Name: "lorenz96"},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       config.FilterConfig{Method: "etkf", Members: 10, Inflation: 1.05},
		Latent:       &config.LatentConfig{Generator: filepath.Join("generators", "pca.arrow")},
		OOD:          &config.OODConfig{Generator: filepath.Join("generators", "ood.arrow"), Calibration: config.CalibrationChi2},
	}
	latentFile, oodFile := filepath.Join(a.StateRoot, cfg.Latent.Generator), filepath.Join(a.StateRoot, cfg.OOD.Generator)
	gentest.SavePCA(t, cfg, 300, 10, latentFile)
	gentest.SavePCA(t, cfg, 300, 10, oodFile)
	initialize(t, a, cfg)
	kept, err := store.ReadGenerators(runDir(a))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"latent.generator": sha256Hex(t, latentFile), "ood.generator": sha256Hex(t, oodFile)}
	if !maps.Equal(kept, want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}
	if _, err := runCycles(a, cfg, 1, 3); err != nil {
		t.Fatal(err)
	}
	original, err := os.ReadFile(oodFile)
	if err != nil {
		t.Fatal(err)
	}
	gentest.SavePCA(t, cfg, 300, 8, oodFile) // retrained under the same name
	before := statetest.Contents(t, runDir(a).Root)
	_, err = runCycles(a, cfg, 4, 6)
	statetest.WantAppError(t, err, activities.ErrInvalidConfig, "ood.generator generators/ood.arrow: the file is not the one this run started with", want["ood.generator"])
	if after := statetest.Contents(t, runDir(a).Root); !maps.EqualFunc(before, after, bytes.Equal) {
		t.Error("the refused batch changed the run directory")
	}
	if err := os.WriteFile(oodFile, original, 0o666); err != nil {
		t.Fatal(err)
	}
	if out, err := runCycles(a, cfg, 4, 6); err != nil || out.Last.Cycle != 6 {
		t.Fatalf("with the file put back: cycle %d, %v", out.Last.Cycle, err)
	}
}

// sha256Hex returns the SHA-256 of the named file in hex.
func sha256Hex(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestRetryMustMatchFirstAttempt: a batch that failed after committing
// some cycles is retried from its start. Recomputing the same values
// passes; a stored row the retry cannot reproduce (here written over by
// hand, as a non-deterministic model would leave it) stops the run with
// a non-retryable ErrNondeterministic naming the cycle, keeping what the
// first attempt stored.
func TestRetryMustMatchFirstAttempt(t *testing.T) {
	cfg := shortL63(12)
	for _, tamper := range []bool{false, true} {
		a := newActivities(t)
		initialize(t, a, cfg)
		if _, err := runCycles(a, cfg, 1, 4); err != nil { // the first attempt of 1..8, stopped after cycle 4
			t.Fatal(err)
		}
		rows, meta, err := store.ReadDiagnostics(runDir(a).Diagnostics())
		if err != nil {
			t.Fatal(err)
		}
		if tamper {
			rows[2].RMSEA += 1e-9
			if err := store.WriteDiagnostics(runDir(a).Diagnostics(), rows, meta); err != nil {
				t.Fatal(err)
			}
		}
		_, err = runCycles(a, cfg, 1, 8)
		if !tamper {
			if err != nil {
				t.Fatalf("deterministic retry: %v", err)
			}
			continue
		}
		statetest.WantAppError(t, err, activities.ErrNondeterministic, "cycle 3")
		// The way on with a model changed on purpose: a new run from the
		// cycle before the batch.
		if err == nil || !strings.Contains(err.Error(), "latentda rerun "+runID+" --from-cycle 0") {
			t.Errorf("the error does not say how to go on: %v", err)
		}
		if got := readDiag(t, a); len(got) != len(rows) || !got[2].Same(rows[2]) {
			t.Errorf("the refused retry changed the diagnostics: %d rows, want the first attempt's %d", len(got), len(rows))
		}
	}
}

// TestStartOf reads where a run started from its first analysis: nothing
// yet, its own initial ensemble, a warm start, or metadata it refuses.
func TestStartOf(t *testing.T) {
	E := mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})
	for _, tc := range []struct {
		name      string
		cycle     int    // of the first analysis; -1: none
		extra     string // its warm_start, if any
		want      *activities.WarmStart
		started   bool
		wantError string
	}{
		{name: "no run", cycle: -1},
		{name: "own initial ensemble", cycle: 0, started: true},
		{name: "warm start", cycle: 20, extra: "runs/orig@20", want: &activities.WarmStart{RunPath: filepath.Join("runs", "orig"), Cycle: 20}, started: true},
		{name: "another cycle", cycle: 20, extra: "runs/orig@10", wantError: `warm_start is "runs/orig@10", want runs/<run>@20`},
		{name: "no cycle", cycle: 20, extra: "runs/orig", wantError: `warm_start is "runs/orig", want runs/<run>@20`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := store.RunDir{Root: filepath.Join(t.TempDir(), "r")}
			if tc.cycle >= 0 {
				m := store.Meta{RunID: "r", Cycle: tc.cycle}
				if tc.extra != "" {
					m.Extra = map[string]string{"warm_start": tc.extra}
				}
				if err := dir.MkdirCycle(tc.cycle); err != nil {
					t.Fatal(err)
				}
				if err := store.WriteEnsemble(dir.Analysis(tc.cycle), E, m); err != nil {
					t.Fatal(err)
				}
			}
			w, started, err := activities.StartOf(dir)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantError)
				}
				return
			}
			if err != nil || started != tc.started || (w == nil) != (tc.want == nil) || w != nil && *w != *tc.want {
				t.Errorf("StartOf: %+v, %v, %v; want %+v, %v", w, started, err, tc.want, tc.started)
			}
		})
	}
}

// TestAnsweredPauseIsNotRepeated: a run that paused on a flagged batch,
// was resumed and later stopped, then started again walks its committed
// batches again: the pause it had is reported as answered (cycles after
// it are committed), so the workflow goes on instead of pausing there a
// second time; the pause at the last committed cycle is not answered.
func TestAnsweredPauseIsNotRepeated(t *testing.T) {
	cfg := config.Config{
		Name: "pause", Seed: 3, Cycles: 12,
		Model:        config.ModelConfig{Name: "lorenz96"},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       config.FilterConfig{Method: "etkf", Members: 20, Inflation: 1.05},
		OOD:          &config.OODConfig{Tests: []string{config.TestInnovation}, Policy: config.PolicyReject, PauseOnBatch: true},
		Anomaly:      &config.AnomalyConfig{FromCycle: 6, Pattern: "wave", Amplitude: 4, Wavenumber: 3},
	}.WithDefaults()
	a := newActivities(t)
	initialize(t, a, cfg)
	first, err := runCycles(a, cfg, 1, 8)
	if err != nil || first.PauseAt != 6 || first.Answered {
		t.Fatalf("first attempt: %+v, %v; want a pause at cycle 6, not answered", first, err)
	}
	if _, err := runCycles(a, cfg, 7, 8); err != nil { // resumed
		t.Fatal(err)
	}
	again, err := runCycles(a, cfg, 1, 8)
	if err != nil || again.PauseAt != 6 || !again.Answered {
		t.Errorf("the batch walked again after the resume: %+v, %v; want the pause at cycle 6 answered", again, err)
	}
}
