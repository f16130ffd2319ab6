package store

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/internal/vec"
	"github.com/latentda/latentda/store/internal/arrowfile"
)

// Field names the rows of a state batch file (its "field" column): a true
// state, an ensemble, or an estimate carried to the next cycle. The mean
// and spread of an ensemble whose members are not kept are the fields
// "<field>_mean" and "<field>_spread".
type Field string

// The fields of state batch files.
const (
	FieldTruth           Field = "truth"
	FieldForecast        Field = "forecast"
	FieldAnalysis        Field = "analysis"
	FieldLatentForecast  Field = "latent_forecast"
	FieldLatentAnalysis  Field = "latent_analysis"
	FieldVarianceScales  Field = "variance_scales"
	FieldInflation       Field = "inflation"        // the carried adaptive inflation (1)
	FieldManifoldChart   Field = "manifold_chart"   // the manifold chart's state (1 + p + 2d)
	FieldInnovationChart Field = "innovation_chart" // the innovation chart's state (p)
	FieldHybridWeight    Field = "hybrid_weight"    // the hybrid weight estimate's log-posterior (enkf.HybridWeightState)
	FieldEnKFN           Field = "enkf_n"           // the local EnKF-N's averaged inflation (one per batch; enkf.EnKFN.Memory)
)

const (
	suffixMean   = "_mean"
	suffixSpread = "_spread"
	// keyRetention holds the retention settings of a state batch file's
	// ensembles: "forecast: all; analysis: every 10".
	keyRetention = "latentda.retention"
)

// The batch files of a batch of cycles, by the prefix of their names
// (batches/<prefix>-<first>-<last>.arrow), and the fields each holds.
const (
	batchStates          = "states"          // truth, forecast, analysis (state size n)
	batchLatent          = "latent"          // latent codes (latent dimension d)
	batchEstimates       = "estimates"       // variance scales (m)
	batchInflation       = "inflation"       // adaptive inflation (1)
	batchChart           = "chart"           // manifold chart state (1 + p + 2d)
	batchInnovationChart = "innovationchart" // innovation chart state (p)
	batchHybridWeight    = "hybridweight"    // hybrid weight estimate's log-posterior
	batchEnKFN           = "enkfn"           // the local EnKF-N's averaged inflation
	batchObservations    = "observations"    // kind observation_batch
)

var batchFields = map[string][]Field{
	batchStates:          {FieldTruth, FieldForecast, FieldAnalysis},
	batchLatent:          {FieldLatentForecast, FieldLatentAnalysis},
	batchEstimates:       {FieldVarianceScales},
	batchInflation:       {FieldInflation},
	batchChart:           {FieldManifoldChart},
	batchInnovationChart: {FieldInnovationChart},
	batchHybridWeight:    {FieldHybridWeight},
	batchEnKFN:           {FieldEnKFN},
}

// estimateFields are the estimates carried between cycles, in stored order.
var estimateFields = [...]Field{FieldVarianceScales, FieldInflation, FieldManifoldChart, FieldInnovationChart, FieldHybridWeight, FieldEnKFN}

// IsVector reports whether f is one vector per cycle (FieldTruth, or an
// estimate; RunState.Vector reads it) rather than an ensemble or codes.
func (f Field) IsVector() bool {
	return f == FieldTruth || slices.Contains(estimateFields[:], f)
}

// batchOf is the batch file holding a field.
func batchOf(f Field) string {
	for prefix, fields := range batchFields {
		if slices.Contains(fields, f) {
			return prefix
		}
	}
	return ""
}

