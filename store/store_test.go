package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
	"gonum.org/v1/gonum/mat"
)

func TestEnsembleRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		E    *mat.Dense
	}{
		{"1x1", mat.NewDense(1, 1, []float64{math.Copysign(0, -1)})},
		{"24x40", filetest.TestEnsemble(24, 40)},
		{"3x7", filetest.TestEnsemble(3, 7)},
		// A view whose rows are not contiguous (stride 9 > 4 columns):
		// written through a copy.
		{"view", filetest.TestEnsemble(5, 9).Slice(1, 4, 2, 6).(*mat.Dense)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := filetest.CheckedOpts(t)
			path := filepath.Join(dir, tc.name+".arrow")
			meta := filetest.TestMeta("")
			if err := WriteEnsemble(path, tc.E, meta, opts...); err != nil {
				t.Fatal(err)
			}
			got, gotMeta, err := ReadEnsemble(path, opts...)
			if err != nil {
				t.Fatal(err)
			}
			r, c := tc.E.Dims()
			if gr, gc := got.Dims(); gr != r || gc != c {
				t.Fatalf("dims %dx%d, want %dx%d", gr, gc, r, c)
			}
			for i := range r {
				filetest.SameBits(t, "row", got.RawRowView(i), mat.Row(nil, i, tc.E))
			}
			if want := filetest.WantMeta(meta, KindEnsemble); !reflect.DeepEqual(gotMeta, want) {
				t.Errorf("meta:\n got %+v\nwant %+v", gotMeta, want)
			}

			// With a digest: the same data, and the SHA-256 of the file.
			var digest string
			again, _, err := ReadEnsemble(path, append(opts, WithDigest(&digest))...)
			if err != nil {
				t.Fatal(err)
			}
			for i := range r {
				filetest.SameBits(t, "row read with a digest", again.RawRowView(i), got.RawRowView(i))
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%x", sha256.Sum256(data)); digest != want {
				t.Errorf("digest %s, the file's SHA-256 %s", digest, want)
			}
		})
	}
}

