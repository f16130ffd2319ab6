package store

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
)

var obsFields = []arrow.Field{
	{Name: "index", Type: arrow.PrimitiveTypes.Int32},
	{Name: "position", Type: arrow.PrimitiveTypes.Float64},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64},
	{Name: "variance", Type: arrow.PrimitiveTypes.Float64},
	{Name: "flagged", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "flag_reason", Type: arrow.BinaryTypes.String},
}

// obsRaw is an observations file with the given columns, valid apart from
// what they hold.
func obsRaw(index []int32, value, variance []float64, flagged []bool, reasons []string) filetest.Raw {
	pos := make([]float64, len(index))
	return filetest.Raw{
		MD:     filetest.BaseMD(KindObservations),
		Fields: obsFields,
		Cols: []func(memory.Allocator) arrow.Array{
			filetest.I32s(index...), filetest.F64s(pos, nil), filetest.F64s(value, nil), filetest.F64s(variance, nil), filetest.Bools(flagged...), filetest.Strs(reasons...),
		},
		NRows: len(index),
	}
}

func diagRaw(cycles []int32, nobs, nflagged []int32) filetest.Raw {
	return diagRawVersion(1, cycles, nobs, nflagged)
}

// diagRawVersion is a diagnostics table in the layout of schema version
// 1, 2, 3 or 4, with zero statistics and empty flags.
func diagRawVersion(version int, cycles []int32, nobs, nflagged []int32) filetest.Raw {
	var fields []arrow.Field
	var cols []func(memory.Allocator) arrow.Array
	n := len(cycles)
	for _, c := range map[int][]arrowfile.Column{1: diagColumnsV1, 2: diagColumnsV2, 3: diagColumnsV3, 4: diagColumnsV3, 5: diagColumnsV5}[version] {
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type})
		switch c.Name {
		case "cycle":
			cols = append(cols, filetest.I32s(cycles...))
		case "n_obs":
			cols = append(cols, filetest.I32s(nobs...))
		case "n_flagged":
			cols = append(cols, filetest.I32s(nflagged...))
		case "batch_flag":
			cols = append(cols, filetest.Strs(make([]string, n)...))
		default:
			cols = append(cols, filetest.F64s(make([]float64, n), nil))
		}
	}
	md := filetest.WithMD(filetest.BaseMD(KindDiagnostics), arrowfile.KeySchemaVersion, strconv.Itoa(version))
	return filetest.Raw{MD: md, Fields: fields, Cols: cols, NRows: n}
}

// readAny reads path with the reader for kind and returns its error.
func readAny(kind Kind, path string, opts ...Option) error {
	var err error
	switch kind {
	case KindEnsemble:
		_, _, err = ReadEnsemble(path, opts...)
	case KindTruth:
		_, _, err = ReadVector(path, opts...)
	case KindObservations:
		_, _, err = ReadObservations(path, opts...)
	case KindDiagnostics:
		_, _, err = ReadDiagnostics(path, opts...)
	default:
		panic("readAny: no reader for kind " + kind)
	}
	return err
}

