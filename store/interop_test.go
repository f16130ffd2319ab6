package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/latentda/latentda/store/internal/filetest"
	"github.com/latentda/latentda/store/trainfile"
	"gonum.org/v1/gonum/mat"
)

// interopDir holds the JavaScript reader (check.mjs) and its pinned
// apache-arrow dependency; `npm ci` there installs it (.ci/run does).
const interopDir = "testdata/interop"

// jsFile is what check.mjs reports for one file.
type jsFile struct {
	Path     string            `json:"path"`
	Rows     int               `json:"rows"`
	Batches  int               `json:"batches"`
	Nulls    int               `json:"nulls"`
	Fields   []jsField         `json:"fields"`
	Metadata map[string]string `json:"metadata"`
	// Checksums are, per record batch, the latentda.checksum it carries
	// and the one check.mjs computes by docs/state-format.md.
	Checksums []struct {
		Stored   string `json:"stored"`
		Computed string `json:"computed"`
	} `json:"checksums"`
	Columns map[string]json.RawMessage `json:"columns"`
}

type jsField struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// readWithNode runs check.mjs on the files and decodes its report. It
// skips the test when node or the installed package is missing, unless CI
// is set: CI must run it.
func readWithNode(t *testing.T, paths ...string) []jsFile {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not installed (apt-get install -y nodejs npm; then npm ci in store/testdata/interop)")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "apache-arrow", "package.json")); err != nil {
		skipOrFail(t, "apache-arrow for node is not installed: run `npm ci` in store/testdata/interop")
	}
	cmd := exec.Command(node, append([]string{filepath.Join(interopDir, "check.mjs")}, paths...)...)
	cmd.Stderr = &logWriter{t: t}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node check.mjs: %v", err)
	}
	var files []jsFile
	if err := json.Unmarshal(out, &files); err != nil {
		t.Fatalf("decoding check.mjs output: %v\n%s", err, out)
	}
	if len(files) != len(paths) {
		t.Fatalf("check.mjs reported %d files, want %d", len(files), len(paths))
	}
	// Every record batch carries its checksum, and another
	// implementation of the documented definition gets the same.
	for _, f := range files {
		if len(f.Checksums) != f.Batches {
			t.Errorf("%s: %d checksums for %d record batches", f.Path, len(f.Checksums), f.Batches)
		}
		for i, c := range f.Checksums {
			if c.Stored == "" || c.Stored != c.Computed {
				t.Errorf("%s: record batch %d: stored checksum %q, Arrow JS computes %q", f.Path, i, c.Stored, c.Computed)
			}
		}
	}
	return files
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run the Arrow JS interop test: %s", why)
	}
	t.Skipf("skipping the Arrow JS interop test: %s", why)
}

type logWriter struct{ t *testing.T }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Logf("check.mjs: %s", p)
	return len(p), nil
}

// hexBits formats x as check.mjs does: its IEEE-754 bits, 16 hex digits.
func hexBits(x float64) string { return fmt.Sprintf("%016x", math.Float64bits(x)) }

func hexAll(xs []float64) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = hexBits(x)
	}
	return out
}

// wantMetadata spells out, key by key, the schema metadata documented in
// docs/state-format.md for a file written with filetest.TestMeta.
func wantMetadata(kind Kind, extra map[string]string) map[string]string {
	md := map[string]string{
		"latentda.schema_version":    strconv.Itoa(SchemaVersion),
		"latentda.kind":              string(kind),
		"latentda.run_id":            "run-42",
		"latentda.model":             "lorenz96",
		"latentda.cycle":             "12",
		"latentda.time":              "0.6000000000000001",
		"latentda.param.nx":          "40",
		"latentda.param.F":           "8",
		"latentda.param.dt":          "0.05",
		"latentda.param.unicode: Δt": "½",
		"latentda.extra.filter":      "letkf",
		"latentda.extra.note":        "a=b;c\nd",
	}
	maps.Copy(md, extra)
	return md
}

