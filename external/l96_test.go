package external_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/activities"
	trainacts "github.com/latentda/latentda/activities/training"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/external"
	"github.com/latentda/latentda/report"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/store/trainfile"
	"github.com/latentda/latentda/training"
	"github.com/latentda/latentda/workflows"
)

// The example models of examples/external against the built-in Lorenz-96.

// l96go builds examples/external/l96go into a temporary directory of the
// test and returns its path (the go command's cache keeps that quick).
func l96go(t testing.TB) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "l96go")
	cmd := exec.Command(goCmd, "build", "-o", path, "./examples/external/l96go")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/external/l96go: %v\n%s", err, out)
	}
	return path
}

// load reads an example config, with cycles cycles.
func load(t *testing.T, path string, cycles int) config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cycles = cycles
	cfg.BurnIn = min(cfg.BurnIn, cfg.Model.Dt*float64(cycles)/2)
	return cfg
}

// run runs cfg in process and returns every cycle's statistics.
func run(t *testing.T, cfg config.Config) ([]experiment.CycleStats, experiment.Summary) {
	t.Helper()
	var stats []experiment.CycleStats
	sum, err := experiment.Run(context.Background(), cfg, func(s experiment.CycleStats) { stats = append(stats, s) })
	if err != nil {
		t.Fatal(err)
	}
	return stats, sum
}

// closeAll stops the example processes after a test.
func closeAll(t *testing.T) {
	t.Cleanup(func() {
		if err := external.CloseAll(); err != nil {
			t.Error(err)
		}
	})
}

// The L96 ETKF through the Go program gives the built-in model's numbers
// bit for bit, every cycle, with one process or three, over the pipes and
// over shared memory.
func TestL96GoBitIdentical(t *testing.T) {
	cycles := 1000
	if testing.Short() {
		cycles = 200
	}
	want, _ := run(t, load(t, "../examples/l96-etkf.yaml", cycles))
	closeAll(t)
	program := l96go(t)
	for _, transport := range []string{external.TransportPipe, external.TransportShm} {
		for _, processes := range []int{1, 3} {
			cfg := load(t, "../examples/external/l96go-etkf.yaml", cycles)
			cfg.Model.Command[0] = program
			cfg.Model.Processes = processes
			cfg.Model.Transport = transport
			got, _ := run(t, cfg)
			for k := range want {
				if got[k] != want[k] {
					t.Fatalf("%s, %d processes: cycle %d differs from the built-in model:\n%+v\n%+v", transport, processes, k+1, got[k], want[k])
				}
			}
		}
	}
}

