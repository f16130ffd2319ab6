package store

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/latentda/latentda/store/internal/arrowfile"
)

// DiagRow holds one cycle's diagnostics, one row of the diagnostics table.
// The statistics may be NaN where they are not available (RMSE without a
// truth, innovation statistics without observations).
type DiagRow struct {
	Cycle   int     // column "cycle" (int32): in [0, math.MaxInt32], increasing down the table
	Time    float64 // column "time": model time, finite
	RMSEF   float64 // column "rmse_f": RMSE of the forecast mean against the truth
	RMSEA   float64 // column "rmse_a": RMSE of the analysis mean against the truth
	SpreadF float64 // column "spread_f": forecast ensemble spread
	SpreadA float64 // column "spread_a": analysis ensemble spread
	// Innovation is the normalised innovation squared (NIS),
	// d' (HPH' + R)^-1 d with d = y - H x_f (column "innovation").
	Innovation float64
	// InnovationExpected is its expected value for a consistent filter,
	// the number of observations used (column "innovation_expected").
	InnovationExpected float64
	NObs               int // column "n_obs" (int32): observations in the cycle
	NFlagged           int // column "n_flagged" (int32): of those, flagged by quality control; <= NObs
	// Quality control (schema version 2; NaN where not computed, and in
	// files of version 1): the innovation test's NIS over all observations
	// and its threshold (columns "qc_nis", "qc_nis_threshold"), the
	// manifold test's J* and threshold ("projection",
	// "projection_threshold"), and the batch tests that failed, "+"-joined
	// ("batch_flag", utf8, empty if none).
	QCNIS, QCNISThreshold           float64
	Projection, ProjectionThreshold float64
	BatchFlag                       string
	// The filter's hyperparameters (schema version 3; NaN where there are
	// none, and in files of versions 1 and 2): the inflation the analysis
	// used, fixed or adaptive (column "inflation"), and, with an online
	// estimate of the observation-error variances, their mean over the
	// observations used ("obs_variance") and the mean factor on the given
	// variances ("variance_scale"), both after the cycle's update.
	Inflation, ObsVariance, VarianceScale float64
	// The weight α of the ensemble's covariance in a hybrid analysis,
	// fixed or estimated (column "hybrid_weight", schema version 5; NaN
	// without a hybrid covariance, and in files of versions 1 to 4).
	HybridWeight float64
	// The manifold test and the innovation chart (schema version 6; NaN
	// where not run, and in files of versions 1 to 5): the manifold test's
	// statistic and threshold (columns "manifold", "manifold_threshold":
	// this batch's two-sided score T, or with ood.manifold_memory the
	// chart over cycles, threshold 1), and the innovation chart's
	// statistic ("innovation_chart", ood.innovation_memory; flagged
	// above 1).
	Manifold, ManifoldThreshold, InnovationChart float64
}

// validateDiag checks rows as the writer and reader do.
func validateDiag(rows []DiagRow) error {
	if len(rows) > math.MaxInt32 {
		return fmt.Errorf("%d diagnostics rows are too many", len(rows))
	}
	for i, r := range rows {
		if err := r.validate(); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		if i > 0 && r.Cycle <= rows[i-1].Cycle {
			return fmt.Errorf("row %d: column \"cycle\": %d does not follow %d (cycles must increase)", i, r.Cycle, rows[i-1].Cycle)
		}
	}
	return nil
}

func (r DiagRow) validate() error {
	switch {
	case r.Cycle < 0 || r.Cycle > math.MaxInt32:
		return fmt.Errorf("column \"cycle\": %d out of range [0, %d]", r.Cycle, math.MaxInt32)
	case !arrowfile.Finite(r.Time):
		return fmt.Errorf("column \"time\": %v is not finite", r.Time)
	case r.NObs < 0 || r.NObs > math.MaxInt32:
		return fmt.Errorf("column \"n_obs\": %d out of range [0, %d]", r.NObs, math.MaxInt32)
	case r.NFlagged < 0 || r.NFlagged > r.NObs:
		return fmt.Errorf("column \"n_flagged\": %d out of range [0, n_obs = %d]", r.NFlagged, r.NObs)
	case !utf8.ValidString(r.BatchFlag):
		return fmt.Errorf("column \"batch_flag\": not valid UTF-8")
	}
	return nil
}

