package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"gonum.org/v1/gonum/mat"
)

// RunState reads the state of a run's cycles: from the batch file that
// holds the cycle (schema version 4, CycleBatch), else from the cycle's
// directory (runs of schema versions 1–3, and the cycles written one at a
// time: cycle 0, a warm start's first cycle, live runs' cycles, cycles
// whose forecast fans out or whose analysis runs in blocks). It keeps the
// last batch file of each kind open, so reading cycles in order reads each
// file once. Close it when done; it is not safe for concurrent use.
type RunState struct {
	dir    RunDir
	o      arrowfile.Options
	names  []batchName
	listed bool
	open   map[string]*openBatch
}

// batchName is a batch file found in a run's batches directory.
type batchName struct {
	prefix   string
	from, to int
	path     string
}

// openBatch is a batch file read into memory (mapped where possible).
type openBatch struct {
	name    batchName
	t       *arrowfile.Table
	release func()
	byCycle map[int]arrow.RecordBatch
}

// OpenRunState returns a reader of the state of the run in d.
func OpenRunState(d RunDir, opts ...Option) *RunState {
	return &RunState{dir: d, o: arrowfile.BuildOptions(opts), open: map[string]*openBatch{}}
}

// Close releases the open batch files.
func (r *RunState) Close() {
	for _, b := range r.open {
		b.close()
	}
	r.open = map[string]*openBatch{}
}

func (b *openBatch) close() {
	for _, r := range b.byCycle {
		r.Release()
	}
	b.t.Release()
	b.release()
}

// Ensemble reads the ensemble f (FieldForecast, FieldAnalysis,
// FieldLatentForecast, FieldLatentAnalysis) of cycle k, one member per
// row. An ensemble the run's retention policy did not keep gives a
// *NotKeptError (errors.Is ErrNotKept); a cycle without it, an error
// matching fs.ErrNotExist.
func (r *RunState) Ensemble(f Field, k int) (*mat.Dense, Meta, error) {
	b, rec, err := r.cycle(batchOf(f), k)
	if err != nil {
		return nil, Meta{}, err
	}
	if b == nil {
		return ReadEnsemble(r.dir.CycleFile(f, k), WithAllocator(r.o.Mem))
	}
	E, err := b.rows(rec, f, true)
	if errors.Is(err, errMeanOnly) {
		return nil, Meta{}, r.notKept(b, f, k)
	}
	if err != nil {
		return nil, Meta{}, arrowfile.ReadErr(b.name.path, fmt.Errorf("cycle %d: %w", k, err))
	}
	return E, b.meta(rec), nil
}

// Vector reads the vector f (FieldTruth, or an estimate) of cycle k.
func (r *RunState) Vector(f Field, k int) ([]float64, Meta, error) {
	b, rec, err := r.cycle(batchOf(f), k)
	if err != nil {
		return nil, Meta{}, err
	}
	if b == nil {
		return ReadVector(r.dir.CycleFile(f, k), WithAllocator(r.o.Mem))
	}
	X, err := b.rows(rec, f, false)
	if err != nil {
		return nil, Meta{}, arrowfile.ReadErr(b.name.path, fmt.Errorf("cycle %d: %w", k, err))
	}
	return X.RawRowView(0), b.meta(rec), nil
}

// Where returns the path of the file that holds f of cycle k: its batch
// file, or its file in the cycle's directory (which may not exist).
func (r *RunState) Where(f Field, k int) (string, error) {
	b, _, err := r.cycle(batchOf(f), k)
	if err != nil {
		return "", err
	}
	if b == nil {
		return r.dir.CycleFile(f, k), nil
	}
	return b.name.path, nil
}

// Mean reads the mean of the ensemble f of cycle k: the mean of its
// members (EnsembleMean) where they are kept, else the stored mean.
func (r *RunState) Mean(f Field, k int) ([]float64, error) {
	E, _, err := r.Ensemble(f, k)
	if err == nil {
		return EnsembleMean(E), nil
	}
	var nk *NotKeptError
	if !errors.As(err, &nk) {
		return nil, err
	}
	b, rec, err := r.cycle(batchOf(f), k)
	if err != nil {
		return nil, err
	}
	M, err := b.rows(rec, f+suffixMean, false)
	if err != nil {
		return nil, arrowfile.ReadErr(b.name.path, fmt.Errorf("cycle %d: %w", k, err))
	}
	return M.RawRowView(0), nil
}

// Observations reads the observations of cycle k; a cycle of an
// observation batch file without a record batch has none.
func (r *RunState) Observations(k int) (Observations, Meta, error) {
	b, rec, err := r.cycle(batchObservations, k)
	if err != nil {
		return Observations{}, Meta{}, err
	}
	if b == nil {
		return ReadObservations(r.dir.Observations(k), WithAllocator(r.o.Mem))
	}
	t := &arrowfile.Table{Meta: b.t.Meta, Data: b.t.Data, Idx: b.t.Idx}
	var m Meta
	if rec != nil {
		t.Recs = []arrow.RecordBatch{rec}
		m = b.meta(rec)
	} else {
		// No observations: the cycle's time is in the states file.
		sb, srec, err := r.cycle(batchStates, k)
		if err != nil || sb == nil {
			return Observations{}, Meta{}, arrowfile.ReadErr(b.name.path, fmt.Errorf("cycle %d has no observations and no states: %w", k, errors.Join(err, fs.ErrNotExist)))
		}
		m = sb.meta(srec)
	}
	obs, err := readObservations(t)
	if err != nil {
		return Observations{}, Meta{}, arrowfile.ReadErr(b.name.path, fmt.Errorf("cycle %d: %w", k, err))
	}
	return obs, m, nil
}