// CycleBatch writes the state of a batch of consecutive cycles into one
// Arrow IPC file per kind of state (RunDir.Batch), instead of a directory
// of files per cycle: the states file (truths, forecast and analysis
// ensembles), the observations file, and the latent codes' and the
// estimates' files of the runs that have them. Each cycle is one record
// batch of each file, appended as the cycle ends, so a batch holds at most
// one cycle in memory; Commit writes the files' footers, fsyncs each once
// and renames them onto their final names, which name the batch's first
// and last cycles. Until then nothing is visible: a crash mid-batch leaves
// the previous batches as they were, and temporary files that
// RemoveStaleTemps deletes. The same cycles give byte-identical files.
//
// The methods for one cycle may come in any order, then EndCycle ends the
// cycle; cycles must increase. A cycle that has not ended when the batch
// commits (a failed step) is not written. The data is copied; the caller
// may change it afterwards.
type CycleBatch struct {
	dir  RunDir
	keep Retention
	o    arrowfile.Options
	from int // the first cycle; -1 before one ends
	// cur is the cycle being stored, ended the last cycle ended: it is
	// written once the next cycle ends (not the last: the retention
	// policy applies to its analysis) or the batch commits (the last).
	cur, ended *cycleData
	files      map[string]*batchWriter
	err        error // the first error: the batch is lost
	finite     bool  // RefuseNonFinite
}

// cycleData is one cycle's state, held until the cycle ends.
type cycleData struct {
	meta               Meta
	truth              []float64
	est                [len(estimateFields)][]float64 // by estimateFields
	forecast, analysis *mat.Dense
	latentF, latentA   *mat.Dense
	obs                *Observations
}

// batchWriter is one batch file being written.
type batchWriter struct {
	af      *arrowfile.AtomicFile
	fw      *ipc.FileWriter
	schema  *arrow.Schema
	n       int // state size of a state batch
	pending pendingRows
}

// NewCycleBatch starts a batch of cycles of the run in d, keeping the
// ensembles that keep says.
func (d RunDir) NewCycleBatch(keep Retention, opts ...Option) *CycleBatch {
	return &CycleBatch{dir: d, keep: keep, o: arrowfile.BuildOptions(opts), from: -1, files: map[string]*batchWriter{}}
}

// Holds reports whether cycle k has ended in the batch.
func (b *CycleBatch) Holds(k int) bool {
	return b.from >= 0 && k >= b.from && b.ended != nil && k <= b.ended.meta.Cycle
}

// EndCycle ends the cycle being stored.
func (b *CycleBatch) EndCycle() error {
	if b.err != nil {
		return b.err
	}
	if b.cur == nil {
		b.err = errors.New("store: batch of cycles: EndCycle without a cycle")
		return b.err
	}
	if b.ended != nil {
		if err := b.flush(b.ended, false); err != nil {
			return err
		}
	} else {
		b.from = b.cur.meta.Cycle
	}
	b.ended, b.cur = b.cur, nil
	return nil
}

// at returns the data of the cycle of m, ending the cycle before it.
func (b *CycleBatch) at(m Meta) (*cycleData, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.cur != nil && b.cur.meta.Cycle == m.Cycle {
		return b.cur, nil
	}
	if b.cur != nil || b.ended != nil && m.Cycle <= b.ended.meta.Cycle {
		b.err = fmt.Errorf("store: batch of cycles: cycle %d before the previous cycle ended, or not after it", m.Cycle)
		return nil, b.err
	}
	m.Extra = nil
	b.cur = &cycleData{meta: m}
	return b.cur, nil
}

// Truth records the true state of cycle m.Cycle.
func (b *CycleBatch) Truth(m Meta, x []float64) error {
	c, err := b.at(m)
	if err == nil {
		c.truth = slices.Clone(x)
	}
	return err
}

// Forecast records the forecast ensemble of cycle m.Cycle.
func (b *CycleBatch) Forecast(m Meta, E *mat.Dense) error {
	c, err := b.at(m)
	if err == nil {
		c.forecast, err = b.copyEnsemble(E, FieldForecast, m.Cycle)
	}
	return err
}

// Analysis records the analysis ensemble of cycle m.Cycle.
func (b *CycleBatch) Analysis(m Meta, E *mat.Dense) error {
	c, err := b.at(m)
	if err == nil {
		c.analysis, err = b.copyEnsemble(E, FieldAnalysis, m.Cycle)
	}
	return err
}

// RefuseNonFinite makes Forecast and Analysis refuse an ensemble that
// holds a NaN or ±Inf (ErrNotFinite; nothing is recorded), checked in the
// copy they make anyway. A run's batches refuse them: runs store only
// finite states, and that copy is the one check of an external model's
// hosted forecast (dynamics.EnsembleHost). The file format itself holds
// any float64.
func (b *CycleBatch) RefuseNonFinite() { b.finite = true }