var diagColumns = []arrowfile.Column{
	{Name: "cycle", Type: arrow.PrimitiveTypes.Int32},
	{Name: "time", Type: arrow.PrimitiveTypes.Float64},
	{Name: "rmse_f", Type: arrow.PrimitiveTypes.Float64},
	{Name: "rmse_a", Type: arrow.PrimitiveTypes.Float64},
	{Name: "spread_f", Type: arrow.PrimitiveTypes.Float64},
	{Name: "spread_a", Type: arrow.PrimitiveTypes.Float64},
	{Name: "innovation", Type: arrow.PrimitiveTypes.Float64},
	{Name: "innovation_expected", Type: arrow.PrimitiveTypes.Float64},
	{Name: "n_obs", Type: arrow.PrimitiveTypes.Int32},
	{Name: "n_flagged", Type: arrow.PrimitiveTypes.Int32},
	{Name: "qc_nis", Type: arrow.PrimitiveTypes.Float64},
	{Name: "qc_nis_threshold", Type: arrow.PrimitiveTypes.Float64},
	{Name: "projection", Type: arrow.PrimitiveTypes.Float64},
	{Name: "projection_threshold", Type: arrow.PrimitiveTypes.Float64},
	{Name: "batch_flag", Type: arrow.BinaryTypes.String},
	{Name: "inflation", Type: arrow.PrimitiveTypes.Float64},
	{Name: "obs_variance", Type: arrow.PrimitiveTypes.Float64},
	{Name: "variance_scale", Type: arrow.PrimitiveTypes.Float64},
	{Name: "hybrid_weight", Type: arrow.PrimitiveTypes.Float64},
	{Name: "manifold", Type: arrow.PrimitiveTypes.Float64},
	{Name: "manifold_threshold", Type: arrow.PrimitiveTypes.Float64},
	{Name: "innovation_chart", Type: arrow.PrimitiveTypes.Float64},
}

// diagColumnsV1 are the columns of schema version 1, without quality control.
var diagColumnsV1 = diagColumns[:10]

// diagColumnsV2 are the columns of schema version 2, without the filter's
// hyperparameters.
var diagColumnsV2 = diagColumns[:15]

// diagColumnsV3 are the columns of schema versions 3 and 4, without the
// hybrid weight.
var diagColumnsV3 = diagColumns[:18]

// diagColumnsV5 are the columns of schema version 5, without the manifold
// test and the innovation chart.
var diagColumnsV5 = diagColumns[:19]

// diagColumnsOf returns the columns of a diagnostics table of schema
// version v (v <= SchemaVersion).
func diagColumnsOf(v int) []arrowfile.Column {
	switch v {
	case 1:
		return diagColumnsV1
	case 2:
		return diagColumnsV2
	case 3, 4:
		return diagColumnsV3
	case 5:
		return diagColumnsV5
	}
	return diagColumns
}

// diagQC are the float64 quality-control columns, in order.
var diagQC = []func(r *DiagRow) *float64{
	func(r *DiagRow) *float64 { return &r.QCNIS },
	func(r *DiagRow) *float64 { return &r.QCNISThreshold },
	func(r *DiagRow) *float64 { return &r.Projection },
	func(r *DiagRow) *float64 { return &r.ProjectionThreshold },
}

// diagLater are the float64 columns after "batch_flag", in order: the
// filter's hyperparameters (schema versions 3 to 5) and the manifold test
// and innovation chart statistics (version 6).
var diagLater = []func(r *DiagRow) *float64{
	func(r *DiagRow) *float64 { return &r.Inflation },
	func(r *DiagRow) *float64 { return &r.ObsVariance },
	func(r *DiagRow) *float64 { return &r.VarianceScale },
	func(r *DiagRow) *float64 { return &r.HybridWeight },
	func(r *DiagRow) *float64 { return &r.Manifold },
	func(r *DiagRow) *float64 { return &r.ManifoldThreshold },
	func(r *DiagRow) *float64 { return &r.InnovationChart },
}