// cycle finds the batch file prefix holding cycle k and its record batch;
// b is nil when no batch file holds the cycle.
func (r *RunState) cycle(prefix string, k int) (b *openBatch, rec arrow.RecordBatch, err error) {
	if !r.listed {
		if r.names, err = listBatches(r.dir); err != nil {
			return nil, nil, arrowfile.ReadErr(r.dir.Batches(), err)
		}
		r.listed = true
	}
	var best *batchName
	for i, n := range r.names {
		if n.prefix != prefix || k < n.from || k > n.to {
			continue
		}
		if best == nil || n.from > best.from || n.from == best.from && n.to > best.to {
			best = &r.names[i]
		}
	}
	if best == nil {
		return nil, nil, nil
	}
	if b, err = r.load(*best); err != nil {
		return nil, nil, err
	}
	rec, ok := b.byCycle[k]
	if !ok && prefix != batchObservations {
		return nil, nil, arrowfile.ReadErr(b.name.path, fmt.Errorf("%w: no record batch of cycle %d", ErrInvalid, k))
	}
	return b, rec, nil
}

// load opens a batch file, replacing the open file of its prefix.
func (r *RunState) load(n batchName) (*openBatch, error) {
	if b, ok := r.open[n.prefix]; ok {
		if b.name == n {
			return b, nil
		}
		b.close()
		delete(r.open, n.prefix)
	}
	spec := arrowfile.FileSpec{Kinds: []Kind{KindStateBatch}, DataKeys: []string{arrowfile.KeyStateSize, keyRetention},
		Columns: func(_ int, data map[string]string) ([]arrowfile.Column, error) {
			n, err := arrowfile.ParseSize(data, arrowfile.KeyStateSize)
			return stateBatchColumns(n), err
		}}
	if n.prefix == batchObservations {
		spec = arrowfile.FileSpec{Kinds: []Kind{KindObservationBatch},
			Columns: func(int, map[string]string) ([]arrowfile.Column, error) { return obsBatchColumns, nil }}
	}
	f, size, err := arrowfile.OpenRegular(n.path)
	if err != nil {
		return nil, arrowfile.ReadErr(n.path, err)
	}
	defer f.Close()
	release := func() {}
	var src ipc.ReadAtSeeker = f
	if data, unmap, err := arrowfile.MapFile(f, size); err == nil {
		src, release = arrowfile.NewMemFile(data), unmap
	}
	t, _, err := arrowfile.ReadGuarded(src, size, r.o, func(src ipc.ReadAtSeeker, size int64, o arrowfile.Options) (*arrowfile.Table, Meta, error) {
		t, err := arrowfile.ReadTable(src, size, o, spec)
		if err != nil {
			return nil, Meta{}, err
		}
		return t, t.Meta, nil
	})
	if err != nil {
		release()
		return nil, arrowfile.ReadErr(n.path, err)
	}
	b := &openBatch{name: n, t: t, release: release}
	if b.byCycle, err = indexCycles(t, n); err != nil {
		t.Release()
		release()
		return nil, arrowfile.ReadErr(n.path, err)
	}
	r.open[n.prefix] = b
	return b, nil
}

// indexCycles maps the cycles of t to their rows, as slices of its record
// batches (release them with the table), checking that the cycles
// increase within the file name's range, that no cycle is split across
// record batches, and, in a state batch file, that every cycle of the
// range has its rows.
func indexCycles(t *arrowfile.Table, n batchName) (map[int]arrow.RecordBatch, error) {
	byCycle := map[int]arrow.RecordBatch{}
	release := func() {
		for _, r := range byCycle {
			r.Release()
		}
	}
	prev := -1
	for i, rec := range t.Recs {
		cycle, err := arrowfile.ColumnAs[*array.Int32](t, rec, "cycle")
		if err != nil {
			release()
			return nil, err
		}
		for lo := 0; lo < cycle.Len(); {
			c := int(cycle.Value(lo))
			if c <= prev || c < n.from || c > n.to {
				release()
				return nil, arrowfile.Invalidf("record batch %d, row %d: cycle %d after cycle %d in a file of cycles %d..%d (cycles increase, each in one record batch)", i, lo, c, prev, n.from, n.to)
			}
			hi := lo + 1
			for hi < cycle.Len() && int(cycle.Value(hi)) == c {
				hi++
			}
			byCycle[c], prev = rec.NewSlice(int64(lo), int64(hi)), c
			lo = hi
		}
	}
	if n.prefix != batchObservations && len(byCycle) != n.to-n.from+1 {
		release()
		return nil, arrowfile.Invalidf("%d cycles in a file of cycles %d..%d", len(byCycle), n.from, n.to)
	}
	return byCycle, nil
}