// ErrNotFinite: an ensemble to be recorded holds a NaN or ±Inf (a
// diverged forecast or analysis).
var ErrNotFinite = errors.New("store: a state is not finite")

// copyEnsemble copies E; if the batch refuses non-finite values, it checks
// each block of values as it is copied, while the block is in cache.
func (b *CycleBatch) copyEnsemble(E *mat.Dense, f Field, cycle int) (*mat.Dense, error) {
	if !b.finite {
		return mat.DenseCopyOf(E), nil
	}
	r, n := E.Dims()
	dst := mat.NewDense(r, n, nil)
	out := dst.RawMatrix().Data
	for i := range r {
		row := E.RawRowView(i)
		for lo := 0; lo < n; lo += checkBlock {
			block := out[i*n+lo : i*n+min(lo+checkBlock, n)]
			copy(block, row[lo:])
			if j := vec.FirstNonFinite(block); j >= 0 {
				j += lo
				return nil, fmt.Errorf("%w: cycle %d %s, member %d, variable %d is %v", ErrNotFinite, cycle, f, i, j, out[i*n+j])
			}
		}
	}
	return dst, nil
}

// checkBlock is how many values copyEnsemble copies before checking them.
const checkBlock = 4096

// Latent records the forecast and analysis latent codes of cycle m.Cycle.
func (b *CycleBatch) Latent(m Meta, forecast, analysis *mat.Dense) error {
	c, err := b.at(m)
	if err == nil {
		c.latentF, c.latentA = mat.DenseCopyOf(forecast), mat.DenseCopyOf(analysis)
	}
	return err
}

// Estimate records the estimate f (FieldVarianceScales, FieldInflation,
// FieldManifoldChart, FieldInnovationChart, FieldHybridWeight, FieldEnKFN)
// carried from cycle m.Cycle to the next.
func (b *CycleBatch) Estimate(m Meta, f Field, v []float64) error {
	i := slices.Index(estimateFields[:], f)
	c, err := b.at(m)
	if err == nil && i < 0 {
		err = fmt.Errorf("store: %s is not an estimate carried between cycles", f)
	} else if err == nil {
		c.est[i] = slices.Clone(v)
	}
	return err
}

// Observations records the observations of cycle m.Cycle.
func (b *CycleBatch) Observations(m Meta, obs Observations) error {
	c, err := b.at(m)
	if err != nil {
		return err
	}
	if err := obs.Validate(); err != nil {
		b.err = arrowfile.WriteErr(b.dir.Batches(), fmt.Errorf("cycle %d: %w", m.Cycle, err))
		return b.err
	}
	c.obs = &Observations{
		Values: slices.Clone(obs.Values), Variances: slices.Clone(obs.Variances), Positions: slices.Clone(obs.Positions),
		Flagged: slices.Clone(obs.Flagged), Reasons: slices.Clone(obs.Reasons),
		InnovationZ: slices.Clone(obs.InnovationZ), ProjectionZ: slices.Clone(obs.ProjectionZ),
	}
	return nil
}

// ErrRetryDiffers: a batch of cycles computed again (a retried activity)
// differs from the files its first attempt committed, so the model or the
// set-up is not deterministic; the committed files are kept.
var ErrRetryDiffers = errors.New("store: a retried batch differs from its first attempt (is the model deterministic?)")

