package store

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
	"gonum.org/v1/gonum/mat"
)

// batchCycle is the state of one cycle of a test batch.
type batchCycle struct {
	meta               Meta
	truth, scales      []float64
	inflation          float64
	forecast, analysis *mat.Dense
	latentF, latentA   *mat.Dense
	obs                Observations
}

// testCycles makes the state of cycles from..to: 5 members of 6 variables,
// latent codes of 2, 3 variance scales, an inflation, and the test
// observations.
func testCycles(from, to int) []batchCycle {
	var cs []batchCycle
	for k := from; k <= to; k++ {
		m := filetest.TestMeta("")
		m.Cycle, m.Time, m.Extra = k, 0.05*float64(k), nil
		shift := func(E *mat.Dense, by float64) *mat.Dense {
			var S mat.Dense
			S.Apply(func(_, _ int, v float64) float64 { return v + by }, E)
			return &S
		}
		base := filetest.TestEnsemble(5, 6)
		cs = append(cs, batchCycle{
			meta:      m,
			truth:     []float64{float64(k), math.Copysign(0, -1), 1e-310, 3, 4, 5},
			scales:    []float64{1, 1.5, float64(k)},
			inflation: 1 + 1/float64(k),
			forecast:  shift(base, float64(k)),
			analysis:  shift(base, float64(k)+0.5),
			latentF:   mat.NewDense(5, 2, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, float64(k)}),
			latentA:   mat.NewDense(5, 2, []float64{0, 2, 3, 4, 5, 6, 7, 8, 9, float64(-k)}),
			obs:       testObservations(),
		})
	}
	return cs
}