// errMeanOnly says that a state batch holds the mean and spread of an
// ensemble rather than its members.
var errMeanOnly = errors.New("members not kept")

// rows returns the rows of field f in rec, one per row of the matrix:
// members 0..N−1 in order if ensemble, else exactly one row.
func (b *openBatch) rows(rec arrow.RecordBatch, f Field, ensemble bool) (*mat.Dense, error) {
	t := b.t
	field, err := arrowfile.ColumnAs[*array.String](t, rec, "field")
	if err != nil {
		return nil, err
	}
	member, err := arrowfile.ColumnAs[*array.Int32](t, rec, "member")
	if err != nil {
		return nil, err
	}
	var idx []int
	meanOnly := false
	for i := range field.Len() {
		switch field.Value(i) {
		case string(f):
			if want := len(idx); !ensemble && want > 0 || ensemble && int(member.Value(i)) != want || !ensemble && member.Value(i) != 0 {
				return nil, arrowfile.Invalidf("row %d: %s member %d out of order", i, f, member.Value(i))
			}
			idx = append(idx, i)
		case string(f) + suffixMean:
			meanOnly = true
		}
	}
	if len(idx) == 0 {
		if meanOnly {
			return nil, errMeanOnly
		}
		return nil, fmt.Errorf("no %s: %w", f, fs.ErrNotExist)
	}
	n, err := arrowfile.ParseSize(t.Data, arrowfile.KeyStateSize)
	if err != nil {
		return nil, err
	}
	state, err := arrowfile.ColumnAs[*array.FixedSizeList](t, rec, "state")
	if err != nil {
		return nil, err
	}
	vals, ok := state.ListValues().(*array.Float64)
	if !ok {
		return nil, arrowfile.Invalidf("column \"state\": unexpected values type %T", state.ListValues())
	}
	raw := vals.Float64Values()
	X := mat.NewDense(len(idx), n, nil)
	for r, i := range idx {
		start, end := state.ValueOffsets(i)
		if start < 0 || end-start != int64(n) || end > int64(len(raw)) {
			return nil, arrowfile.Invalidf("column \"state\": row %d: values [%d, %d) out of range", i, start, end)
		}
		copy(X.RawRowView(r), raw[start:end])
	}
	return X, nil
}

// meta is the file's metadata for the cycle of rec.
func (b *openBatch) meta(rec arrow.RecordBatch) Meta {
	m := b.t.Meta
	if c, ok := rec.Column(b.t.Idx["cycle"]).(*array.Int32); ok && c.Len() > 0 {
		m.Cycle = int(c.Value(0))
	}
	if tm, ok := rec.Column(b.t.Idx["time"]).(*array.Float64); ok && tm.Len() > 0 {
		m.Time = tm.Value(0)
	}
	return m
}

// notKept is the error for the ensemble f of cycle k, which b holds the
// mean and spread of, with the nearest cycles whose members are kept.
func (r *RunState) notKept(b *openBatch, f Field, k int) error {
	e := &NotKeptError{Cycle: k, Field: f, Setting: retentionSetting(b.t.Data[keyRetention], f), Before: -1, After: -1}
	note := func(c int) {
		if c < k && c > e.Before {
			e.Before = c
		}
		if c > k && (e.After < 0 || c < e.After) {
			e.After = c
		}
	}
	prefix := batchOf(f)
	for _, n := range r.names {
		if n.prefix != prefix {
			continue
		}
		ob, err := r.load(n)
		if err != nil {
			continue
		}
		for c, rec := range ob.byCycle {
			if _, err := ob.rows(rec, f, true); err == nil {
				note(c)
			}
		}
	}
	if entries, err := os.ReadDir(r.dir.cyclesDir()); err == nil {
		for _, de := range entries {
			c, err := strconv.Atoi(de.Name())
			if err != nil {
				continue
			}
			if ok, _ := Exists(r.dir.CycleFile(f, c)); ok {
				note(c)
			}
		}
	}
	return e
}

// listBatches lists the batch files of d (none if it has no batches
// directory), ignoring temporary files and names of other forms.
func listBatches(d RunDir) ([]batchName, error) {
	entries, err := os.ReadDir(d.Batches())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []batchName
	for _, de := range entries {
		base, ok := strings.CutSuffix(de.Name(), ".arrow")
		parts := strings.Split(base, "-")
		if !ok || len(parts) != 3 || !de.Type().IsRegular() {
			continue
		}
		if _, known := batchFields[parts[0]]; !known && parts[0] != batchObservations {
			continue
		}
		from, err1 := strconv.Atoi(parts[1])
		to, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || from < 0 || to < from {
			continue
		}
		names = append(names, batchName{prefix: parts[0], from: from, to: to, path: filepath.Join(d.Batches(), de.Name())})
	}
	slices.SortFunc(names, func(a, b batchName) int { return strings.Compare(a.path, b.path) })
	return names, nil
}