// Commit writes the batch's files, the last cycle ended keeping its
// analysis ensemble whatever the retention policy, and then the run's
// diagnostics table with rows (WriteDiagnostics with meta), the commit
// record of the cycles; it returns the paths written. The files are
// fsynced together, in parallel (the file system can commit them in one
// journal transaction), then the batch files are renamed and their
// directory fsynced, then the diagnostics. A batch without an ended cycle
// writes only the diagnostics. Files of an earlier run of cycles within
// the batch's (a retried batch that had ended early) are removed. After
// Commit, or an error, the batch is done.
func (b *CycleBatch) Commit(rows []DiagRow, meta Meta) ([]string, error) {
	defer b.Abort()
	if b.err != nil {
		return nil, b.err
	}
	var diag []arrowfile.StagedFile
	defer func() {
		for _, s := range diag {
			s.File.Abort()
		}
	}()
	if err := WriteDiagnostics(b.dir.Diagnostics(), rows, meta, withStage(&diag), WithAllocator(b.o.Mem)); err != nil {
		return nil, err
	}
	var files []arrowfile.StagedFile
	var names []batchName // files' names, to read a committed one back
	if b.ended != nil {
		last := b.ended.meta.Cycle
		if err := b.flush(b.ended, true); err != nil {
			return nil, err
		}
		for _, p := range slices.Sorted(maps.Keys(b.files)) {
			w := b.files[p]
			if err := b.writePending(w); err != nil {
				return nil, err
			}
			if err := w.fw.Close(); err != nil {
				return nil, arrowfile.WriteErr(w.af.Tmp, err)
			}
			n := batchName{prefix: p, from: b.from, to: last, path: b.dir.Batch(p, b.from, last)}
			files, names = append(files, arrowfile.StagedFile{File: w.af, Path: n.path}), append(names, n)
		}
	}
	if err := syncAll(append(slices.Clone(files), diag...)); err != nil {
		return nil, arrowfile.WriteErr(b.dir.Root, err)
	}
	var paths []string
	for i, f := range files {
		if same, err := arrowfile.SameContents(f.File.Tmp, f.Path); err != nil {
			return nil, arrowfile.WriteErr(f.Path, err)
		} else if !same && !olderVersion(f.Path) {
			if err := b.verifyBatchFile(names[i]); err != nil {
				return nil, fmt.Errorf("a retried batch cannot be compared with its first attempt, whose file is damaged: %w", err)
			}
			return nil, fmt.Errorf("%w: %s", ErrRetryDiffers, f.Path)
		}
		if err := f.File.Rename(f.Path); err != nil {
			return nil, arrowfile.WriteErr(f.Path, err)
		}
		paths = append(paths, f.Path)
	}
	if len(files) > 0 {
		if err := arrowfile.SyncDir(b.dir.Batches()); err != nil {
			return nil, arrowfile.WriteErr(b.dir.Batches(), err)
		}
		if err := b.removeSuperseded(paths, b.ended.meta.Cycle); err != nil {
			return nil, arrowfile.WriteErr(b.dir.Batches(), err)
		}
	}
	d := diag[0]
	if err := d.File.Rename(d.Path); err != nil {
		return nil, arrowfile.WriteErr(d.Path, err)
	}
	if err := arrowfile.SyncDir(d.File.Dir); err != nil {
		return nil, arrowfile.WriteErr(d.Path, err)
	}
	return append(paths, d.Path), nil
}

// verifyBatchFile reads the committed batch file n (of the batch's run)
// as the run's readers do, checksums included: a file that differs from
// its retry because it is damaged is that error (ErrInvalid), not
// ErrRetryDiffers.
func (b *CycleBatch) verifyBatchFile(n batchName) error {
	r := OpenRunState(b.dir)
	defer r.Close()
	_, err := r.load(n)
	return err
}

// olderVersion reports whether the file at path was written with an older
// schema version than this build writes: a batch file that an older build
// renamed into place before it stopped, which the diagnostics do not
// commit yet. Its bytes carry its version, so a retry replaces it instead
// of comparing. An unreadable file is not older.
func olderVersion(path string) bool {
	v, err := arrowfile.SchemaVersionOf(path)
	return err == nil && v < SchemaVersion
}