// jsColumn decodes one column of a jsFile into v.
func jsColumn(t *testing.T, f jsFile, name string, v any) {
	t.Helper()
	raw, ok := f.Columns[name]
	if !ok {
		t.Fatalf("%s: no column %q", f.Path, name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: column %q: %v", f.Path, name, err)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

// TestArrowJSReadsOurFiles writes one file of every kind with store and
// reads it with the JavaScript Arrow implementation, an independent
// reader: the schema, the metadata and every value (floats bit for bit)
// must be what was written.
func TestArrowJSReadsOurFiles(t *testing.T) {
	dir := t.TempDir()
	meta := filetest.TestMeta("")
	path := func(name string) string { return filepath.Join(dir, name+".arrow") }

	E := filetest.TestEnsemble(5, 7) // specials, ±Inf, NaN (with a payload)
	x := []float64{math.Copysign(0, -1), math.Inf(1), math.NaN(), math.SmallestNonzeroFloat64, 1.0 / 3}
	obs := Observations{
		Values:      []float64{1.5, -0.25, math.MaxFloat64, 0},
		Variances:   []float64{1, 0.5, math.SmallestNonzeroFloat64, 2},
		Positions:   []float64{0, 2, 4.5, 39},
		Flagged:     []bool{false, true, false, true},
		Reasons:     []string{"", "ood: residual 9.3 > 3", "", "gross error (ünïcode)"},
		InnovationZ: []float64{0.5, -4.25, math.NaN(), 1e-310},
		ProjectionZ: []float64{math.NaN(), 9.3, 0, math.Copysign(0, -1)},
	}
	diag := []DiagRow{
		{Cycle: 0, Time: 0.05, RMSEF: 1.25, RMSEA: 0.5, SpreadF: 1, SpreadA: 0.4, Innovation: 41.5, InnovationExpected: 40, NObs: 40, NFlagged: 0},
		{Cycle: 1, Time: 0.1, RMSEF: math.NaN(), RMSEA: math.NaN(), SpreadF: math.Inf(1), SpreadA: 0.3, Innovation: math.NaN(), InnovationExpected: math.NaN(), NObs: 0, NFlagged: 0},
		{Cycle: 7, Time: 0.35000000000000003, RMSEF: 0.2, RMSEA: 0.1, SpreadF: 0.3, SpreadA: 0.2, Innovation: 3, InnovationExpected: 4, NObs: 4, NFlagged: 2},
	}
	for i := range diag {
		diag[i].QCNIS, diag[i].QCNISThreshold, diag[i].Projection, diag[i].ProjectionThreshold = math.NaN(), 63.7, float64(i)*40, 91.5
		diag[i].Inflation, diag[i].ObsVariance, diag[i].VarianceScale = 1+float64(i)/64, math.NaN(), 1.0/3
		diag[i].HybridWeight, diag[i].Manifold, diag[i].ManifoldThreshold, diag[i].InnovationChart = math.NaN(), 0.7*float64(i), 1, math.NaN()
	}
	diag[2].BatchFlag = "innovation+projection (ü)"
	ar := trainfile.Archive{
		X:     mat.NewDense(3, 2, []float64{1, 2, 3, 4, math.Pi, -math.E}),
		Times: []float64{0, 0.5, 1e-300},
		Valid: []bool{false, true, false},
	}
	tensors := []trainfile.Tensor{
		{Name: "encoder.0.weight", Shape: []int{2, 3}, Data: []float64{1, 2, 3, 4, 5, math.Copysign(0, -1)}},
		{Name: "scalar", Shape: []int{1}, Data: []float64{0.1}},
		{Name: "empty", Shape: []int{0, 4}, Data: nil},
	}
	for _, err := range []error{
		WriteEnsemble(path("ensemble"), E, meta),
		WriteVector(path("truth"), x, meta),
		WriteObservations(path("observations"), obs, meta),
		WriteDiagnostics(path("diagnostics"), diag, meta),
		trainfile.WriteArchive(path("archive"), ar, meta),
		trainfile.WriteTensors(path("generator"), tensors, Meta{Kind: trainfile.KindGenerator, RunID: "run-42", Model: "lorenz96", Params: meta.Params, Cycle: 12, Time: meta.Time, Extra: meta.Extra}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"ensemble", "truth", "observations", "diagnostics", "archive", "generator"}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = path(n)
	}
	files := readWithNode(t, paths...)
	byName := make(map[string]jsFile, len(files))
	for i, f := range files {
		if f.Path != paths[i] {
			t.Fatalf("check.mjs reported %s in place of %s", f.Path, paths[i])
		}
		if f.Batches != 1 || f.Nulls != 0 {
			t.Errorf("%s: %d record batches and %d nulls, want 1 and 0", f.Path, f.Batches, f.Nulls)
		}
		for _, fl := range f.Fields {
			if fl.Nullable {
				t.Errorf("%s: field %q is nullable", f.Path, fl.Name)
			}
		}
		byName[names[i]] = f
	}
	fields := func(f jsFile) [][2]string {
		var out [][2]string
		for _, fl := range f.Fields {
			out = append(out, [2]string{fl.Name, fl.Type})
		}
		return out
	}

	t.Run("ensemble", func(t *testing.T) {
		f := byName["ensemble"]
		equal(t, "rows", f.Rows, 5)
		equal(t, "fields", fields(f), [][2]string{{"member", "Int32"}, {"state", "FixedSizeList[7]<Float64>"}})
		equal(t, "metadata", f.Metadata, wantMetadata(KindEnsemble, map[string]string{"latentda.state_size": "7"}))
		var member []int32
		var state [][]string
		jsColumn(t, f, "member", &member)
		jsColumn(t, f, "state", &state)
		equal(t, "member", member, []int32{0, 1, 2, 3, 4})
		want := make([][]string, 5)
		for i := range want {
			want[i] = hexAll(E.RawRowView(i))
		}
		equal(t, "state", state, want)
	})
	t.Run("truth", func(t *testing.T) {
		f := byName["truth"]
		equal(t, "rows", f.Rows, 1)
		equal(t, "fields", fields(f), [][2]string{{"state", "FixedSizeList[5]<Float64>"}})
		equal(t, "metadata", f.Metadata, wantMetadata(KindTruth, map[string]string{"latentda.state_size": "5"}))
		var state [][]string
		jsColumn(t, f, "state", &state)
		equal(t, "state", state, [][]string{hexAll(x)})
	})
	t.Run("observations", func(t *testing.T) {
		f := byName["observations"]
		equal(t, "rows", f.Rows, 4)
		equal(t, "fields", fields(f), [][2]string{
			{"index", "Int32"}, {"position", "Float64"}, {"value", "Float64"},
			{"variance", "Float64"}, {"flagged", "Bool"}, {"flag_reason", "Utf8"},
			{"innovation_z", "Float64"}, {"projection_z", "Float64"},
		})
		equal(t, "metadata", f.Metadata, wantMetadata(KindObservations, nil))
		var index []int32
		var position, value, variance []string
		var flagged []bool
		var reason []string
		jsColumn(t, f, "index", &index)
		jsColumn(t, f, "position", &position)
		jsColumn(t, f, "value", &value)
		jsColumn(t, f, "variance", &variance)
		jsColumn(t, f, "flagged", &flagged)
		jsColumn(t, f, "flag_reason", &reason)
		equal(t, "index", index, []int32{0, 1, 2, 3})
		equal(t, "position", position, hexAll(obs.Positions))
		equal(t, "value", value, hexAll(obs.Values))
		equal(t, "variance", variance, hexAll(obs.Variances))
		equal(t, "flagged", flagged, obs.Flagged)
		equal(t, "flag_reason", reason, obs.Reasons)
		var iz, pz []string
		jsColumn(t, f, "innovation_z", &iz)
		jsColumn(t, f, "projection_z", &pz)
		equal(t, "innovation_z", iz, hexAll(obs.InnovationZ))
		equal(t, "projection_z", pz, hexAll(obs.ProjectionZ))
	})
	t.Run("diagnostics", func(t *testing.T) {
		f := byName["diagnostics"]
		equal(t, "rows", f.Rows, len(diag))
		var want [][2]string
		for _, c := range diagColumns {
			typ := "Float64"
			switch c.Name {
			case "cycle", "n_obs", "n_flagged":
				typ = "Int32"
			case "batch_flag":
				typ = "Utf8"
			}
			want = append(want, [2]string{c.Name, typ})
		}
		equal(t, "fields", fields(f), want)
		equal(t, "metadata", f.Metadata, wantMetadata(KindDiagnostics, nil))
		ints := map[string]func(DiagRow) int{
			"cycle":     func(r DiagRow) int { return r.Cycle },
			"n_obs":     func(r DiagRow) int { return r.NObs },
			"n_flagged": func(r DiagRow) int { return r.NFlagged },
		}
		for name, get := range ints {
			var got []int
			jsColumn(t, f, name, &got)
			w := make([]int, len(diag))
			for i, r := range diag {
				w[i] = get(r)
			}
			equal(t, name, got, w)
		}
		floatCols := map[string]func(*DiagRow) *float64{}
		for j, get := range diagFloats {
			floatCols[diagColumns[1+j].Name] = get
		}
		for j, get := range diagQC {
			floatCols[diagColumns[10+j].Name] = get
		}
		for j, get := range diagLater {
			floatCols[diagColumns[15+j].Name] = get
		}
		for name, get := range floatCols {
			var got []string
			jsColumn(t, f, name, &got)
			w := make([]string, len(diag))
			for i := range diag {
				w[i] = hexBits(*get(&diag[i]))
			}
			equal(t, name, got, w)
		}
		var flags []string
		jsColumn(t, f, "batch_flag", &flags)
		equal(t, "batch_flag", flags, []string{"", "", diag[2].BatchFlag})
	})
	t.Run("archive", func(t *testing.T) {
		f := byName["archive"]
		equal(t, "fields", fields(f), [][2]string{{"sample", "Int32"}, {"time", "Float64"}, {"split", "Utf8"}, {"state", "FixedSizeList[2]<Float64>"}})
		equal(t, "metadata", f.Metadata, wantMetadata(trainfile.KindArchive, map[string]string{"latentda.state_size": "2"}))
		var sample []int32
		var times []string
		var split []string
		var state [][]string
		jsColumn(t, f, "sample", &sample)
		jsColumn(t, f, "time", &times)
		jsColumn(t, f, "split", &split)
		jsColumn(t, f, "state", &state)
		equal(t, "sample", sample, []int32{0, 1, 2})
		equal(t, "time", times, hexAll(ar.Times))
		equal(t, "split", split, []string{"train", "valid", "train"})
		equal(t, "state", state, [][]string{hexAll(ar.X.RawRowView(0)), hexAll(ar.X.RawRowView(1)), hexAll(ar.X.RawRowView(2))})
	})
	t.Run("generator", func(t *testing.T) {
		f := byName["generator"]
		equal(t, "fields", fields(f), [][2]string{{"name", "Utf8"}, {"shape", "List<Int32>"}, {"values", "List<Float64>"}})
		equal(t, "metadata", f.Metadata, wantMetadata(trainfile.KindGenerator, nil))
		var name []string
		var shape [][]int
		var values [][]string
		jsColumn(t, f, "name", &name)
		jsColumn(t, f, "shape", &shape)
		jsColumn(t, f, "values", &values)
		if len(name) != len(tensors) || len(shape) != len(tensors) || len(values) != len(tensors) {
			t.Fatalf("got %d names, %d shapes, %d value lists; want %d tensors", len(name), len(shape), len(values), len(tensors))
		}
		for i, ts := range tensors {
			equal(t, "name "+strconv.Itoa(i), name[i], ts.Name)
			equal(t, "shape "+ts.Name, shape[i], ts.Shape)
			equal(t, "values "+ts.Name, values[i], hexAll(ts.Data))
		}
	})
}

// TestArrowJSReadsBatchFiles writes a batch of two cycles, the forecast
// kept as mean and spread only, and reads its states and observations
// files with the JavaScript Arrow implementation: the cycles of a small
// model in one record batch, the documented columns and metadata, every
// value bit for bit.
func TestArrowJSReadsBatchFiles(t *testing.T) {
	dir := RunDir{Root: t.TempDir()}
	meta := filetest.TestMeta("")
	m13 := meta
	m13.Cycle, m13.Time = 13, 0.65
	F := mat.NewDense(2, 3, []float64{1, 2, 3, 3, math.Inf(-1), math.Copysign(0, -1)})
	A := mat.NewDense(2, 3, []float64{0.5, math.NaN(), 1e-310, -1, 2, 4})
	x := []float64{1, 2, 3}
	obs := Observations{Values: []float64{0.25, -2}, Variances: []float64{1, 2}, Positions: []float64{0, 2},
		Flagged: []bool{false, true}, Reasons: []string{"", "outlier"}}
	b := dir.NewCycleBatch(Retention{Forecast: Keep{MeanOnly: true}})
	for _, m := range []Meta{meta, m13} {
		if err := errors.Join(b.Truth(m, x), b.Forecast(m, F), b.Observations(m, obs), b.Analysis(m, A), b.EndCycle()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Commit(nil, Meta{}); err != nil {
		t.Fatal(err)
	}
	files := readWithNode(t, dir.Batch("states", 12, 13), dir.Batch("observations", 12, 13))
	states, observations := files[0], files[1]
	fields := func(f jsFile) [][2]string {
		var out [][2]string
		for _, fl := range f.Fields {
			out = append(out, [2]string{fl.Name, fl.Type})
		}
		return out
	}
	equal(t, "states batches", states.Batches, 1)
	equal(t, "states fields", fields(states), [][2]string{{"cycle", "Int32"}, {"time", "Float64"}, {"field", "Utf8"}, {"member", "Int32"}, {"state", "FixedSizeList[3]<Float64>"}})
	// A batch file's metadata is that of its first cycle, without the
	// free extra keys (those of one cycle's files).
	noExtra := func(md map[string]string) map[string]string {
		delete(md, "latentda.extra.filter")
		delete(md, "latentda.extra.note")
		return md
	}
	equal(t, "states metadata", states.Metadata, noExtra(wantMetadata(KindStateBatch, map[string]string{
		"latentda.state_size": "3", "latentda.retention": "forecast: mean; analysis: all"})))
	var cycle, member []int32
	var times []string
	var field []string
	var state [][]string
	jsColumn(t, states, "cycle", &cycle)
	jsColumn(t, states, "time", &times)
	jsColumn(t, states, "field", &field)
	jsColumn(t, states, "member", &member)
	jsColumn(t, states, "state", &state)
	equal(t, "cycle", cycle, []int32{12, 12, 12, 12, 12, 13, 13, 13, 13, 13})
	equal(t, "time", times[4:6], []string{hexBits(meta.Time), hexBits(0.65)})
	rowFields := []string{"truth", "forecast_mean", "forecast_spread", "analysis", "analysis"}
	equal(t, "field", field, append(slices.Clone(rowFields), rowFields...))
	equal(t, "member", member, []int32{0, 0, 0, 0, 1, 0, 0, 0, 0, 1})
	mean := EnsembleMean(F) // 2, −Inf, 1.5
	spread := make([]float64, 3)
	for j := range spread {
		d0, d1 := F.At(0, j)-mean[j], F.At(1, j)-mean[j]
		spread[j] = math.Sqrt(d0*d0 + d1*d1) // N − 1 = 1
	}
	wantState := [][]string{hexAll(x), hexAll(mean), hexAll(spread), hexAll(A.RawRowView(0)), hexAll(A.RawRowView(1))}
	equal(t, "state", state[:5], wantState)
	equal(t, "state of cycle 13", state[5:], wantState)

	equal(t, "observations batches", observations.Batches, 1)
	equal(t, "observations metadata", observations.Metadata, noExtra(wantMetadata(KindObservationBatch, nil)))
	var obsCycle []int32
	var value []string
	var reason []string
	jsColumn(t, observations, "cycle", &obsCycle)
	jsColumn(t, observations, "value", &value)
	jsColumn(t, observations, "flag_reason", &reason)
	equal(t, "observations cycle", obsCycle, []int32{12, 12, 13, 13})
	equal(t, "observations value", value, hexAll(append(slices.Clone(obs.Values), obs.Values...)))
	equal(t, "observations flag_reason", reason, []string{"", "outlier", "", "outlier"})
}