// writeBatch stores cycles in a batch of dir; with commit false it leaves
// the batch as a killed process would.
func writeBatch(t testing.TB, dir RunDir, keep Retention, cycles []batchCycle, commit bool) []string {
	t.Helper()
	b := fillBatch(t, dir, keep, cycles)
	if !commit {
		return nil
	}
	paths, err := b.Commit(nil, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// fillBatch records the cycles in a new batch of dir, uncommitted.
func fillBatch(t testing.TB, dir RunDir, keep Retention, cycles []batchCycle) *CycleBatch {
	t.Helper()
	b := dir.NewCycleBatch(keep)
	for _, c := range cycles {
		for _, err := range []error{
			b.Truth(c.meta, c.truth), b.Forecast(c.meta, c.forecast), b.Observations(c.meta, c.obs),
			b.Latent(c.meta, c.latentF, c.latentA), b.Estimate(c.meta, FieldVarianceScales, c.scales),
			b.Estimate(c.meta, FieldInflation, []float64{c.inflation}),
			b.Analysis(c.meta, c.analysis), b.EndCycle(),
		} {
			if err != nil {
				t.Fatalf("cycle %d: %v", c.meta.Cycle, err)
			}
		}
	}
	return b
}

// checkCycle checks that rs reads cycle c back bit for bit.
func checkCycle(t *testing.T, rs *RunState, c batchCycle) {
	t.Helper()
	k := c.meta.Cycle
	for _, e := range []struct {
		f    Field
		want *mat.Dense
	}{{FieldForecast, c.forecast}, {FieldAnalysis, c.analysis}, {FieldLatentForecast, c.latentF}, {FieldLatentAnalysis, c.latentA}} {
		E, m, err := rs.Ensemble(e.f, k)
		if err != nil {
			t.Fatalf("cycle %d %s: %v", k, e.f, err)
		}
		filetest.SameBits(t, string(e.f), E.RawMatrix().Data, e.want.RawMatrix().Data)
		if m.Cycle != k || m.Time != c.meta.Time || m.RunID != c.meta.RunID || m.Kind != KindStateBatch {
			t.Errorf("cycle %d %s: meta %+v", k, e.f, m)
		}
	}
	for _, v := range []struct {
		f    Field
		want []float64
	}{{FieldTruth, c.truth}, {FieldVarianceScales, c.scales}, {FieldInflation, []float64{c.inflation}}} {
		x, _, err := rs.Vector(v.f, k)
		if err != nil {
			t.Fatalf("cycle %d %s: %v", k, v.f, err)
		}
		filetest.SameBits(t, string(v.f), x, v.want)
	}
	obs, m, err := rs.Observations(k)
	if err != nil {
		t.Fatalf("cycle %d observations: %v", k, err)
	}
	filetest.SameBits(t, "observations", obs.Values, c.obs.Values)
	if !slices.Equal(obs.Reasons, c.obs.Reasons) || m.Cycle != k || m.Time != c.meta.Time {
		t.Errorf("cycle %d observations: reasons %q, meta %+v", k, obs.Reasons, m)
	}
}

// TestCycleBatchRoundTrip writes a batch of cycles, reads every cycle
// back bit for bit, and writes it again: the files are the same bytes.
func TestCycleBatchRoundTrip(t *testing.T) {
	dir := RunDir{Root: t.TempDir()}
	cycles := testCycles(1, 4)
	paths := writeBatch(t, dir, Retention{}, cycles, true)
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	if want := []string{"estimates-000001-000004.arrow", "inflation-000001-000004.arrow", "latent-000001-000004.arrow", "observations-000001-000004.arrow", "states-000001-000004.arrow", "diagnostics.arrow"}; !slices.Equal(names, want) {
		t.Fatalf("batch files %q, want %q", names, want)
	}
	rs := OpenRunState(dir)
	defer rs.Close()
	for _, c := range cycles {
		checkCycle(t, rs, c)
	}
	b := dir.NewCycleBatch(Retention{})
	if err := b.Estimate(cycles[0].meta, FieldTruth, cycles[0].truth); err == nil || !strings.Contains(err.Error(), "truth is not an estimate") {
		t.Errorf("the truth as an estimate: %v", err)
	}
	b.Abort()
	if _, _, err := rs.Ensemble(FieldAnalysis, 5); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cycle 5, after the batch: %v, want fs.ErrNotExist", err)
	}

	first := map[string][]byte{}
	for _, p := range paths {
		first[p], _ = os.ReadFile(p)
	}
	// A retried batch, in the same directory and in another one.
	other := RunDir{Root: t.TempDir()}
	writeBatch(t, dir, Retention{}, cycles, true)
	writeBatch(t, other, Retention{}, cycles, true)
	for p, want := range first {
		rel, _ := filepath.Rel(dir.Root, p)
		for _, got := range []string{p, filepath.Join(other.Root, rel)} {
			if b, err := os.ReadFile(got); err != nil || !bytes.Equal(b, want) {
				t.Errorf("%s: rewritten batch differs from the first write (%v)", got, err)
			}
		}
	}
	if entries, _ := os.ReadDir(dir.Batches()); len(entries) != len(paths)-1 {
		t.Errorf("%d entries in %s after the retry, want %d (no temporary files)", len(entries), dir.Batches(), len(paths)-1)
	}
}

// TestCycleBatchLargeStates: the cycles of a large model are record
// batches of their own (recordBytes), and read back bit for bit.
func TestCycleBatchLargeStates(t *testing.T) {
	dir := RunDir{Root: t.TempDir()}
	const n = recordBytes / 16 // 3 rows of n values: 1.5 × recordBytes per cycle
	b := dir.NewCycleBatch(Retention{})
	var cycles []*mat.Dense
	for k := 1; k <= 3; k++ {
		m := filetest.TestMeta("")
		m.Cycle = k
		A := mat.NewDense(2, n, nil)
		for i := range A.RawMatrix().Data {
			A.RawMatrix().Data[i] = float64(k*i) / 7
		}
		if k == 3 {
			A.Set(0, 5, marker)
		}
		cycles = append(cycles, A)
		if err := errors.Join(b.Truth(m, A.RawRowView(1)), b.Analysis(m, A), b.EndCycle()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Commit(nil, Meta{}); err != nil {
		t.Fatal(err)
	}
	rs := OpenRunState(dir)
	defer rs.Close()
	for k, want := range cycles {
		A, _, err := rs.Ensemble(FieldAnalysis, k+1)
		if err != nil {
			t.Fatal(err)
		}
		filetest.SameBits(t, "analysis", A.RawMatrix().Data, want.RawMatrix().Data)
	}
	if recs := len(rs.open[batchStates].t.Recs); recs != 3 {
		t.Errorf("%d record batches, want one per cycle", recs)
	}
	// Each record batch has its checksum: a flipped bit in the last
	// makes the file unreadable, whichever cycle is asked for.
	path := dir.Batch(batchStates, 1, 3)
	filetest.FlipBit(t, path, marker)
	rs2 := OpenRunState(dir)
	defer rs2.Close()
	_, _, err := rs2.Ensemble(FieldAnalysis, 1)
	filetest.CheckReadError(t, err, path, "record batch 2: checksum mismatch", false)
}

// TestCycleBatchCrash: a batch that dies before it commits leaves the
// previous batches intact and readable, and its own cycles absent; its
// temporary files are never read and are removed as stale. A failed cycle
// that never ended is not written.
func TestCycleBatchCrash(t *testing.T) {
	dir := RunDir{Root: t.TempDir()}
	cycles := testCycles(1, 6)
	writeBatch(t, dir, Retention{}, cycles[:3], true)
	before := map[string][]byte{}
	entries, _ := os.ReadDir(dir.Batches())
	for _, e := range entries {
		before[e.Name()], _ = os.ReadFile(filepath.Join(dir.Batches(), e.Name()))
	}
	writeBatch(t, dir, Retention{}, cycles[3:], false) // killed: not committed
	entries, _ = os.ReadDir(dir.Batches())
	temps := 0
	for _, e := range entries {
		if arrowfile.IsTempName(e.Name()) {
			temps++
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir.Batches(), e.Name())); err != nil || !bytes.Equal(b, before[e.Name()]) {
			t.Errorf("%s changed by the killed batch", e.Name())
		}
	}
	if temps != 5 {
		t.Errorf("%d temporary files after the kill, want 5 (one per batch file, partly written)", temps)
	}
	rs := OpenRunState(dir)
	for _, c := range cycles[:3] {
		checkCycle(t, rs, c)
	}
	if _, _, err := rs.Ensemble(FieldAnalysis, 4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cycle 4 of the killed batch: %v, want fs.ErrNotExist", err)
	}
	rs.Close()
	removed, err := RemoveStaleTemps(dir.Root, 0, time.Now().Add(time.Second))
	if err != nil || len(removed) != temps {
		t.Errorf("RemoveStaleTemps removed %v (%v), want the %d temporary files", removed, err, temps)
	}

	// A batch whose last cycle failed (no EndCycle) writes the cycles
	// before it, keeping the analysis of the last one.
	b := dir.NewCycleBatch(Retention{Analysis: Keep{MeanOnly: true}})
	for _, c := range cycles[3:5] {
		if err := errors.Join(b.Truth(c.meta, c.truth), b.Forecast(c.meta, c.forecast), b.Analysis(c.meta, c.analysis), b.EndCycle()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Truth(cycles[5].meta, cycles[5].truth); err != nil {
		t.Fatal(err)
	}
	paths, err := b.Commit(nil, Meta{})
	if err != nil || len(paths) != 2 || filepath.Base(paths[0]) != "states-000004-000005.arrow" {
		t.Fatalf("commit after a failed cycle: %q, %v", paths, err)
	}
	rs = OpenRunState(dir)
	defer rs.Close()
	if _, _, err := rs.Ensemble(FieldAnalysis, 5); err != nil {
		t.Errorf("the last cycle's analysis: %v", err)
	}
	if _, _, err := rs.Ensemble(FieldAnalysis, 4); !errors.Is(err, ErrNotKept) {
		t.Errorf("cycle 4 analysis with store.analysis: mean: %v, want ErrNotKept", err)
	}
	if _, _, err := rs.Vector(FieldTruth, 6); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("truth of the failed cycle 6: %v, want fs.ErrNotExist", err)
	}
}

// TestRetention: the members are kept as the policy says (and the last
// cycle's analysis always), the others as mean and spread; a read of what
// was not kept names the setting and the nearest cycles kept.
func TestRetention(t *testing.T) {
	dir := RunDir{Root: t.TempDir()}
	keep := Retention{Forecast: Keep{MeanOnly: true}, Analysis: Keep{Every: 10}, Latent: Keep{Every: 4}}
	cycles := testCycles(21, 45)
	writeBatch(t, dir, keep, cycles[:10], true) // 21..30
	writeBatch(t, dir, keep, cycles[10:], true) // 31..45
	rs := OpenRunState(dir)
	defer rs.Close()
	for _, c := range cycles {
		k := c.meta.Cycle
		_, _, err := rs.Ensemble(FieldAnalysis, k)
		if kept := k%10 == 0 || k == 45; kept != (err == nil) {
			t.Errorf("cycle %d analysis: kept %v, read error %v", k, kept, err)
		}
		_, _, err = rs.Ensemble(FieldLatentAnalysis, k)
		if kept := k%4 == 0; kept != (err == nil) {
			t.Errorf("cycle %d latent analysis: kept %v, read error %v", k, kept, err)
		}
		if _, _, err := rs.Ensemble(FieldForecast, k); !errors.Is(err, ErrNotKept) {
			t.Errorf("cycle %d forecast: %v, want ErrNotKept", k, err)
		}
		// Means and truths are always there; the stored mean is the
		// members' mean, bit for bit.
		mean, err := rs.Mean(FieldForecast, k)
		if err != nil {
			t.Fatal(err)
		}
		filetest.SameBits(t, "forecast mean", mean, EnsembleMean(c.forecast))
		if _, _, err := rs.Vector(FieldTruth, k); err != nil {
			t.Errorf("cycle %d truth: %v", k, err)
		}
	}
	// The spread is the members' sample standard deviation.
	b, rec, err := rs.cycle(batchStates, 37)
	if err != nil {
		t.Fatal(err)
	}
	spread, err := b.rows(rec, FieldForecast+suffixSpread, false)
	if err != nil {
		t.Fatal(err)
	}
	F := cycles[37-21].forecast
	for j := range 6 {
		col := mat.Col(nil, j, F)
		mu := 0.0
		for _, v := range col {
			mu += v / 5
		}
		ss := 0.0
		for _, v := range col {
			ss += (v - mu) * (v - mu)
		}
		if got, want := spread.At(0, j), math.Sqrt(ss/4); got != want && !(math.Abs(got-want) <= 1e-12*math.Abs(want)) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("spread[%d] = %v, want %v", j, got, want)
		}
	}

	for _, tc := range []struct {
		f    Field
		k    int
		want string
	}{
		{FieldAnalysis, 37, "store: cycle 37 analysis ensemble not kept (store.analysis: every 10); the nearest cycles kept are 30 and 40"},
		{FieldAnalysis, 41, "store: cycle 41 analysis ensemble not kept (store.analysis: every 10); the nearest cycles kept are 40 and 45"},
		{FieldForecast, 22, "store: cycle 22 forecast ensemble not kept (store.forecast: mean)"},
		{FieldLatentForecast, 23, "store: cycle 23 latent forecast ensemble not kept (store.latent: every 4); the nearest cycle kept is 24"},
	} {
		_, _, err := rs.Ensemble(tc.f, tc.k)
		var nk *NotKeptError
		if !errors.As(err, &nk) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s of cycle %d: %v, want %q", tc.f, tc.k, err, tc.want)
		}
	}
}

func TestParseKeep(t *testing.T) {
	for _, s := range []string{"all", "mean", "every 1", "every 10"} {
		k, err := ParseKeep(s)
		if err != nil || k.String() != s {
			t.Errorf("ParseKeep(%q) = %v, %v; want it back", s, k, err)
		}
	}
	for _, s := range []string{"", "All", "every", "every 0", "every -2", "every 1.5", "means", "every  3"} {
		if _, err := ParseKeep(s); err == nil || !strings.Contains(err.Error(), "want all, mean") {
			t.Errorf("ParseKeep(%q): %v, want an error listing the forms", s, err)
		}
	}
}

// TestOldRunsRead reads runs written by earlier builds, one directory per
// cycle: testdata/runs/schema2 and schema3 (3 cycles of an 8-variable
// Lorenz-96 ETKF with 4 members).
func TestOldRunsRead(t *testing.T) {
	for version, name := range map[int]string{2: "schema2", 3: "schema3"} {
		rs := OpenRunState(RunDir{Root: filepath.Join("testdata", "runs", name)})
		for k := 0; k <= 3; k++ {
			E, m, err := rs.Ensemble(FieldAnalysis, k)
			if err != nil {
				t.Fatalf("%s cycle %d: %v", name, k, err)
			}
			if r, c := E.Dims(); r != 4 || c != 8 || m.SchemaVersion != version || m.Cycle != k {
				t.Errorf("%s cycle %d: %d×%d, meta %+v", name, k, r, c, m)
			}
			if _, _, err := rs.Vector(FieldTruth, k); err != nil {
				t.Errorf("%s cycle %d truth: %v", name, k, err)
			}
			if k == 0 {
				continue
			}
			if _, _, err := rs.Ensemble(FieldForecast, k); err != nil {
				t.Errorf("%s cycle %d forecast: %v", name, k, err)
			}
			if obs, _, err := rs.Observations(k); err != nil || obs.Len() != 8 {
				t.Errorf("%s cycle %d observations: %d, %v", name, k, obs.Len(), err)
			}
		}
		rs.Close()
		if rows, _, err := ReadDiagnostics(filepath.Join("testdata", "runs", name, "diagnostics.arrow")); err != nil || len(rows) != 3 {
			t.Errorf("%s diagnostics: %d rows, %v", name, len(rows), err)
		}
	}
}

// TestCycleBatchCopies: the data given for a cycle is copied, so that the
// caller may reuse its buffers for the next cycle (the rows of a cycle are
// written one cycle later).
func TestCycleBatchCopies(t *testing.T) {
	dir := RunDir{Root: t.TempDir()}
	b := dir.NewCycleBatch(Retention{})
	obs := testObservations()
	x := []float64{1, 2, 3}
	E := mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})
	want := []float64{obs.Values[0], x[0], E.At(0, 0), obs.Variances[0]}
	for k := 1; k <= 2; k++ {
		m := filetest.TestMeta("")
		m.Cycle = k
		if err := errors.Join(b.Truth(m, x), b.Observations(m, obs), b.Analysis(m, E), b.EndCycle()); err != nil {
			t.Fatal(err)
		}
		obs.Values[0], obs.Variances[0], x[0] = -7, 9, -7
		E.Set(0, 0, -7)
	}
	if _, err := b.Commit(nil, Meta{}); err != nil {
		t.Fatal(err)
	}
	rs := OpenRunState(dir)
	defer rs.Close()
	got, _, err := rs.Observations(1)
	if err != nil {
		t.Fatal(err)
	}
	truth, _, err := rs.Vector(FieldTruth, 1)
	if err != nil {
		t.Fatal(err)
	}
	A, _, err := rs.Ensemble(FieldAnalysis, 1)
	if err != nil {
		t.Fatal(err)
	}
	filetest.SameBits(t, "cycle 1 as given", []float64{got.Values[0], truth[0], A.At(0, 0), got.Variances[0]}, want)
}

