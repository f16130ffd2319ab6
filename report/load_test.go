package report

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latentda/latentda/latent/neural"
	"github.com/latentda/latentda/store"
)

func TestLoad(t *testing.T) {
	state := t.TempDir()
	s := newSynthRun()
	dir := s.write(t, state)
	writeGenerator(t, state, []float64{4, 2, 1}, []float64{5, 3, 2.5})

	r, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "r1" || len(r.Diag) != len(s.rows) || len(r.Notes) != 0 {
		t.Fatalf("ID %q, %d rows, notes %q; want r1, %d rows, no notes", r.ID, len(r.Diag), r.Notes, len(s.rows))
	}
	// Cycles 3..6 (model time 0.15..0.3) are past the burn-in of 0.1.
	want := (0.5/3 + 0.5/4 + 0.5/5 + 0.5/6) / 4
	if r.Summary.Scored != 4 || math.Abs(r.Summary.RMSEa-want) > 1e-15 {
		t.Errorf("summary: %d scored, RMSEa %v; want 4, %v", r.Summary.Scored, r.Summary.RMSEa, want)
	}
	f := r.Field
	if f == nil || f.Truth == nil || f.Error == nil {
		t.Fatalf("field %+v: want mean, truth and error", f)
	}
	for i := range s.rows {
		if f.Cycles[i] != s.rows[i].Cycle {
			t.Errorf("row %d: cycle %d, want %d", i, f.Cycles[i], s.rows[i].Cycle)
		}
		for j := range 5 {
			var mean float64
			for _, m := range s.ens[i] {
				mean += m[j]
			}
			mean /= 3
			if got := f.Mean.At(i, j); math.Abs(got-mean) > 1e-15 {
				t.Errorf("mean[%d][%d] = %v, want %v", i, j, got, mean)
			}
			if got := f.Truth.At(i, j); got != s.truth[i][j] {
				t.Errorf("truth[%d][%d] = %v, want %v", i, j, got, s.truth[i][j])
			}
			if got, w := f.Error.At(i, j), f.Mean.At(i, j)-s.truth[i][j]; got != w {
				t.Errorf("error[%d][%d] = %v, want %v", i, j, got, w)
			}
		}
	}
	wantFlags := []Flag{{2, 2, flagReasons[2]}, {4, 4, flagReasons[4]}, {6, 1, flagReasons[6]}}
	if len(r.Flags) != len(wantFlags) {
		t.Errorf("flags %v, want %v", r.Flags, wantFlags)
	}
	for i := range min(len(r.Flags), len(wantFlags)) {
		if r.Flags[i] != wantFlags[i] {
			t.Errorf("flag %d = %+v, want %+v", i, r.Flags[i], wantFlags[i])
		}
	}
	if c := r.Curve; c == nil || !equalFloats(c.Train, []float64{4, 2, 1}) || !equalFloats(c.Valid, []float64{5, 3, 2.5}) {
		t.Errorf("curve %+v: want train [4 2 1], valid [5 3 2.5]", c)
	}

	r, err = Load(dir, Options{FieldCycles: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Field.Cycles; len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("FieldCycles 2: cycles %v, want [1 2]", got)
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadWithoutTruthOrCurve(t *testing.T) {
	state := t.TempDir()
	s := newSynthRun()
	s.truth = nil
	r, err := Load(s.write(t, state), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Field.Truth != nil || r.Field.Error != nil || r.Curve != nil {
		t.Errorf("got truth %v, error %v, curve %v; want none", r.Field.Truth != nil, r.Field.Error != nil, r.Curve)
	}
	if len(r.Notes) != 2 || !strings.Contains(r.Notes[0], "no truth") || !strings.Contains(r.Notes[1], "No training curve") {
		t.Errorf("notes %q: want one on the truth and one on the curve", r.Notes)
	}
}

func TestLoadCurveFromCheckpoint(t *testing.T) {
	state := t.TempDir()
	dir := newSynthRun().write(t, state)
	ck := neural.Checkpoint{Version: 1, Epoch: 2, TrainLoss: []float64{3, 1}, ValidLoss: []float64{4, 2}}
	data, err := json.Marshal(ck)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(state, "generators", "g.checkpoint.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o666); err != nil {
		t.Fatal(err)
	}
	// The run directory is elsewhere: the state root comes from Options.
	moved := filepath.Join(t.TempDir(), "r1")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	r, err := Load(moved, Options{StateRoot: state})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Curve; c == nil || c.Source != path || !equalFloats(c.Train, ck.TrainLoss) || !equalFloats(c.Valid, ck.ValidLoss) {
		t.Errorf("curve %+v: want the checkpoint's", c)
	}
}

func TestLoadMalformed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, state, dir string)
		want   string
		is     error
	}{
		{"no config", func(t *testing.T, _, dir string) { rm(t, filepath.Join(dir, "config.yaml")) }, "config.yaml", fs.ErrNotExist},
		{"bad config", func(t *testing.T, _, dir string) {
			write(t, filepath.Join(dir, "config.yaml"), strings.Replace(testConfig, "members: 3", "members: 1", 1))
		}, "filter.members", nil},
		{"no diagnostics", func(t *testing.T, _, dir string) { rm(t, filepath.Join(dir, "diagnostics.arrow")) }, "diagnostics.arrow", fs.ErrNotExist},
		{"diagnostics not Arrow", func(t *testing.T, _, dir string) {
			write(t, filepath.Join(dir, "diagnostics.arrow"), "cycle,rmse\n1,0.5\n")
		}, "diagnostics.arrow", store.ErrInvalid},
		{"no rows", func(t *testing.T, _, dir string) {
			if err := store.WriteDiagnostics(filepath.Join(dir, "diagnostics.arrow"), nil, store.Meta{}); err != nil {
				t.Fatal(err)
			}
		}, "no cycles yet", nil},
		{"missing analysis", func(t *testing.T, _, dir string) { rm(t, store.RunDir{Root: dir}.Analysis(3)) }, "000003/analysis.arrow", fs.ErrNotExist},
		{"observations disagree with n_flagged", func(t *testing.T, _, dir string) {
			obs := synthObs(store.DiagRow{Cycle: 4, NObs: 5})
			if err := store.WriteObservations(store.RunDir{Root: dir}.Observations(4), obs, store.Meta{}); err != nil {
				t.Fatal(err)
			}
		}, "flags 0 observations, but the diagnostics of cycle 4 count 1", nil},
		{"missing observations", func(t *testing.T, _, dir string) { rm(t, store.RunDir{Root: dir}.Observations(2)) }, "000002/observations.arrow", fs.ErrNotExist},
		{"truth missing mid-run", func(t *testing.T, _, dir string) { rm(t, store.RunDir{Root: dir}.Truth(4)) }, "000004/truth.arrow", fs.ErrNotExist},
		{"truth from cycle 2 only", func(t *testing.T, _, dir string) { rm(t, store.RunDir{Root: dir}.Truth(1)) }, "cycle 1 has no truth file", nil},
		{"truth of another size", func(t *testing.T, _, dir string) {
			if err := store.WriteVector(store.RunDir{Root: dir}.Truth(2), []float64{1, 2}, store.Meta{}); err != nil {
				t.Fatal(err)
			}
		}, "state size 2, want 5", nil},
		{"truth is an ensemble", func(t *testing.T, _, dir string) {
			rd := store.RunDir{Root: dir}
			data, err := os.ReadFile(rd.Analysis(2))
			if err != nil {
				t.Fatal(err)
			}
			write(t, rd.Truth(2), string(data))
		}, `file kind is "ensemble"`, store.ErrInvalid},
		{"generator corrupt", func(t *testing.T, state, _ string) {
			write(t, filepath.Join(state, "generators", "g.arrow"), "ARROW1 but not really")
		}, "g.arrow", store.ErrInvalid},
		{"checkpoint not JSON", func(t *testing.T, state, _ string) {
			rm(t, filepath.Join(state, "generators", "g.arrow"))
			write(t, filepath.Join(state, "generators", "g.checkpoint.json"), `{"train_loss": [1, 2`)
		}, "g.checkpoint.json", nil},
		{"checkpoint losses not numbers", func(t *testing.T, state, _ string) {
			rm(t, filepath.Join(state, "generators", "g.arrow"))
			write(t, filepath.Join(state, "generators", "g.checkpoint.json"), `{"train_loss": ["a"]}`)
		}, "g.checkpoint.json", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			dir := newSynthRun().write(t, state)
			writeGenerator(t, state, []float64{1}, []float64{1})
			tc.change(t, state, dir)
			_, err := Load(dir, Options{})
			if err == nil {
				t.Fatalf("no error, want one naming %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "report: ") {
				t.Errorf("error %q: want the prefix report: and %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not match %v", err, tc.is)
			}
		})
	}
}

func rm(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o666); err != nil {
		t.Fatal(err)
	}
}