// diagFloats are the float64 columns after "cycle", in order.
var diagFloats = []func(r *DiagRow) *float64{
	func(r *DiagRow) *float64 { return &r.Time },
	func(r *DiagRow) *float64 { return &r.RMSEF },
	func(r *DiagRow) *float64 { return &r.RMSEA },
	func(r *DiagRow) *float64 { return &r.SpreadF },
	func(r *DiagRow) *float64 { return &r.SpreadA },
	func(r *DiagRow) *float64 { return &r.Innovation },
	func(r *DiagRow) *float64 { return &r.InnovationExpected },
}

// WriteDiagnostics writes the diagnostics table rows to path, atomically,
// replacing any previous file. meta.Kind must be "diagnostics" or empty.
// Cycles must increase down the table; zero rows are allowed.
func WriteDiagnostics(path string, rows []DiagRow, meta Meta, opts ...Option) error {
	o := arrowfile.BuildOptions(opts)
	if err := validateDiag(rows); err != nil {
		return arrowfile.WriteErr(path, err)
	}
	md, err := arrowfile.EncodeMeta(meta, KindDiagnostics, nil)
	if err != nil {
		return arrowfile.WriteErr(path, err)
	}
	n := len(rows)
	cols := make([]arrow.Array, 0, len(diagColumns))
	defer func() { arrowfile.ReleaseAll(cols) }()
	cols = append(cols, arrowfile.Int32Column(o.Mem, n, func(i int) int32 { return int32(rows[i].Cycle) }))
	for _, field := range diagFloats {
		cols = append(cols, arrowfile.Float64Column(o.Mem, n, func(i int) float64 { return *field(&rows[i]) }))
	}
	cols = append(cols,
		arrowfile.Int32Column(o.Mem, n, func(i int) int32 { return int32(rows[i].NObs) }),
		arrowfile.Int32Column(o.Mem, n, func(i int) int32 { return int32(rows[i].NFlagged) }),
	)
	for _, field := range diagQC {
		cols = append(cols, arrowfile.Float64Column(o.Mem, n, func(i int) float64 { return *field(&rows[i]) }))
	}
	flags := make([]string, n)
	for i := range rows {
		flags[i] = rows[i].BatchFlag
	}
	cols = append(cols, arrowfile.StringColumn(o.Mem, flags))
	for _, field := range diagLater {
		cols = append(cols, arrowfile.Float64Column(o.Mem, n, func(i int) float64 { return *field(&rows[i]) }))
	}
	fields := make([]arrow.Field, len(diagColumns))
	for i, c := range diagColumns {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type}
	}
	return arrowfile.WriteFile(path, o, arrow.NewSchema(fields, &md), cols, n)
}

// ReadDiagnostics reads a diagnostics table written by WriteDiagnostics,
// checking the kind, schema version, columns and every row as the writer
// does.
func ReadDiagnostics(path string, opts ...Option) ([]DiagRow, Meta, error) {
	return arrowfile.ReadPath(path, opts, readDiagnostics)
}

func readDiagnostics(r ipc.ReadAtSeeker, size int64, o arrowfile.Options) ([]DiagRow, Meta, error) {
	t, err := arrowfile.ReadTable(r, size, o, arrowfile.FileSpec{
		Kinds: []Kind{KindDiagnostics},
		Columns: func(version int, _ map[string]string) ([]arrowfile.Column, error) {
			return diagColumnsOf(version), nil
		},
	})
	if err != nil {
		return nil, Meta{}, err
	}
	defer t.Release()
	rows, err := readDiag(t)
	if err != nil {
		return nil, Meta{}, err
	}
	return rows, t.Meta, nil
}