func TestWriteEnsembleDoesNotChangeInput(t *testing.T) {
	E := filetest.TestEnsemble(4, 5)
	before := mat.DenseCopyOf(E)
	if err := WriteEnsemble(filepath.Join(t.TempDir(), "e.arrow"), E, Meta{}, filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	filetest.SameBits(t, "E after write", E.RawMatrix().Data, before.RawMatrix().Data)
}

func TestVectorRoundTrip(t *testing.T) {
	opts := filetest.CheckedOpts(t)
	path := filepath.Join(t.TempDir(), "truth.arrow")
	x := append(append([]float64{}, filetest.Specials...), filetest.NonFinite...)
	meta := Meta{RunID: "r", Model: "m", Cycle: 3, Time: -0.25}
	if err := WriteVector(path, x, meta, opts...); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := ReadVector(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	filetest.SameBits(t, "x", got, x)
	if want := filetest.WantMeta(meta, KindTruth); !reflect.DeepEqual(gotMeta, want) {
		t.Errorf("meta:\n got %+v\nwant %+v", gotMeta, want)
	}
}

func testObservations() Observations {
	obs := Observations{}
	for i, v := range filetest.Specials {
		obs.Values = append(obs.Values, v)
		obs.Variances = append(obs.Variances, []float64{math.SmallestNonzeroFloat64, 0.25, 1e300, 1}[i%4])
		obs.Positions = append(obs.Positions, float64(i)*2.5)
		flagged := i%3 == 1
		obs.Flagged = append(obs.Flagged, flagged)
		reason := ""
		if flagged {
			reason = []string{"gross error: |d| > 5σ", "", "outside domain"}[(i/3)%3]
		}
		obs.Reasons = append(obs.Reasons, reason)
	}
	return obs
}

func TestObservationsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	full := testObservations()
	for _, tc := range []struct {
		name      string
		obs, want Observations
	}{
		{"full", full, full},
		{"empty", Observations{}, Observations{Values: []float64{}, Variances: []float64{}, Positions: []float64{}, Flagged: []bool{}, Reasons: []string{}}},
		{"nil-flags", Observations{Values: []float64{1, -0.5}, Variances: []float64{1, 2}, Positions: []float64{0, 1}},
			Observations{Values: []float64{1, -0.5}, Variances: []float64{1, 2}, Positions: []float64{0, 1}, Flagged: []bool{false, false}, Reasons: []string{"", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := filetest.CheckedOpts(t)
			path := filepath.Join(dir, tc.name+".arrow")
			meta := filetest.TestMeta(KindObservations)
			if err := WriteObservations(path, tc.obs, meta, opts...); err != nil {
				t.Fatal(err)
			}
			got, gotMeta, err := ReadObservations(path, opts...)
			if err != nil {
				t.Fatal(err)
			}
			filetest.SameBits(t, "Values", got.Values, tc.want.Values)
			filetest.SameBits(t, "Variances", got.Variances, tc.want.Variances)
			filetest.SameBits(t, "Positions", got.Positions, tc.want.Positions)
			if !reflect.DeepEqual(got.Flagged, tc.want.Flagged) || !reflect.DeepEqual(got.Reasons, tc.want.Reasons) {
				t.Errorf("flags: got %v %q, want %v %q", got.Flagged, got.Reasons, tc.want.Flagged, tc.want.Reasons)
			}
			if want := filetest.WantMeta(meta, KindObservations); !reflect.DeepEqual(gotMeta, want) {
				t.Errorf("meta:\n got %+v\nwant %+v", gotMeta, want)
			}
		})
	}
}

func testDiag(n int) []DiagRow {
	var rows []DiagRow
	for k := range n {
		v := filetest.Specials[k%len(filetest.Specials)]
		rows = append(rows, DiagRow{
			Cycle: 2*k + 1, Time: float64(k) * 0.05,
			RMSEF: v, RMSEA: filetest.NonFinite[k%len(filetest.NonFinite)], SpreadF: 0.5, SpreadA: math.Copysign(0, -1),
			Innovation: 38.5, InnovationExpected: 40,
			NObs: 40, NFlagged: k % 41,
		})
	}
	return rows
}

func sameDiag(t *testing.T, got, want []DiagRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].same(want[i]) {
			t.Fatalf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDiagnosticsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 30} {
		opts := filetest.CheckedOpts(t)
		path := filepath.Join(dir, "diag.arrow")
		rows := testDiag(n)
		meta := filetest.TestMeta(KindDiagnostics)
		if err := WriteDiagnostics(path, rows, meta, opts...); err != nil {
			t.Fatal(err)
		}
		got, gotMeta, err := ReadDiagnostics(path, opts...)
		if err != nil {
			t.Fatal(err)
		}
		sameDiag(t, got, rows)
		if want := filetest.WantMeta(meta, KindDiagnostics); !reflect.DeepEqual(gotMeta, want) {
			t.Errorf("meta:\n got %+v\nwant %+v", gotMeta, want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	writers := map[string]func(path string) error{
		"ensemble": func(p string) error {
			return WriteEnsemble(p, filetest.TestEnsemble(24, 40), filetest.TestMeta(""), filetest.CheckedOpts(t)...)
		},
		"view": func(p string) error {
			return WriteEnsemble(p, filetest.TestEnsemble(6, 50).Slice(0, 6, 10, 50).(*mat.Dense), filetest.TestMeta(""), filetest.CheckedOpts(t)...)
		},
		"vector": func(p string) error {
			return WriteVector(p, filetest.Specials, filetest.TestMeta(""), filetest.CheckedOpts(t)...)
		},
		"observations": func(p string) error {
			return WriteObservations(p, testObservations(), filetest.TestMeta(""), filetest.CheckedOpts(t)...)
		},
		"diagnostics": func(p string) error {
			return WriteDiagnostics(p, testDiag(7), filetest.TestMeta(""), filetest.CheckedOpts(t)...)
		},
	}
	filetest.CheckDeterministic(t, dir, writers)
}

func TestRunDir(t *testing.T) {
	d := RunDir{Root: "/runs/abc"}
	for got, want := range map[string]string{
		d.CycleDir(12):      "/runs/abc/cycles/000012",
		d.CycleDir(1234567): "/runs/abc/cycles/1234567",
		d.Forecast(0):       "/runs/abc/cycles/000000/forecast.arrow",
		d.Analysis(12):      "/runs/abc/cycles/000012/analysis.arrow",
		d.Observations(999): "/runs/abc/cycles/000999/observations.arrow",
		d.Truth(7):          "/runs/abc/cycles/000007/truth.arrow",
		d.Diagnostics():     "/runs/abc/diagnostics.arrow",
		d.Config():          "/runs/abc/config.yaml",
	} {
		if got != filepath.FromSlash(want) {
			t.Errorf("got %s, want %s", got, want)
		}
	}

	run := RunDir{Root: filepath.Join(t.TempDir(), "run")}
	if k, err := run.FirstCycle(); k != -1 || err != nil {
		t.Errorf("FirstCycle of no run: %d, %v; want -1", k, err)
	}
	for range 2 { // idempotent
		if err := run.MkdirCycle(3); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []int{1234567, 12} {
		if err := run.MkdirCycle(k); err != nil {
			t.Fatal(err)
		}
	}
	if k, err := run.FirstCycle(); k != 3 || err != nil {
		t.Errorf("FirstCycle: %d, %v; want 3", k, err)
	}
	if fi, err := os.Stat(run.CycleDir(3)); err != nil || !fi.IsDir() {
		t.Fatalf("cycle dir: %v", err)
	}
	if err := WriteVector(run.Truth(3), []float64{1, 2}, Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := run.MkdirCycle(-1); err == nil {
		t.Error("MkdirCycle(-1) succeeded")
	}
}

func TestExists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.arrow")
	if ok, err := Exists(path); ok || err != nil {
		t.Fatalf("missing file: %v, %v", ok, err)
	}
	if err := WriteVector(path, []float64{1}, Meta{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(path); !ok || err != nil {
		t.Fatalf("written file: %v, %v", ok, err)
	}
	if ok, err := Exists(dir); ok || err == nil {
		t.Fatalf("directory: %v, %v; want an error", ok, err)
	}
}

func TestWriteAtomic(t *testing.T) {
	t.Run("failing write", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.arrow")
		boom := errors.New("boom")
		err := arrowfile.WriteAtomic(path, func(w io.Writer) error {
			if _, err := w.Write(make([]byte, 1<<20)); err != nil { // more than the buffer: reaches the temp file
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
		if names := filetest.ListDir(t, dir); len(names) != 0 {
			t.Fatalf("left behind %v", names)
		}
	})
	t.Run("panicking write", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.arrow")
		func() {
			defer func() { _ = recover() }() // the test's, not the package's
			_ = arrowfile.WriteAtomic(path, func(w io.Writer) error {
				_, _ = w.Write([]byte("partial"))
				panic("write panicked")
			})
		}()
		if names := filetest.ListDir(t, dir); len(names) != 0 {
			t.Fatalf("left behind %v", names)
		}
	})
	t.Run("failing write keeps the old file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.arrow")
		if err := WriteVector(path, []float64{1, 2, 3}, Meta{}); err != nil {
			t.Fatal(err)
		}
		old, _ := os.ReadFile(path)
		if err := arrowfile.WriteAtomic(path, func(w io.Writer) error { return errors.New("boom") }); err == nil {
			t.Fatal("no error")
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(old, now) {
			t.Fatal("old file changed")
		}
		if names := filetest.ListDir(t, dir); len(names) != 1 {
			t.Fatalf("dir holds %v, want only x.arrow", names)
		}
	})
	t.Run("invalid input leaves nothing", func(t *testing.T) {
		dir := t.TempDir()
		obs := Observations{Values: []float64{math.NaN()}, Variances: []float64{1}, Positions: []float64{0}}
		err := WriteObservations(filepath.Join(dir, "obs.arrow"), obs, Meta{})
		if err == nil || !strings.Contains(err.Error(), `row 0: column "value"`) {
			t.Fatalf("got %v", err)
		}
		if names := filetest.ListDir(t, dir); len(names) != 0 {
			t.Fatalf("left behind %v", names)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope", "x.arrow")
		err := WriteVector(path, []float64{1}, Meta{})
		if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "store: write "+path+": ") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		path := filepath.Join(dir, "x.arrow")
		err := WriteVector(path, []float64{1}, Meta{})
		if err == nil {
			t.Skip("writing into a read-only directory succeeded (running as root?)")
		}
		if !errors.Is(err, fs.ErrPermission) || !strings.HasPrefix(err.Error(), "store: write "+path+": ") {
			t.Fatalf("got %v, want a permission error naming the file", err)
		}
		if names := filetest.ListDir(t, dir); len(names) != 0 {
			t.Fatalf("left behind %v", names)
		}
	})
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := RunDir{Root: dir}.Config()
	for _, content := range []string{"model: lorenz96\n", "model: ks\n"} { // create, then replace
		if err := WriteFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != content {
			t.Fatalf("got %q, %v; want %q", got, err, content)
		}
	}
	if names := filetest.ListDir(t, dir); len(names) != 1 {
		t.Fatalf("dir holds %v, want only config.yaml", names)
	}
	missing := filepath.Join(dir, "nope", "config.yaml")
	if err := WriteFileAtomic(missing, nil); err == nil || !strings.HasPrefix(err.Error(), "store: write "+missing+": ") {
		t.Fatalf("got %v", err)
	}
}

// TestCreateFileOnce: of 8 writers racing for one path with different
// contents exactly one creates it, the file holds that writer's bytes, the
// others see it taken, and no temporary file is left.
func TestCreateFileOnce(t *testing.T) {
	for round := range 20 {
		dir := t.TempDir()
		path := RunDir{Root: dir}.Config()
		created := make([]bool, 8)
		var wg sync.WaitGroup
		for i := range created {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := CreateFileOnce(path, []byte(fmt.Sprintf("writer %d\n", i)))
				if err != nil {
					t.Error(err)
				}
				created[i] = c
			}()
		}
		wg.Wait()
		winners := 0
		for i, c := range created {
			if c {
				winners++
				if got, err := os.ReadFile(path); err != nil || string(got) != fmt.Sprintf("writer %d\n", i) {
					t.Fatalf("round %d: file holds %q, %v; writer %d created it", round, got, err, i)
				}
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d writers created the file, want 1", round, winners)
		}
		if names := filetest.ListDir(t, dir); len(names) != 1 {
			t.Fatalf("round %d: dir holds %v, want only config.yaml", round, names)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope", "config.yaml")
	if _, err := CreateFileOnce(missing, nil); err == nil || !strings.HasPrefix(err.Error(), "store: write "+missing+": ") {
		t.Fatalf("got %v", err)
	}
}

// same reports whether r and s are bit for bit the same row.
func (r DiagRow) same(s DiagRow) bool {
	fr := []float64{r.Time, r.RMSEF, r.RMSEA, r.SpreadF, r.SpreadA, r.Innovation, r.InnovationExpected}
	fs := []float64{s.Time, s.RMSEF, s.RMSEA, s.SpreadF, s.SpreadA, s.Innovation, s.InnovationExpected}
	for i := range fr {
		if math.Float64bits(fr[i]) != math.Float64bits(fs[i]) {
			return false
		}
	}
	return r.Cycle == s.Cycle && r.NObs == s.NObs && r.NFlagged == s.NFlagged
}

func TestIsTempName(t *testing.T) {
	for name, want := range map[string]bool{
		".analysis.arrow.tmp-3f9c0a1b2c3d4e5f":  true,
		".x.tmp-0000000000000000":               true,
		"analysis.arrow.tmp-3f9c0a1b2c3d4e5f":   false, // no leading dot
		"..tmp-3f9c0a1b2c3d4e5f":                false, // empty base
		".tmp-3f9c0a1b2c3d4e5f":                 false,
		".analysis.arrow.tmp-3f9c0a1b2c3d4e5":   false, // 15 digits
		".analysis.arrow.tmp-3f9c0a1b2c3d4e5f0": false,
		".analysis.arrow.tmp-3F9C0A1B2C3D4E5F":  false, // arrowfile.CreateTemp writes lower case
		".analysis.arrow.tmp-3f9c0a1b2c3d4e5g":  false,
		".analysis.arrow":                       false,
		"analysis.arrow":                        false,
	} {
		if got := arrowfile.IsTempName(name); got != want {
			t.Errorf("isTempName(%q) = %v, want %v", name, got, want)
		}
	}
	// What arrowfile.CreateTemp makes is recognised.
	f, name, err := arrowfile.CreateTemp(t.TempDir(), "forecast.arrow")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !arrowfile.IsTempName(filepath.Base(name)) {
		t.Errorf("createTemp's %q is not recognised", name)
	}
}

// TestRemoveStaleTemps: only temporary files older than the age go, in
// every subdirectory; final files, young temporary files and look-alikes
// stay.
func TestRemoveStaleTemps(t *testing.T) {
	root := t.TempDir()
	now := time.Now()
	old := now.Add(-2 * StaleTempAge)
	mk := func(rel string, mtime time.Time) string {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return path
	}
	stale := []string{
		mk("runs/a/cycles/000001/.analysis.arrow.tmp-0123456789abcdef", old),
		mk("runs/b/.diagnostics.arrow.tmp-fedcba9876543210", old),
	}
	kept := []string{
		mk("runs/a/cycles/000001/.forecast.arrow.tmp-00000000000000aa", now.Add(-time.Minute)), // a write in progress
		mk("runs/a/cycles/000001/analysis.arrow", old),
		mk("runs/a/.notes.tmp-old", old),
	}
	got, err := RemoveStaleTemps(root, StaleTempAge, now)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(stale)
	if !slices.Equal(got, stale) {
		t.Errorf("removed %v, want %v", got, stale)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if got, err := RemoveStaleTemps(filepath.Join(root, "missing"), StaleTempAge, now); err != nil || len(got) != 0 {
		t.Errorf("missing root: %v, %v", got, err)
	}
}