// A batch that refuses non-finite ensembles: a NaN or ±Inf, wherever it sits
// (here also past the first block of values that the copy checks at a
// time), is an ErrNotFinite naming the cycle, the field, the member and
// the variable, and the cycle records nothing of that ensemble; a finite
// ensemble is recorded bit for bit.
func TestCycleBatchNotFinite(t *testing.T) {
	const n = checkBlock + 10
	for _, tc := range []struct {
		name  string
		i, j  int
		v     float64
		field Field
		want  string
	}{
		{"forecast NaN", 1, 5, math.NaN(), FieldForecast, "cycle 3 forecast, member 1, variable 5 is NaN"},
		{"forecast Inf in the second block", 2, checkBlock + 3, math.Inf(1), FieldForecast, "cycle 3 forecast, member 2, variable 4099 is +Inf"},
		{"analysis -Inf", 0, n - 1, math.Inf(-1), FieldAnalysis, "cycle 3 analysis, member 0, variable 4105 is -Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := RunDir{Root: t.TempDir()}.NewCycleBatch(Retention{})
			b.RefuseNonFinite()
			defer b.Abort()
			m := filetest.TestMeta("")
			m.Cycle = 3
			E := mat.NewDense(3, n, nil)
			for i := range 3 {
				for j := range n {
					E.Set(i, j, float64(i*n+j)/7)
				}
			}
			record, recorded := b.Forecast, func() *mat.Dense { return b.cur.forecast }
			if tc.field == FieldAnalysis {
				record, recorded = b.Analysis, func() *mat.Dense { return b.cur.analysis }
			}
			if err := record(m, E); err != nil || !mat.Equal(recorded(), E) {
				t.Fatalf("the finite ensemble: %v, or not recorded as given", err)
			}
			E.Set(tc.i, tc.j, tc.v)
			err := record(m, E)
			if !errors.Is(err, ErrNotFinite) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want an ErrNotFinite containing %q", err, tc.want)
			}
			if recorded() != nil {
				t.Error("the ensemble that is not finite was recorded")
			}
		})
	}
}

