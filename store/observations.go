package store

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store/internal/arrowfile"
)

// Observations are one cycle's observations y with their error variances
// (the diagonal of R), grid positions and quality-control flags. All slices
// have one entry per observation, in the order of y.
type Observations struct {
	Values    []float64 // y; finite
	Variances []float64 // diagonal of R; finite and > 0
	Positions []float64 // location on the model grid; finite
	// Flagged marks observations rejected by quality control. Writers
	// accept nil for "none flagged"; readers always fill it in.
	Flagged []bool
	// Reasons says why each flagged observation was rejected; it must be
	// empty for observations that are not flagged. Writers accept nil for
	// "no reasons"; readers always fill it in.
	Reasons []string
	// InnovationZ and ProjectionZ are the quality-control scores (the
	// standardised innovation and manifold residual); NaN where not
	// computed. Writers accept nil for "not computed"; readers always fill
	// them in (NaN for schema version 1 files, which lack them).
	InnovationZ []float64
	ProjectionZ []float64
}

// Len is the number of observations.
func (obs *Observations) Len() int { return len(obs.Values) }

// Validate checks obs as WriteObservations and ReadObservations do: equal
// lengths (Flagged and Reasons may be nil), finite values and positions,
// finite variances > 0, valid UTF-8 reasons only on flagged observations.
// Errors name the row and column.
func (obs *Observations) Validate() error {
	m := len(obs.Values)
	if m > math.MaxInt32 {
		return fmt.Errorf("%d observations are too many", m)
	}
	if n := len(obs.Variances); n != m {
		return fmt.Errorf("observations: %d Values but %d Variances", m, n)
	}
	if n := len(obs.Positions); n != m {
		return fmt.Errorf("observations: %d Values but %d Positions", m, n)
	}
	if obs.Flagged != nil && len(obs.Flagged) != m {
		return fmt.Errorf("observations: %d Values but %d Flagged", m, len(obs.Flagged))
	}
	if obs.Reasons != nil && len(obs.Reasons) != m {
		return fmt.Errorf("observations: %d Values but %d Reasons", m, len(obs.Reasons))
	}
	for _, sc := range []struct {
		name string
		v    []float64
	}{{"innovation_z", obs.InnovationZ}, {"projection_z", obs.ProjectionZ}} {
		if sc.v == nil {
			continue
		}
		if len(sc.v) != m {
			return fmt.Errorf("observations: %d Values but %d %s scores", m, len(sc.v), sc.name)
		}
		for i, v := range sc.v {
			if math.IsInf(v, 0) {
				return fmt.Errorf("row %d: column %q: %v is infinite (NaN means not computed)", i, sc.name, v)
			}
		}
	}
	total := 0
	for i := range m {
		if v := obs.Values[i]; !arrowfile.Finite(v) {
			return fmt.Errorf("row %d: column \"value\": %v is not finite", i, v)
		}
		if v := obs.Positions[i]; !arrowfile.Finite(v) {
			return fmt.Errorf("row %d: column \"position\": %v is not finite", i, v)
		}
		if v := obs.Variances[i]; !arrowfile.Finite(v) || !(v > 0) {
			return fmt.Errorf("row %d: column \"variance\": %v is not a finite number > 0", i, v)
		}
		if obs.Reasons == nil {
			continue
		}
		r := obs.Reasons[i]
		if r != "" && (obs.Flagged == nil || !obs.Flagged[i]) {
			return fmt.Errorf("row %d: column \"flag_reason\": %q given for an observation that is not flagged", i, r)
		}
		if !utf8.ValidString(r) {
			return fmt.Errorf("row %d: column \"flag_reason\": not valid UTF-8", i)
		}
		total += len(r)
		if total > math.MaxInt32 {
			return fmt.Errorf("row %d: column \"flag_reason\": reasons longer than %d bytes in all", i, math.MaxInt32)
		}
	}
	return nil
}

var obsColumns = []arrowfile.Column{
	{Name: "index", Type: arrow.PrimitiveTypes.Int32},
	{Name: "position", Type: arrow.PrimitiveTypes.Float64},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64},
	{Name: "variance", Type: arrow.PrimitiveTypes.Float64},
	{Name: "flagged", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "flag_reason", Type: arrow.BinaryTypes.String},
	{Name: "innovation_z", Type: arrow.PrimitiveTypes.Float64},
	{Name: "projection_z", Type: arrow.PrimitiveTypes.Float64},
}

// obsColumnsV1 are the columns of schema version 1, without the scores.
var obsColumnsV1 = obsColumns[:6]

// WriteObservations writes obs to path, atomically: one row per observation
// with columns "index" (int32, position in y), "position", "value",
// "variance" (float64), "flagged" (bool), "flag_reason" (utf8, empty if
// not flagged), "innovation_z" and "projection_z" (float64, NaN where not
// computed). meta.Kind must be "observations" or empty. obs must pass
// Validate; zero observations are allowed.
func WriteObservations(path string, obs Observations, meta Meta, opts ...Option) error {
	o := arrowfile.BuildOptions(opts)
	if err := obs.Validate(); err != nil {
		return arrowfile.WriteErr(path, err)
	}
	md, err := arrowfile.EncodeMeta(meta, KindObservations, nil)
	if err != nil {
		return arrowfile.WriteErr(path, err)
	}
	m := obs.Len()
	cols := obsArrays(o.Mem, obs, nil)
	defer arrowfile.ReleaseAll(cols)
	fields := make([]arrow.Field, len(obsColumns))
	for i, c := range obsColumns {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type}
	}
	return arrowfile.WriteFile(path, o, arrow.NewSchema(fields, &md), cols, m)
}