func TestReadMalformed(t *testing.T) {
	ens := filetest.EnsembleRaw
	withEns := func(f func(r *filetest.Raw)) filetest.Raw { r := ens(); f(&r); return r }
	newer := strconv.Itoa(SchemaVersion + 1)
	ok := []bool{false, false}
	none := []string{"", ""}
	for _, tc := range []struct {
		name  string
		kind  Kind // reader to use
		raw   filetest.Raw
		want  string
		newer bool
	}{
		{"valid ensemble (control)", KindEnsemble, ens(), "", false},
		{"wrong kind", KindEnsemble, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, ok, none), `file kind is "observations", want "ensemble"`, false},
		{"ensemble read as truth", KindTruth, ens(), `file kind is "ensemble", want one of ["truth" "estimate"]`, false},
		{"ensemble read as observations", KindObservations, ens(), `file kind is "ensemble", want "observations"`, false},
		{"ensemble read as diagnostics", KindDiagnostics, ens(), `file kind is "ensemble", want "diagnostics"`, false},
		{"newer schema version", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, newer) }),
			"written with schema version " + newer + ", but this build of latentda reads schema versions up to " + strconv.Itoa(SchemaVersion), true},
		{"version 2 observations without scores", KindObservations, func() filetest.Raw {
			r := obsRaw([]int32{0}, []float64{1}, []float64{1}, []bool{false}, []string{""})
			r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, "2")
			return r
		}(), `column "innovation_z" is missing`, false},
		{"newer schema version, new columns", KindObservations, filetest.Raw{
			MD:     filetest.WithMD(filetest.BaseMD(KindObservations), arrowfile.KeySchemaVersion, newer),
			Fields: []arrow.Field{{Name: "x", Type: arrow.ListOf(arrow.PrimitiveTypes.Int8)}},
			Cols: []func(memory.Allocator) arrow.Array{func(mem memory.Allocator) arrow.Array {
				b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int8)
				defer b.Release()
				b.Append(true)
				return b.NewArray()
			}},
			NRows: 1,
		}, "schema version " + newer, true},
		{"schema version 0", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, "0") }), "not a valid schema version", false},
		{"schema version text", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, "one") }), "is not an integer", false},
		{"no schema version", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, "<delete>") }), "not a latentda state file", false},
		{"no kind", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyKind, "<delete>") }), `"latentda.kind" is missing or empty`, false},
		{"no state size", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyStateSize, "<delete>") }), `"latentda.state_size" is missing`, false},
		{"bad state size", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyStateSize, "-4") }), "is not a size", false},
		{"duplicate key", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = append(r.MD, [2]string{arrowfile.KeyRunID, "other"}) }), "appears more than once", false},
		{"unknown latentda key", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, "latentda.colour", "blue") }), `unknown metadata key "latentda.colour"`, false},
		{"foreign key is ignored", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, "pandas", "{}") }), "", false},
		{"time NaN", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyTime, "NaN") }), "is not a finite number", false},
		{"negative cycle", KindEnsemble, withEns(func(r *filetest.Raw) { r.MD = filetest.WithMD(r.MD, arrowfile.KeyCycle, "-1") }), "is not a cycle number", false},
		{"wrong list size", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.MD = filetest.WithMD(r.MD, arrowfile.KeyStateSize, "40")
			r.Fields[1].Type = arrow.FixedSizeListOf(39, arrow.PrimitiveTypes.Float64)
			r.Cols[1] = filetest.States(3, 39, -1)
		}), `column "state": want fixed_size_list<float64>[40], got fixed_size_list<float64>[39]`, false},
		{"list of float32", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.Fields[1].Type = arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32)
			r.Cols[1] = func(mem memory.Allocator) arrow.Array {
				b := array.NewFixedSizeListBuilder(mem, 4, arrow.PrimitiveTypes.Float32)
				defer b.Release()
				for range 3 {
					b.Append(true)
					b.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{1, 2, 3, 4}, nil)
				}
				return b.NewArray()
			}
		}), `column "state": want fixed_size_list<float64>[4], got fixed_size_list<float32>[4]`, false},
		{"member int64", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.Fields[0].Type = arrow.PrimitiveTypes.Int64
			r.Cols[0] = filetest.I64s(0, 1, 2)
		}), `column "member": want int32, got int64`, false},
		{"missing column", KindEnsemble, withEns(func(r *filetest.Raw) { r.Fields, r.Cols = r.Fields[1:], r.Cols[1:] }), `column "member" is missing`, false},
		{"extra column", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.Fields = append(r.Fields, arrow.Field{Name: "weight", Type: arrow.PrimitiveTypes.Float64})
			r.Cols = append(r.Cols, filetest.F64s([]float64{1, 1, 1}, nil))
		}), `unexpected column "weight"`, false},
		{"columns in another order", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.Fields[0], r.Fields[1] = r.Fields[1], r.Fields[0]
			r.Cols[0], r.Cols[1] = r.Cols[1], r.Cols[0]
		}), "", false},
		{"members out of order", KindEnsemble, withEns(func(r *filetest.Raw) { r.Cols[0] = filetest.I32s(0, 2, 1) }), `row 1 holds member 2, want 1`, false},
		{"no members", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.Cols = []func(memory.Allocator) arrow.Array{filetest.I32s(), filetest.States(0, 4, -1)}
			r.NRows = 0
		}), "no rows", false},
		{"null state value", KindEnsemble, withEns(func(r *filetest.Raw) { r.Cols[1] = filetest.States(3, 4, 2) }), `column "state": list values: null in row 8`, false},
		{"null member", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.Cols[0] = func(mem memory.Allocator) arrow.Array {
				b := array.NewInt32Builder(mem)
				defer b.Release()
				b.AppendValues([]int32{0, 1, 2}, []bool{true, false, true})
				return b.NewArray()
			}
		}), `column "member": null in row 1`, false},
		{"checksum (control)", KindEnsemble, withEns(func(r *filetest.Raw) { r.RecMD = [][][2]string{{{arrowfile.KeyChecksum, filetest.Computed}}} }), "", false},
		{"checksum of other values", KindEnsemble, withEns(func(r *filetest.Raw) { r.RecMD = [][][2]string{{{arrowfile.KeyChecksum, "crc32c:0badc0de"}}} }),
			"record batch 0: checksum mismatch: stored crc32c:0badc0de, computed crc32c:", false},
		{"checksum in capitals", KindEnsemble, withEns(func(r *filetest.Raw) { r.RecMD = [][][2]string{{{arrowfile.KeyChecksum, "crc32c:0BADC0DE"}}} }),
			`record batch 0: metadata latentda.checksum = "crc32c:0BADC0DE" is not crc32c: and 8 lowercase hex digits`, false},
		{"checksum of another kind", KindEnsemble, withEns(func(r *filetest.Raw) { r.RecMD = [][][2]string{{{arrowfile.KeyChecksum, "sha256:0badc0de"}}} }),
			"is not crc32c: and 8 lowercase hex digits", false},
		{"checksum twice", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.RecMD = [][][2]string{{{arrowfile.KeyChecksum, filetest.Computed}, {arrowfile.KeyChecksum, filetest.Computed}}}
		}), `record batch 0: metadata key "latentda.checksum" appears more than once`, false},
		{"unknown record batch key", KindEnsemble, withEns(func(r *filetest.Raw) { r.RecMD = [][][2]string{{{"latentda.sha256", "x"}}} }),
			`record batch 0: unknown metadata key "latentda.sha256"`, false},
		{"foreign record batch key is ignored", KindEnsemble, withEns(func(r *filetest.Raw) { r.RecMD = [][][2]string{{{"pandas", "{}"}}} }), "", false},
		{"checksum dropped from a batch", KindObservations, func() filetest.Raw {
			r := obsRaw([]int32{0}, []float64{1}, []float64{1}, []bool{false}, []string{""})
			r.RecMD = [][][2]string{{{arrowfile.KeyChecksum, filetest.Computed}}, {}}
			return r
		}(), "record batch 1 has no checksum, but record batch 0 has one", false},
		{"checksum added to a batch", KindObservations, func() filetest.Raw {
			r := obsRaw([]int32{0}, []float64{1}, []float64{1}, []bool{false}, []string{""})
			r.RecMD = [][][2]string{{}, {{arrowfile.KeyChecksum, filetest.Computed}}}
			return r
		}(), "record batch 1 has a checksum, but record batch 0 has none", false},
		{"stream format", KindEnsemble, withEns(func(r *filetest.Raw) { r.Stream = true }), "not an Arrow IPC file", false},
		{"compressed", KindEnsemble, withEns(func(r *filetest.Raw) { r.IPCOpts = []ipc.Option{ipc.WithZstd()} }), "compressed Arrow files are not supported", false},
		{"unsupported type", KindEnsemble, withEns(func(r *filetest.Raw) {
			r.Fields = append(r.Fields, arrow.Field{Name: "when", Type: arrow.FixedWidthTypes.Date32})
			r.Cols = append(r.Cols, func(mem memory.Allocator) arrow.Array {
				b := array.NewDate32Builder(mem)
				defer b.Release()
				b.AppendValues([]arrow.Date32{1, 2, 3}, nil)
				return b.NewArray()
			})
		}), `column "when": unsupported Arrow type`, false},

		{"vector with 2 rows", KindTruth, filetest.Raw{
			MD:     filetest.BaseMD(KindTruth, [2]string{arrowfile.KeyStateSize, "4"}),
			Fields: []arrow.Field{{Name: "state", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float64)}},
			Cols:   []func(memory.Allocator) arrow.Array{filetest.States(2, 4, -1)},
			NRows:  2,
		}, "vector file has 2 rows, want 1", false},

		{"observations (control)", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, []bool{false, true}, []string{"", "qc"}), "", false},
		{"NaN observation", KindObservations, obsRaw([]int32{0, 1}, []float64{1, math.NaN()}, []float64{1, 1}, ok, none), `row 1: column "value": NaN is not finite`, false},
		{"infinite observation", KindObservations, obsRaw([]int32{0, 1}, []float64{math.Inf(-1), 1}, []float64{1, 1}, ok, none), `row 0: column "value": -Inf is not finite`, false},
		{"zero variance", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 0}, ok, none), `row 1: column "variance": 0 is not a finite number > 0`, false},
		{"negative variance", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{-1, 1}, ok, none), `row 0: column "variance": -1 is not`, false},
		{"NaN variance", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, math.NaN()}, ok, none), `row 1: column "variance": NaN is not`, false},
		{"reason without flag", KindObservations, obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, ok, []string{"", "why"}), `row 1: column "flag_reason"`, false},
		{"string offsets not monotonic", KindObservations, func() filetest.Raw {
			// arrow-go's own ValidateFull panics on such offsets, and its
			// loader on offsets past the data (found by TestReadGarbage).
			r := obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, []bool{true, true}, []string{"", ""})
			r.Cols[5] = func(mem memory.Allocator) arrow.Array {
				offsets := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 5, 2}))
				data := memory.NewBufferBytes([]byte("abcde"))
				d := array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, offsets, data}, nil, 0, 0)
				defer d.Release()
				return array.MakeFromData(d)
			}
			return r
		}(), "string offset 1 is 5, outside [0, 2]", false},
		{"index out of order", KindObservations, obsRaw([]int32{1, 0}, []float64{1, 2}, []float64{1, 1}, ok, none), `row 0: column "index": got 1, want 0`, false},

		{"diagnostics (control)", KindDiagnostics, diagRaw([]int32{0, 1}, []int32{4, 4}, []int32{0, 4}), "", false},
		{"cycles not increasing", KindDiagnostics, diagRaw([]int32{3, 3}, []int32{4, 4}, []int32{0, 0}), `row 1: column "cycle": 3 does not follow 3`, false},
		{"too many flagged", KindDiagnostics, diagRaw([]int32{0, 1}, []int32{4, 4}, []int32{0, 5}), `row 1: column "n_flagged": 5 out of range`, false},
		{"negative cycle row", KindDiagnostics, diagRaw([]int32{-1}, []int32{4}, []int32{0}), `row 0: column "cycle": -1 out of range`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cycles", "000012", "state.arrow")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.raw.Write(t, path)
			err := readAny(tc.kind, path, filetest.CheckedOpts(t)...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("control file: %v", err)
				}
				return
			}
			filetest.CheckReadError(t, err, path, tc.want, tc.newer)
		})
	}
}