// FuzzRunState feeds arbitrary bytes to the batch file readers, as the
// states and the observations file of cycles 1..2: RunState must not
// panic or leak Arrow memory, and every error is classified (ErrInvalid,
// ErrNewerSchema, ErrNotKept, or a cycle the file does not hold).
func FuzzRunState(f *testing.F) {
	seed := RunDir{Root: f.TempDir()}
	cycles := testCycles(1, 2)
	writeBatch(f, seed, Retention{Forecast: Keep{MeanOnly: true}}, cycles, true)
	for _, prefix := range []string{"states", "observations"} {
		b, err := os.ReadFile(seed.Batch(prefix, 1, 2))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(prefix == "states", b)
		f.Add(prefix == "states", b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, states bool, data []byte) {
		dir := RunDir{Root: filetest.FastTempDir(t)}
		if err := os.MkdirAll(dir.Batches(), 0o777); err != nil {
			t.Fatal(err)
		}
		prefix := "observations"
		if states {
			prefix = "states"
		}
		if err := os.WriteFile(dir.Batch(prefix, 1, 2), data, 0o666); err != nil {
			t.Fatal(err)
		}
		rs := OpenRunState(dir, filetest.CheckedOpts(t)...)
		defer rs.Close()
		for k := 1; k <= 2; k++ {
			_, _, err1 := rs.Ensemble(FieldAnalysis, k)
			_, err2 := rs.Mean(FieldForecast, k)
			_, _, err3 := rs.Vector(FieldTruth, k)
			_, _, err4 := rs.Observations(k)
			for _, err := range []error{err1, err2, err3, err4} {
				if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNewerSchema) && !errors.Is(err, ErrNotKept) && !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("unclassified error: %v", err)
				}
			}
		}
	})
}