func readDiag(t *arrowfile.Table) ([]DiagRow, error) {
	rows := make([]DiagRow, 0, t.NumRows())
	for _, rec := range t.Recs {
		var ints [3]*array.Int32
		for i, name := range []string{"cycle", "n_obs", "n_flagged"} {
			a, err := arrowfile.ColumnAs[*array.Int32](t, rec, name)
			if err != nil {
				return nil, err
			}
			ints[i] = a
		}
		floats := make([]*array.Float64, len(diagFloats))
		for i := range diagFloats {
			a, err := arrowfile.ColumnAs[*array.Float64](t, rec, diagColumns[1+i].Name)
			if err != nil {
				return nil, err
			}
			floats[i] = a
		}
		var qc []*array.Float64
		var flag *array.String
		if _, ok := t.Idx["batch_flag"]; ok { // absent in schema version 1
			for i := range diagQC {
				a, err := arrowfile.ColumnAs[*array.Float64](t, rec, diagColumns[10+i].Name)
				if err != nil {
					return nil, err
				}
				qc = append(qc, a)
			}
			f, err := arrowfile.ColumnAs[*array.String](t, rec, "batch_flag")
			if err != nil {
				return nil, err
			}
			flag = f
		}
		// The later columns of the file's version (ReadTable checked them
		// against it): none before 3, no hybrid_weight before 5, no
		// manifold test and innovation chart before 6.
		hyper := make([]*array.Float64, len(diagLater))
		for i := range diagLater {
			name := diagColumns[15+i].Name
			if _, ok := t.Idx[name]; !ok {
				continue
			}
			a, err := arrowfile.ColumnAs[*array.Float64](t, rec, name)
			if err != nil {
				return nil, err
			}
			hyper[i] = a
		}
		for i := range int(rec.NumRows()) {
			r := DiagRow{
				Cycle:    int(ints[0].Value(i)),
				NObs:     int(ints[1].Value(i)),
				NFlagged: int(ints[2].Value(i)),
			}
			for j, field := range diagFloats {
				*field(&r) = floats[j].Value(i)
			}
			for j, field := range diagQC {
				*field(&r) = math.NaN()
				if qc != nil {
					*field(&r) = qc[j].Value(i)
				}
			}
			if flag != nil {
				r.BatchFlag = strings.Clone(flag.Value(i))
			}
			for j, field := range diagLater {
				*field(&r) = math.NaN()
				if hyper[j] != nil {
					*field(&r) = hyper[j].Value(i)
				}
			}
			rows = append(rows, r)
		}
	}
	if err := validateDiag(rows); err != nil {
		return nil, &arrowfile.InvalidError{Err: err}
	}
	return rows, nil
}

// SameAsStored reports whether r, computed now, holds the values of the
// row stored that a diagnostics file of schema version v holds, bit for bit
// (Same), in the columns such a file has: those it lacks, which its reader
// returns as NaN and an empty flag, are left out. A batch that a build
// writing an older version left half done is then retried by this one
// without a false alarm of nondeterminism.
func (r DiagRow) SameAsStored(stored DiagRow, v int) bool {
	n := len(diagColumnsOf(v))
	if n <= len(diagColumnsV1) {
		for _, field := range diagQC {
			*field(&r) = math.NaN()
		}
		r.BatchFlag = ""
	}
	for j, field := range diagLater {
		if len(diagColumnsV2)+j >= n {
			*field(&r) = math.NaN()
		}
	}
	return r.Same(stored)
}

// Same reports whether r and o hold the same values, bit for bit (so a NaN
// equals a NaN, which == does not give).
func (r DiagRow) Same(o DiagRow) bool {
	bits := func(v float64) uint64 { return math.Float64bits(v) }
	for i := range diagFloats {
		if bits(*diagFloats[i](&r)) != bits(*diagFloats[i](&o)) {
			return false
		}
	}
	for _, fields := range [][]func(*DiagRow) *float64{diagQC, diagLater} {
		for _, field := range fields {
			if bits(*field(&r)) != bits(*field(&o)) {
				return false
			}
		}
	}
	return r.Cycle == o.Cycle && r.NObs == o.NObs && r.NFlagged == o.NFlagged && r.BatchFlag == o.BatchFlag
}