// FuzzLoadCurve feeds arbitrary bytes to the checkpoint reader: it must
// return a curve or an error, never panic, and a curve it returns holds
// the checkpoint's losses.
func FuzzLoadCurve(f *testing.F) {
	f.Add([]byte(`{"version":1,"epoch":2,"train_loss":[3,1],"valid_loss":[4,2]}`))
	f.Add([]byte(`{"train_loss":[]}`))
	f.Add([]byte(`{"train_loss":[1e400]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "g.checkpoint.json")
		if err := os.WriteFile(path, data, 0o666); err != nil {
			t.Fatal(err)
		}
		c, err := loadCurve(filepath.Join(dir, "g.arrow"))
		if err != nil {
			if !strings.Contains(err.Error(), "g.checkpoint.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if c != nil && len(c.Train) == 0 && len(c.Valid) == 0 {
			t.Fatalf("empty curve %+v returned", c)
		}
	})
}

// TestLoadLocalInflation: a run with the local innovation inflation
// shows each analysis's Λ_b on the grid points of its batch, as the last
// Hovmöller panel; a cycle whose file holds the wrong number of batches
// is an error naming it.
func TestLoadLocalInflation(t *testing.T) {
	state := t.TempDir()
	s := newSynthRun()
	s.config = strings.NewReplacer("method: etkf", "method: letkf\n  loc_radius: 2\n  batch_size: 2",
		"inflation: adaptive", "inflation: adaptive\n  adaptive: {scheme: local-innovation}", "latent:\n  generator: generators/g.arrow\n", "").Replace(testConfig)
	dir := s.write(t, state)
	rd := store.RunDir{Root: dir}
	lam := func(k int) []float64 { return []float64{1 + 0.1*float64(k), 2, 3 - 0.1*float64(k)} } // batches {0,1}, {2,3}, {4}
	for _, r := range s.rows {
		if err := store.WriteVector(rd.Inflation(r.Cycle), lam(r.Cycle), store.Meta{RunID: "r1", Kind: store.KindEstimate, Cycle: r.Cycle}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := r.Field
	for i, k := range f.Cycles {
		for j, want := range []float64{lam(k)[0], lam(k)[0], 2, 2, lam(k)[2]} {
			if got := f.Inflation.At(i, j); got != want {
				t.Errorf("cycle %d, grid point %d: inflation %v, want %v", k, j, got, want)
			}
		}
	}
	ps := hovmollerPanels(f)
	if last := ps[len(ps)-1]; last.title != "local inflation Λ" || last.min != 1.1 || last.max != 3-0.1 {
		t.Errorf("last panel %q on [%v, %v], want the local inflation on [1.1, 2.9]", last.title, last.min, last.max)
	}
	if err := store.WriteVector(rd.Inflation(3), []float64{1, 2}, store.Meta{RunID: "r1", Kind: store.KindEstimate, Cycle: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "cycle 3: 2 local inflations, want one per batch of 2 grid points, 3") {
		t.Errorf("wrong number of batches: %v", err)
	}
}

// TestHybridWeightFigure: a run whose diagnostics have a hybrid weight
// that changes (latent.alpha_estimate) shows it per cycle, with its mean
// after the burn-in; a fixed weight or none shows no figure. The set-up
// names the analysis and the weight, fixed or estimated.
func TestHybridWeightFigure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		latent string
		alpha  func(k int) float64
		figure bool
		setup  string
	}{
		{"estimated", "  analysis: hybrid-local\n  alpha_estimate: {}\n", func(k int) float64 { return 1 - 0.001*float64(k) }, true,
			"analysis hybrid-local, hybrid weight α estimated (memory 20)"},
		{"fixed", "  analysis: hybrid-local\n  alpha: 0.99\n", func(int) float64 { return 0.99 }, false, "analysis hybrid-local, hybrid weight α 0.99"},
		{"none", "", func(int) float64 { return math.NaN() }, false, "update increment, analysis etkf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSynthRun()
			pairs := []string{"inflation: adaptive", "inflation: 1.02", "generator: generators/g.arrow\n", "generator: generators/g.arrow\n  update: increment\n" + tc.latent}
			if tc.latent != "" { // hybrid-local: the LETKF on the states
				pairs = append(pairs, "method: etkf", "method: letkf\n  loc_radius: 2")
			}
			s.config = strings.NewReplacer(pairs...).Replace(testConfig)
			for i := range s.rows {
				s.rows[i].HybridWeight = tc.alpha(s.rows[i].Cycle)
			}
			r, err := Load(s.write(t, t.TempDir()), Options{})
			if err != nil {
				t.Fatal(err)
			}
			figs, err := Figures(r)
			if err != nil {
				t.Fatal(err)
			}
			k := slices.IndexFunc(figs, func(f Figure) bool { return f.File == "hybrid-weight.png" })
			if (k >= 0) != tc.figure {
				t.Fatalf("hybrid weight figure: %v, want %v", k >= 0, tc.figure)
			}
			if k >= 0 && !strings.Contains(figs[k].Caption, "Mean α after the burn-in:") {
				t.Errorf("caption %q has no mean", figs[k].Caption)
			}
			if setup := strings.Join(newPage(r, figs).Setup, "\n"); !strings.Contains(setup, tc.setup) {
				t.Errorf("set-up lacks %q:\n%s", tc.setup, setup)
			}
		})
	}
}