// TestRetriedBatchDiffers: a retry that computes the same cycles again
// commits (same bytes); one whose analysis differs in one value is
// ErrRetryDiffers, naming the file, and leaves the first attempt's files
// as they were.
func TestRetriedBatchDiffers(t *testing.T) {
	dir := RunDir{Root: t.TempDir()}
	cycles := testCycles(1, 3)
	writeBatch(t, dir, Retention{}, cycles, true)
	states := dir.Batch(batchStates, 1, 3)
	first, err := os.ReadFile(states)
	if err != nil {
		t.Fatal(err)
	}
	writeBatch(t, dir, Retention{}, testCycles(1, 3), true)
	changed := testCycles(1, 3)
	changed[1].analysis.Set(2, 3, 99) // was -Inf
	_, err = fillBatch(t, dir, Retention{}, changed).Commit(nil, Meta{})
	if !errors.Is(err, ErrRetryDiffers) || !strings.Contains(err.Error(), states) {
		t.Fatalf("retry with another analysis: %v, want ErrRetryDiffers naming %s", err, states)
	}
	if now, err := os.ReadFile(states); err != nil || !bytes.Equal(now, first) {
		t.Errorf("the first attempt's %s changed (%v)", states, err)
	}
	entries, _ := os.ReadDir(dir.Batches())
	for _, e := range entries {
		if arrowfile.IsTempName(e.Name()) {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

// TestRetryOverDamagedBatch: a retry whose first attempt's file was
// damaged since (one byte of its last record flipped) is that file's
// checksum error (ErrInvalid, naming it), not ErrRetryDiffers, which
// blames the model.
func TestRetryOverDamagedBatch(t *testing.T) {
	dir := RunDir{Root: t.TempDir()}
	writeBatch(t, dir, Retention{}, testCycles(1, 3), true)
	states := dir.Batch(batchStates, 1, 3)
	data, err := os.ReadFile(states)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(states, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = fillBatch(t, dir, Retention{}, testCycles(1, 3)).Commit(nil, Meta{})
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrRetryDiffers) || !strings.Contains(err.Error(), states) {
		t.Fatalf("retry over a damaged file: %v, want ErrInvalid naming %s", err, states)
	}
}

// TestRetryReplacesOlderVersion: a batch file at the retry's path that an
// older build wrote (its bytes carry its schema version) is replaced, not
// compared; one of this version that does not read as a state batch is
// damaged (ErrInvalid; one that reads and differs is ErrRetryDiffers,
// TestRetriedBatchDiffers).
func TestRetryReplacesOlderVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		differs bool
	}{{"5", false}, {strconv.Itoa(SchemaVersion), true}} {
		dir := RunDir{Root: t.TempDir()}
		if err := os.MkdirAll(dir.Batches(), 0o755); err != nil {
			t.Fatal(err)
		}
		states := dir.Batch(batchStates, 1, 3)
		filetest.Raw{MD: filetest.WithMD(filetest.BaseMD(KindStateBatch), arrowfile.KeySchemaVersion, tc.version),
			Fields: []arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, Cols: []func(memory.Allocator) arrow.Array{filetest.F64s([]float64{1}, nil)}, NRows: 1}.Write(t, states)
		_, err := fillBatch(t, dir, Retention{}, testCycles(1, 3)).Commit(nil, Meta{})
		if tc.differs != errors.Is(err, ErrInvalid) || !tc.differs && err != nil {
			t.Fatalf("a version %s file at %s: %v", tc.version, states, err)
		}
		if !tc.differs {
			if _, _, err := OpenRunState(dir).Ensemble(FieldAnalysis, 3); err != nil {
				t.Errorf("the replaced file: %v", err)
			}
		}
	}
}