// ReadObservations reads an observations file written by
// WriteObservations. Besides the kind, schema version and columns it
// checks every row as Validate does and that "index" counts 0, 1, 2, ...;
// errors name the file, row and column.
func ReadObservations(path string, opts ...Option) (Observations, Meta, error) {
	return arrowfile.ReadPath(path, opts, readObservationsFrom)
}

func readObservationsFrom(r ipc.ReadAtSeeker, size int64, o arrowfile.Options) (Observations, Meta, error) {
	t, err := arrowfile.ReadTable(r, size, o, arrowfile.FileSpec{
		Kinds: []Kind{KindObservations},
		Columns: func(version int, _ map[string]string) ([]arrowfile.Column, error) {
			if version == 1 {
				return obsColumnsV1, nil
			}
			return obsColumns, nil
		},
	})
	if err != nil {
		return Observations{}, Meta{}, err
	}
	defer t.Release()
	obs, err := readObservations(t)
	if err != nil {
		return Observations{}, Meta{}, err
	}
	return obs, t.Meta, nil
}

func readObservations(t *arrowfile.Table) (Observations, error) {
	m := int(t.NumRows())
	obs := Observations{
		Values:      make([]float64, 0, m),
		Variances:   make([]float64, 0, m),
		Positions:   make([]float64, 0, m),
		Flagged:     make([]bool, 0, m),
		Reasons:     make([]string, 0, m),
		InnovationZ: make([]float64, 0, m),
		ProjectionZ: make([]float64, 0, m),
	}
	_, scores := t.Idx["innovation_z"] // absent in schema version 1
	for _, rec := range t.Recs {
		index, err := arrowfile.ColumnAs[*array.Int32](t, rec, "index")
		if err != nil {
			return obs, err
		}
		position, err := arrowfile.ColumnAs[*array.Float64](t, rec, "position")
		if err != nil {
			return obs, err
		}
		value, err := arrowfile.ColumnAs[*array.Float64](t, rec, "value")
		if err != nil {
			return obs, err
		}
		variance, err := arrowfile.ColumnAs[*array.Float64](t, rec, "variance")
		if err != nil {
			return obs, err
		}
		flagged, err := arrowfile.ColumnAs[*array.Boolean](t, rec, "flagged")
		if err != nil {
			return obs, err
		}
		reason, err := arrowfile.ColumnAs[*array.String](t, rec, "flag_reason")
		if err != nil {
			return obs, err
		}
		var iz, pz *array.Float64
		if scores {
			if iz, err = arrowfile.ColumnAs[*array.Float64](t, rec, "innovation_z"); err != nil {
				return obs, err
			}
			if pz, err = arrowfile.ColumnAs[*array.Float64](t, rec, "projection_z"); err != nil {
				return obs, err
			}
		}
		for i := range int(rec.NumRows()) {
			row := len(obs.Values)
			if got := index.Value(i); int(got) != row {
				return obs, arrowfile.Invalidf("row %d: column \"index\": got %d, want %d (rows are stored in order)", row, got, row)
			}
			obs.Positions = append(obs.Positions, position.Value(i))
			obs.Values = append(obs.Values, value.Value(i))
			obs.Variances = append(obs.Variances, variance.Value(i))
			obs.Flagged = append(obs.Flagged, flagged.Value(i))
			// Value aliases the Arrow buffer, which is released on return.
			obs.Reasons = append(obs.Reasons, strings.Clone(reason.Value(i)))
			if scores {
				obs.InnovationZ = append(obs.InnovationZ, iz.Value(i))
				obs.ProjectionZ = append(obs.ProjectionZ, pz.Value(i))
			} else {
				obs.InnovationZ = append(obs.InnovationZ, math.NaN())
				obs.ProjectionZ = append(obs.ProjectionZ, math.NaN())
			}
		}
	}
	if err := obs.Validate(); err != nil {
		return obs, &arrowfile.InvalidError{Err: err}
	}
	return obs, nil
}

// obsArrays builds the columns of obs, in the order of obsColumns; index
// holds the "index" column (nil: 0, 1, 2, ...).
func obsArrays(mem memory.Allocator, obs Observations, index []int32) []arrow.Array {
	m := obs.Len()
	flagged := obs.Flagged
	if flagged == nil {
		flagged = make([]bool, m)
	}
	reasons := obs.Reasons
	if reasons == nil {
		reasons = make([]string, m)
	}
	return []arrow.Array{
		arrowfile.Int32Column(mem, m, func(i int) int32 {
			if index != nil {
				return index[i]
			}
			return int32(i)
		}),
		arrowfile.Float64Column(mem, m, func(i int) float64 { return obs.Positions[i] }),
		arrowfile.Float64Column(mem, m, func(i int) float64 { return obs.Values[i] }),
		arrowfile.Float64Column(mem, m, func(i int) float64 { return obs.Variances[i] }),
		arrowfile.BoolColumn(mem, flagged),
		arrowfile.StringColumn(mem, reasons),
		arrowfile.Float64Column(mem, m, scoreAt(obs.InnovationZ)),
		arrowfile.Float64Column(mem, m, scoreAt(obs.ProjectionZ)),
	}
}

// scoreAt returns the accessor of a score column; nil scores are NaN.
func scoreAt(v []float64) func(i int) float64 {
	if v == nil {
		return func(int) float64 { return math.NaN() }
	}
	return func(i int) float64 { return v[i] }
}