// Through the activities' batches of cycles, which host the ensemble in
// the shared memory, the Go program gives the built-in model's numbers
// bit for bit, every cycle, with one process or two; the forecasts are
// advanced in place (the shared memory never held room for a copy of the
// ensemble); and a model that returns a NaN stops the run as a divergence
// before its forecast is stored.
func TestL96GoHostedBatches(t *testing.T) {
	const cycles = 60
	root := t.TempDir()
	closeAll(t)
	program := l96go(t)
	// diagnostics runs cfg through the workflow loop in batches of 10
	// cycles and returns the rows of its diagnostics table.
	diagnostics := func(name string, cfg config.Config) ([]store.DiagRow, error) {
		in := workflows.Input{RunID: name, RunPath: filepath.Join("runs", name), Config: cfg, BatchCycles: 10}
		if _, err := workflows.RunInProcess(context.Background(), &activities.Activities{StateRoot: root}, in, nil); err != nil {
			return nil, err
		}
		rows, _, err := store.ReadDiagnostics(store.RunDir{Root: filepath.Join(root, in.RunPath)}.Diagnostics())
		return rows, err
	}
	want, err := diagnostics("builtin", load(t, "../examples/l96-etkf.yaml", cycles))
	if err != nil {
		t.Fatal(err)
	}
	for _, processes := range []int{1, 2} {
		cfg := load(t, "../examples/external/l96go-etkf.yaml", cycles)
		cfg.Model.Processes, cfg.Model.Transport = processes, external.TransportShm
		name := fmt.Sprintf("l96go-%d", processes)
		// The activities refuse a program outside the state directory.
		cfg.Model.Command[0] = filepath.Join(root, name)
		if err := os.Link(program, cfg.Model.Command[0]); err != nil {
			t.Fatal(err)
		}
		got, err := diagnostics(name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d cycles, want %d", name, len(got), len(want))
		}
		for k := range want {
			// %v prints each float's shortest exact form (and NaN as NaN).
			if g, w := fmt.Sprintf("%+v", got[k]), fmt.Sprintf("%+v", want[k]); g != w {
				t.Fatalf("%s: cycle %d differs from the built-in model:\n%s\n%s", name, k+1, g, w)
			}
		}
		m, err := external.Open(cfg.Model.External())
		if err != nil {
			t.Fatal(err)
		}
		// The hosted ensemble and the nature run's one state.
		if got, want := external.SharedValues(m), (cfg.Filter.Members+1)*cfg.Model.StateSize; got != want {
			t.Errorf("%s: the shared memory holds %d values, want %d: the forecasts were copied", name, got, want)
		}
	}

	// The fake model's second request (the first cycle's forecast; the
	// first is the nature run's) returns a NaN in the last member.
	cfg := load(t, "../examples/external/l96go-etkf.yaml", cycles)
	cfg.Model.Command = []string{filepath.Join(root, "fake")}
	if err := os.Link(os.Args[0], cfg.Model.Command[0]); err != nil {
		t.Fatal(err)
	}
	cfg.Model.Env = []string{"LATENTDA_FAKE_MODEL=nan", "LATENTDA_FAKE_TRANSPORT=shm"}
	cfg.Model.Nx, cfg.Model.StateSize, cfg.Model.Dt, cfg.Model.Transport = 5, 5, 0.1, external.TransportShm
	_, err = diagnostics("nan", cfg)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrDiverged || !appErr.NonRetryable() ||
		!strings.Contains(err.Error(), "cycle 1 forecast, member 23, variable 4 is NaN") {
		t.Errorf("a model that returns NaN: %v, want a non-retryable %s naming the member", err, activities.ErrDiverged)
	}
	// Nothing of the failed cycle was stored: no batch file, no forecast.
	run := store.RunDir{Root: filepath.Join(root, "runs", "nan")}
	if batches, _ := os.ReadDir(run.Batches()); len(batches) > 0 {
		t.Errorf("the failed batch stored %d files", len(batches))
	}
	if _, err := os.Stat(run.Forecast(1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cycle 1's forecast was stored (%v)", err)
	}
}

// The L96 LETKF through the Go program sending coordinates 2i on a ring
// of length 2n, with the localisation radius doubled, gives the built-in
// model's numbers bit for bit (doubling is exact): the LETKF localises by
// the model's coordinates.
func TestL96GoCoordinates(t *testing.T) {
	cycles := 300
	if testing.Short() {
		cycles = 60
	}
	want, _ := run(t, load(t, "../examples/l96-letkf.yaml", cycles))
	closeAll(t)
	cfg := load(t, "../examples/l96-letkf.yaml", cycles)
	cfg.Model = config.ModelConfig{Name: "external", Command: []string{l96go(t), "-spacing", "2"}, StateSize: cfg.Model.Nx, Dt: cfg.Model.Dt}
	cfg.Filter.LocRadius *= 2
	got, _ := run(t, cfg)
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("cycle %d differs from the built-in model:\n%+v\n%+v", k+1, got[k], want[k])
		}
	}
	cfg.Filter.LocRadius /= 2 // the same radius in the doubled coordinates: another analysis
	if got, _ = run(t, cfg); got[len(got)-1] == want[len(want)-1] {
		t.Error("halving the radius in the model's coordinates changed nothing: they are not used")
	}
}

// The L96 LETKF through the JavaScript program: time-mean analysis RMSE
// within 2% of the built-in model's over 1000 cycles. (JavaScript's
// doubles follow the same IEEE arithmetic, so the numbers agree far more
// closely; 2% is what a model in another language is promised.)
func TestL96JavaScript(t *testing.T) {
	command := nodeModel(t)
	const cycles = 1000
	_, want := run(t, load(t, "../examples/l96-letkf.yaml", cycles))
	closeAll(t)
	cfg := load(t, "../examples/external/l96js-letkf.yaml", cycles)
	cfg.Model.Command = command
	_, got := run(t, cfg)
	if rel := math.Abs(got.RMSEa-want.RMSEa) / want.RMSEa; !(rel <= 0.02) {
		t.Errorf("time-mean rmse_a %v through JavaScript, %v built in: %.2g%% apart, want <= 2%%", got.RMSEa, want.RMSEa, 100*rel)
	}
	t.Logf("time-mean rmse_a: JavaScript %v, built in %v", got.RMSEa, want.RMSEa)
}

