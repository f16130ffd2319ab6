package store

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
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
	NFlagged           int // column "n_flagged" (int32): of those, rejected by quality control; <= NObs
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
	case !finite(r.Time):
		return fmt.Errorf("column \"time\": %v is not finite", r.Time)
	case r.NObs < 0 || r.NObs > math.MaxInt32:
		return fmt.Errorf("column \"n_obs\": %d out of range [0, %d]", r.NObs, math.MaxInt32)
	case r.NFlagged < 0 || r.NFlagged > r.NObs:
		return fmt.Errorf("column \"n_flagged\": %d out of range [0, n_obs = %d]", r.NFlagged, r.NObs)
	}
	return nil
}

var diagColumns = []column{
	{"cycle", arrow.PrimitiveTypes.Int32},
	{"time", arrow.PrimitiveTypes.Float64},
	{"rmse_f", arrow.PrimitiveTypes.Float64},
	{"rmse_a", arrow.PrimitiveTypes.Float64},
	{"spread_f", arrow.PrimitiveTypes.Float64},
	{"spread_a", arrow.PrimitiveTypes.Float64},
	{"innovation", arrow.PrimitiveTypes.Float64},
	{"innovation_expected", arrow.PrimitiveTypes.Float64},
	{"n_obs", arrow.PrimitiveTypes.Int32},
	{"n_flagged", arrow.PrimitiveTypes.Int32},
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
	o := buildOptions(opts)
	if err := validateDiag(rows); err != nil {
		return writeErr(path, err)
	}
	md, err := encodeMeta(meta, KindDiagnostics, nil)
	if err != nil {
		return writeErr(path, err)
	}
	n := len(rows)
	cols := make([]arrow.Array, 0, len(diagColumns))
	defer func() { releaseAll(cols) }()
	cols = append(cols, int32Column(o.mem, n, func(i int) int32 { return int32(rows[i].Cycle) }))
	for _, field := range diagFloats {
		cols = append(cols, float64Column(o.mem, n, func(i int) float64 { return *field(&rows[i]) }))
	}
	cols = append(cols,
		int32Column(o.mem, n, func(i int) int32 { return int32(rows[i].NObs) }),
		int32Column(o.mem, n, func(i int) int32 { return int32(rows[i].NFlagged) }),
	)
	fields := make([]arrow.Field, len(diagColumns))
	for i, c := range diagColumns {
		fields[i] = arrow.Field{Name: c.name, Type: c.typ}
	}
	return writeFile(path, o, arrow.NewSchema(fields, &md), cols, n)
}

// ReadDiagnostics reads a diagnostics table written by WriteDiagnostics,
// checking the kind, schema version, columns and every row as the writer
// does.
func ReadDiagnostics(path string, opts ...Option) ([]DiagRow, Meta, error) {
	return readPath(path, opts, readDiagnostics)
}

func readDiagnostics(r ipc.ReadAtSeeker, size int64, o options) ([]DiagRow, Meta, error) {
	t, err := readTable(r, size, o, fileSpec{
		kinds:   []Kind{KindDiagnostics},
		columns: func(map[string]string) ([]column, error) { return diagColumns, nil },
	})
	if err != nil {
		return nil, Meta{}, err
	}
	defer t.Release()
	rows, err := readDiag(t)
	if err != nil {
		return nil, Meta{}, err
	}
	return rows, t.meta, nil
}

func readDiag(t *table) ([]DiagRow, error) {
	rows := make([]DiagRow, 0, t.numRows())
	for _, rec := range t.recs {
		var ints [3]*array.Int32
		for i, name := range []string{"cycle", "n_obs", "n_flagged"} {
			a, err := columnAs[*array.Int32](t, rec, name)
			if err != nil {
				return nil, err
			}
			ints[i] = a
		}
		floats := make([]*array.Float64, len(diagFloats))
		for i := range diagFloats {
			a, err := columnAs[*array.Float64](t, rec, diagColumns[1+i].name)
			if err != nil {
				return nil, err
			}
			floats[i] = a
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
			rows = append(rows, r)
		}
	}
	if err := validateDiag(rows); err != nil {
		return nil, &invalidError{err: err}
	}
	return rows, nil
}