// validFiles writes one valid file of each kind into dir and returns the
// reader kind of each path.
func validFiles(t *testing.T, dir string) map[string]Kind {
	t.Helper()
	files := map[string]Kind{}
	p := filepath.Join(dir, "ensemble.arrow")
	if err := WriteEnsemble(p, filetest.TestEnsemble(5, 8), filetest.TestMeta(""), filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindEnsemble
	p = filepath.Join(dir, "truth.arrow")
	if err := WriteVector(p, filetest.Specials, filetest.TestMeta(""), filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindTruth
	p = filepath.Join(dir, "observations.arrow")
	if err := WriteObservations(p, testObservations(), filetest.TestMeta(""), filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindObservations
	p = filepath.Join(dir, "diagnostics.arrow")
	if err := WriteDiagnostics(p, testDiag(4), filetest.TestMeta(""), filetest.CheckedOpts(t)...); err != nil {
		t.Fatal(err)
	}
	files[p] = KindDiagnostics
	return files
}

func TestReadTruncated(t *testing.T) {
	dir := t.TempDir()
	filetest.CheckTruncated(t, dir, validFiles(t, dir), readAny)
}

func TestReadGarbage(t *testing.T) {
	dir := t.TempDir()
	filetest.CheckGarbage(t, dir, validFiles(t, dir), readAny)
}

func TestReadMissingFile(t *testing.T) {
	filetest.CheckMissing(t, []Kind{KindEnsemble, KindTruth, KindObservations, KindDiagnostics}, readAny)
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.arrow")
	good := testObservations()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"empty ensemble", WriteEnsemble(p, &filetest.Mat0, Meta{}), "empty ensemble"},
		{"nil ensemble", WriteEnsemble(p, nil, Meta{}), "empty ensemble"},
		{"wrong kind", WriteEnsemble(p, filetest.TestEnsemble(2, 2), Meta{Kind: KindTruth}), `Kind is "truth"`},
		{"newer version", WriteEnsemble(p, filetest.TestEnsemble(2, 2), Meta{SchemaVersion: SchemaVersion + 1}), "writes only schema version " + strconv.Itoa(SchemaVersion)},
		{"negative cycle", WriteVector(p, []float64{1}, Meta{Cycle: -1}), "Cycle -1 out of range"},
		{"infinite time", WriteVector(p, []float64{1}, Meta{Time: math.Inf(1)}), "Time +Inf is not finite"},
		{"empty param key", WriteVector(p, []float64{1}, Meta{Params: map[string]string{"": "x"}}), "Params has an empty key"},
		{"bad utf8", WriteVector(p, []float64{1}, Meta{Extra: map[string]string{"k": "\xff"}}), "not valid UTF-8"},
		{"empty vector", WriteVector(p, nil, Meta{}), "vector length 0"},
		{"vector kind", WriteVector(p, []float64{1}, Meta{Kind: KindEnsemble}), "not a vector kind"},
		{"length mismatch", WriteObservations(p, Observations{Values: []float64{1}}, Meta{}), "1 Values but 0 Variances"},
		{"flag length", WriteObservations(p, Observations{Values: good.Values, Variances: good.Variances, Positions: good.Positions, Flagged: []bool{true}}, Meta{}), "Flagged"},
		{"zero variance", WriteObservations(p, Observations{Values: []float64{1}, Variances: []float64{0}, Positions: []float64{0}}, Meta{}), `row 0: column "variance"`},
		{"NaN position", WriteObservations(p, Observations{Values: []float64{1}, Variances: []float64{1}, Positions: []float64{math.NaN()}}, Meta{}), `row 0: column "position"`},
		{"diag order", WriteDiagnostics(p, []DiagRow{{Cycle: 2}, {Cycle: 1}}, Meta{}), `row 1: column "cycle"`},
		{"diag time", WriteDiagnostics(p, []DiagRow{{Time: math.NaN()}}, Meta{}), `row 0: column "time"`},
	} {
		if tc.err == nil || !strings.HasPrefix(tc.err.Error(), "store: write "+p+": ") || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, tc.err, tc.want)
		}
	}
	if names := filetest.ListDir(t, dir); len(names) != 0 {
		t.Errorf("failed writes left %v", names)
	}
}