// nodeModel returns the command that runs the JavaScript program, or
// skips the test if node or apache-arrow is missing.
func nodeModel(t *testing.T) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not installed (apt-get install -y nodejs npm; then npm ci in examples/external/l96js)")
	}
	if _, err := os.Stat("../examples/external/l96js/node_modules/apache-arrow/package.json"); err != nil {
		skipOrFail(t, "apache-arrow for node is not installed: run `npm ci` in examples/external/l96js")
	}
	script, err := filepath.Abs("../examples/external/l96js/l96.mjs")
	if err != nil {
		t.Fatal(err)
	}
	return []string{node, script, "8"}
}

// skipOrFail skips the test when an optional tool is missing, unless CI
// is set (as store's interop test does).
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but %s", why)
	}
	t.Skipf("skipping the JavaScript example model: %s", why)
}

// latentda train's activities build the archive of the Go program and fit
// a generator on it, both equal to the built-in model's bit for bit; a
// program outside the state directory is refused before it runs.
func TestL96GoTrain(t *testing.T) {
	root := t.TempDir()
	closeAll(t)
	program := filepath.Join(root, "l96go")
	if err := os.Link(l96go(t), program); err != nil {
		t.Fatal(err)
	}
	a := &trainacts.Activities{StateRoot: root}
	ctx := context.Background()
	train := func(name string, m config.ModelConfig) (trainfile.Archive, trainacts.TrainOutput, error) {
		cfg := training.TrainConfig{Name: name, Model: m, Validation: 0.2,
			Archive:   experiment.ArchiveOptions{Samples: 60, Every: 3, SpinUp: 5, Seed: 2},
			Generator: training.GeneratorConfig{Type: "pca", LatentDim: 10}}.WithDefaults()
		paths := trainacts.TrainPathsFor(name)
		ar, err := a.BuildArchive(ctx, trainacts.ArchiveInput{Config: cfg, Paths: paths})
		if err != nil {
			return trainfile.Archive{}, trainacts.TrainOutput{}, err
		}
		out, err := a.TrainGenerator(ctx, trainacts.TrainInput{Config: cfg, Paths: paths})
		if err != nil {
			return trainfile.Archive{}, trainacts.TrainOutput{}, err
		}
		archive, _, err := trainfile.ReadArchive(ar.Path)
		return archive, out, err
	}
	want, wantOut, err := train("builtin", load(t, "../examples/l96-etkf.yaml", 1).Model)
	if err != nil {
		t.Fatal(err)
	}
	m := load(t, "../examples/external/l96go-etkf.yaml", 1).Model
	m.Command[0] = program
	got, gotOut, err := train("l96go", m)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(got.X, want.X) || !slices.Equal(got.Times, want.Times) || !slices.Equal(got.Valid, want.Valid) {
		t.Error("the archive differs from the built-in model's")
	}
	if gotOut.LatentDim != 10 || gotOut.HeldOutMSE != wantOut.HeldOutMSE {
		t.Errorf("generator %+v, want the built-in model's %+v", gotOut, wantOut)
	}
	m.Command[0] = "/bin/true"
	_, _, err = train("outside", m)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrInvalidConfig || !strings.Contains(err.Error(), "outside the state directory") {
		t.Errorf("a program outside the state directory: %v, want a non-retryable %s", err, activities.ErrInvalidConfig)
	}
}

// The path of docs/external-models.md: the JavaScript program cycled with
// the ETKF and the LETKF through the workflow loop and its activities (in
// process; the Temporal path is covered by cmd/latentda's tests), then a
// report of each run.
func TestL96JavaScriptReport(t *testing.T) {
	node := nodeModel(t)
	root := t.TempDir()
	closeAll(t)
	for _, name := range []string{"l96js-etkf", "l96js-letkf"} {
		cfg := load(t, "../examples/external/"+name+".yaml", 30)
		// node by name, as the example configs have it: the activities
		// refuse a program path outside the state directory.
		cfg.Model.Command = append([]string{"node"}, node[1:]...)
		in := workflows.Input{RunID: name, RunPath: filepath.Join("runs", name), Config: cfg, BatchCycles: 10}
		res, err := workflows.RunInProcess(context.Background(), &activities.Activities{StateRoot: root}, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary.Cycles != 30 || !(res.Summary.RMSEa > 0 && res.Summary.RMSEa < 1) {
			t.Errorf("%s: summary %+v, want 30 cycles with an analysis RMSE in (0, 1)", name, res.Summary)
		}
		dir := filepath.Join(root, "runs", name)
		r, err := report.Load(dir, report.Options{})
		if err != nil {
			t.Fatal(err)
		}
		page, err := report.Write(r, filepath.Join(dir, "report"), report.Markdown)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(page); err != nil || !strings.Contains(string(b), ".png") {
			t.Errorf("%s: report page %s: %v, no figures in\n%s", name, page, err, b)
		}
	}
}