// syncAll flushes, fsyncs and closes the files, in parallel.
func syncAll(files []arrowfile.StagedFile) error {
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { errs[i] = f.File.Sync() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func withStage(staged *[]arrowfile.StagedFile) Option {
	return func(o *arrowfile.Options) { o.Stage = staged }
}

// Abort drops the batch: its temporary files are removed.
func (b *CycleBatch) Abort() {
	for _, w := range b.files {
		w.af.Abort()
	}
	b.files = map[string]*batchWriter{}
	b.cur, b.ended = nil, nil
	if b.err == nil {
		b.err = errors.New("store: batch of cycles already committed or aborted")
	}
}

// removeSuperseded removes the batch files of cycles within b.from..last
// other than those just written.
func (b *CycleBatch) removeSuperseded(written []string, last int) error {
	names, err := listBatches(b.dir)
	if err != nil {
		return err
	}
	removed := false
	for _, n := range names {
		if n.from >= b.from && n.to <= last && !slices.Contains(written, n.path) {
			if err := os.Remove(n.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			removed = true
		}
	}
	if removed {
		return arrowfile.SyncDir(b.dir.Batches())
	}
	return nil
}

// flush appends cycle c to the batch files.
func (b *CycleBatch) flush(c *cycleData, last bool) error {
	k := c.meta.Cycle
	type rows struct {
		prefix string
		fields []Field
		data   []*mat.Dense
	}
	var vec = func(x []float64) *mat.Dense { return mat.NewDense(1, len(x), x) }
	var all []rows
	if c.truth != nil || c.forecast != nil || c.analysis != nil {
		r := rows{prefix: batchStates}
		if c.truth != nil {
			r.fields, r.data = append(r.fields, FieldTruth), append(r.data, vec(c.truth))
		}
		if c.forecast != nil {
			r.fields, r.data = append(r.fields, FieldForecast), append(r.data, c.forecast)
		}
		if c.analysis != nil {
			r.fields, r.data = append(r.fields, FieldAnalysis), append(r.data, c.analysis)
		}
		all = append(all, r)
	}
	if c.latentF != nil {
		all = append(all, rows{batchLatent, []Field{FieldLatentForecast, FieldLatentAnalysis}, []*mat.Dense{c.latentF, c.latentA}})
	}
	for i, f := range estimateFields {
		if v := c.est[i]; v != nil {
			all = append(all, rows{batchOf(f), []Field{f}, []*mat.Dense{vec(v)}})
		}
	}
	for _, r := range all {
		var set stateRows
		for i, f := range r.fields {
			keep, ensemble := b.keep.of(f)
			set.add(f, r.data[i], !ensemble || keep.keeps(k) || last && f == FieldAnalysis)
		}
		if err := b.appendStates(r.prefix, c.meta, set); err != nil {
			b.err = err
			return err
		}
	}
	if c.obs != nil {
		if err := b.appendObservations(c.meta, *c.obs); err != nil {
			b.err = err
			return err
		}
	}
	return nil
}

// stateRows are the rows of one cycle in a state batch file.
type stateRows struct {
	fields  []string
	members []int32
	values  [][]float64
}

// add adds the members of E as field f, or with members false its mean
// and spread.
func (s *stateRows) add(f Field, E *mat.Dense, members bool) {
	N, n := E.Dims()
	if members {
		for i := range N {
			s.fields, s.members, s.values = append(s.fields, string(f)), append(s.members, int32(i)), append(s.values, E.RawRowView(i))
		}
		return
	}
	mean := EnsembleMean(E)
	spread := make([]float64, n)
	if N > 1 {
		for i := range N {
			for j, v := range E.RawRowView(i) {
				d := v - mean[j]
				spread[j] += d * d
			}
		}
		for j := range spread {
			spread[j] = math.Sqrt(spread[j] / float64(N-1))
		}
	}
	s.fields = append(s.fields, string(f)+suffixMean, string(f)+suffixSpread)
	s.members = append(s.members, 0, 0)
	s.values = append(s.values, mean, spread)
}

// EnsembleMean returns the mean of the members (rows) of E, x̄ = Σᵢ Eᵢ / N,
// summed in member order: the mean a state batch file stores for an
// ensemble whose members it does not keep.
func EnsembleMean(E *mat.Dense) []float64 {
	N, n := E.Dims()
	mean := make([]float64, n)
	for i := range N {
		for j, v := range E.RawRowView(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(N)
	}
	return mean
}

// stateBatchColumns are the columns of a state batch file.
func stateBatchColumns(n int) []arrowfile.Column {
	return []arrowfile.Column{
		{Name: "cycle", Type: arrow.PrimitiveTypes.Int32},
		{Name: "time", Type: arrow.PrimitiveTypes.Float64},
		{Name: "field", Type: arrow.BinaryTypes.String},
		{Name: "member", Type: arrow.PrimitiveTypes.Int32},
		{Name: "state", Type: arrowfile.StateType(n)},
	}
}

// obsBatchColumns are the columns of an observation batch file.
var obsBatchColumns = append([]arrowfile.Column{{Name: "cycle", Type: arrow.PrimitiveTypes.Int32}, {Name: "time", Type: arrow.PrimitiveTypes.Float64}}, obsColumns...)

// recordBytes is the size of state a record batch of a batch file holds
// before it is written: the cycles of a small model share record batches
// (each costs a message header, and arrow-go's encoding of it), while
// each cycle of a large model, whose state alone is larger, is a record
// batch of its own, so that a batch holds at most about one cycle in
// memory. A cycle is never split across record batches.
const recordBytes = 1 << 20

// pendingRows are the rows of a batch file not yet written.
type pendingRows struct {
	cycles  []int32
	times   []float64
	fields  []string  // state batch files
	members []int32   // state batch files
	values  []float64 // state batch files: the states, row after row
	obs     Observations
	index   []int32 // observation batch files: the position in the cycle's y
	bytes   int
}

// appendStates appends one cycle's rows to the state batch file prefix.
func (b *CycleBatch) appendStates(prefix string, m Meta, set stateRows) error {
	n := len(set.values[0])
	w, err := b.writer(prefix, func() ([]arrowfile.Column, Kind, map[string]string) {
		return stateBatchColumns(n), KindStateBatch, map[string]string{
			arrowfile.KeyStateSize: strconv.Itoa(n),
			keyRetention:           formatRetention(batchFields[prefix], b.keep),
		}
	}, m)
	if err != nil {
		return err
	}
	p := &w.pending
	for i, v := range set.values {
		if len(v) != w.n {
			return arrowfile.WriteErr(b.dir.Batches(), fmt.Errorf("cycle %d: %s has length %d, but the batch's %s have %d", m.Cycle, set.fields[i], len(v), prefix, w.n))
		}
		p.cycles, p.times = append(p.cycles, int32(m.Cycle)), append(p.times, m.Time)
		p.values = append(p.values, v...)
	}
	p.fields, p.members = append(p.fields, set.fields...), append(p.members, set.members...)
	p.bytes += len(set.values) * w.n * arrow.Float64SizeBytes
	return b.writeFull(w)
}

// appendObservations appends one cycle's observations to the observation
// batch file.
func (b *CycleBatch) appendObservations(m Meta, obs Observations) error {
	w, err := b.writer(batchObservations, func() ([]arrowfile.Column, Kind, map[string]string) {
		return obsBatchColumns, KindObservationBatch, nil
	}, m)
	if err != nil {
		return err
	}
	p := &w.pending
	rows := obs.Len()
	flagged, reasons := obs.Flagged, obs.Reasons
	if flagged == nil {
		flagged = make([]bool, rows)
	}
	if reasons == nil {
		reasons = make([]string, rows)
	}
	for i := range rows {
		p.cycles, p.times, p.index = append(p.cycles, int32(m.Cycle)), append(p.times, m.Time), append(p.index, int32(i))
		p.obs.InnovationZ = append(p.obs.InnovationZ, scoreAt(obs.InnovationZ)(i))
		p.obs.ProjectionZ = append(p.obs.ProjectionZ, scoreAt(obs.ProjectionZ)(i))
	}
	p.obs.Values = append(p.obs.Values, obs.Values...)
	p.obs.Variances = append(p.obs.Variances, obs.Variances...)
	p.obs.Positions = append(p.obs.Positions, obs.Positions...)
	p.obs.Flagged = append(p.obs.Flagged, flagged...)
	p.obs.Reasons = append(p.obs.Reasons, reasons...)
	p.bytes += rows * 64
	return b.writeFull(w)
}

// writeFull writes the pending rows of w once they reach recordBytes.
func (b *CycleBatch) writeFull(w *batchWriter) error {
	if w.pending.bytes < recordBytes {
		return nil
	}
	return b.writePending(w)
}

// writePending writes the pending rows of w as a record batch.
func (b *CycleBatch) writePending(w *batchWriter) error {
	p := &w.pending
	rows := len(p.cycles)
	if rows == 0 {
		return nil
	}
	mem := b.o.Mem
	cols := []arrow.Array{
		arrowfile.Int32Column(mem, rows, func(i int) int32 { return p.cycles[i] }),
		arrowfile.Float64Column(mem, rows, func(i int) float64 { return p.times[i] }),
	}
	if p.index != nil {
		cols = append(cols, obsArrays(mem, p.obs, p.index)...)
	} else {
		values := arrowfile.NewBuffer(mem, len(p.values)*arrow.Float64SizeBytes)
		copy(arrow.Float64Traits.CastFromBytes(values.Bytes()), p.values)
		cols = append(cols, arrowfile.StringColumn(mem, p.fields),
			arrowfile.Int32Column(mem, rows, func(i int) int32 { return p.members[i] }),
			arrowfile.StateColumn(rows, w.n, values))
	}
	defer arrowfile.ReleaseAll(cols)
	rec, err := arrowfile.NewRecord(w.schema, cols, rows)
	if err != nil {
		return arrowfile.WriteErr(w.af.Tmp, err)
	}
	defer rec.Release()
	if err := w.fw.Write(rec); err != nil {
		return arrowfile.WriteErr(w.af.Tmp, err)
	}
	*p = pendingRows{
		cycles: p.cycles[:0], times: p.times[:0], fields: p.fields[:0], members: p.members[:0], values: p.values[:0],
		obs: Observations{Values: p.obs.Values[:0], Variances: p.obs.Variances[:0], Positions: p.obs.Positions[:0],
			Flagged: p.obs.Flagged[:0], Reasons: p.obs.Reasons[:0], InnovationZ: p.obs.InnovationZ[:0], ProjectionZ: p.obs.ProjectionZ[:0]},
	}
	if p.index != nil {
		p.index = p.index[:0]
	}
	return nil
}

// writer returns the writer of the batch file prefix, creating it (and
// the batches directory) with the schema that spec gives and the metadata
// m of the batch's first cycle.
func (b *CycleBatch) writer(prefix string, spec func() ([]arrowfile.Column, Kind, map[string]string), m Meta) (*batchWriter, error) {
	if w, ok := b.files[prefix]; ok {
		return w, nil
	}
	cols, kind, data := spec()
	md, err := arrowfile.EncodeMeta(m, kind, data)
	if err != nil {
		return nil, arrowfile.WriteErr(b.dir.Batches(), err)
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type}
	}
	schema := arrow.NewSchema(fields, &md)
	if err := b.dir.mkdirBatches(); err != nil {
		return nil, arrowfile.WriteErr(b.dir.Batches(), err)
	}
	af, err := arrowfile.CreateAtomic(b.dir.Batch(prefix, b.from, b.from))
	if err != nil {
		return nil, arrowfile.WriteErr(b.dir.Batches(), err)
	}
	fw, err := ipc.NewFileWriter(af, ipc.WithSchema(schema), ipc.WithAllocator(b.o.Mem))
	if err != nil {
		af.Abort()
		return nil, arrowfile.WriteErr(af.Tmp, err)
	}
	w := &batchWriter{af: af, fw: fw, schema: schema}
	if data != nil {
		w.n, _ = strconv.Atoi(data[arrowfile.KeyStateSize])
	} else {
		w.pending.index = []int32{}
	}
	b.files[prefix] = w
	return w, nil
}

// Batches is the directory of the run's batch files.
func (d RunDir) Batches() string { return filepath.Join(d.Root, "batches") }

// Batch is the batch file prefix ("states", "observations", "latent",
// "estimates") of cycles first..last: batches/states-000001-000050.arrow.
func (d RunDir) Batch(prefix string, first, last int) string {
	return filepath.Join(d.Batches(), fmt.Sprintf("%s-%06d-%06d.arrow", prefix, first, last))
}

// mkdirBatches creates the batches directory durably if it does not exist.
func (d RunDir) mkdirBatches() error {
	if _, err := os.Stat(d.Batches()); err == nil {
		return nil
	}
	if err := os.MkdirAll(d.Batches(), 0o777); err != nil {
		return err
	}
	root := d.Root
	if root == "" {
		root = "."
	}
	return arrowfile.SyncDir(root)
}
