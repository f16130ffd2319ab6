package arrowfile

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// The cost of the checksums: writing and reading ensembles of 24 members
// of 10⁵ variables (19.2 MB) and of 20 members of 10⁶ (160 MB) with them
// ("checksum") and without ("none": a record batch without metadata,
// which readers take unverified). Writes include the two fsyncs of an
// atomic write. -count repeats each case in a row; to alternate them, run
// the test binary several times:
//
//	go test -c -o /tmp/arrowfile.test ./store/internal/arrowfile
//	cd store/internal/arrowfile && for i in 1 2 3 4 5 6 7 8; do
//	  /tmp/arrowfile.test -test.run '^$' -test.bench Checksums/24x -test.benchtime 20x
//	done

// benchFile writes the benchmark ensemble to path, with or without the
// checksum.
func benchFile(path string, E *mat.Dense, checksum bool) error {
	o := BuildOptions(nil)
	raw := E.RawMatrix()
	N, n := raw.Rows, raw.Cols
	md, err := EncodeMeta(Meta{RunID: "bench"}, "ensemble", map[string]string{KeyStateSize: strconv.Itoa(n)})
	if err != nil {
		return err
	}
	cols := []arrow.Array{
		Int32Column(o.Mem, N, func(i int) int32 { return int32(i) }),
		StateColumn(N, n, DenseValues(o.Mem, raw)),
	}
	defer ReleaseAll(cols)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "member", Type: arrow.PrimitiveTypes.Int32},
		{Name: "state", Type: StateType(n)},
	}, &md)
	if checksum {
		return WriteFile(path, o, schema, cols, N)
	}
	rec := array.NewRecordBatch(schema, cols, int64(N))
	defer rec.Release()
	return writeRecord(path, o, schema, rec)
}

// benchRead reads an ensemble file as store.ReadEnsemble does.
func benchRead(path string) (*mat.Dense, error) {
	spec := FileSpec{
		Kinds:    []Kind{"ensemble"},
		DataKeys: []string{KeyStateSize},
		Columns: func(_ int, data map[string]string) ([]Column, error) {
			n, err := ParseSize(data, KeyStateSize)
			return []Column{{"member", arrow.PrimitiveTypes.Int32}, {"state", StateType(n)}}, err
		},
	}
	E, _, err := ReadMappedPath(path, nil, func(r ipc.ReadAtSeeker, size int64, o Options) (*mat.Dense, Meta, error) {
		t, err := ReadTable(r, size, o, spec)
		if err != nil {
			return nil, Meta{}, err
		}
		defer t.Release()
		E, err := ReadStates(t, "member")
		return E, t.Meta, err
	})
	return E, err
}

func BenchmarkChecksums(b *testing.B) {
	for _, size := range []struct{ N, n int }{{24, 100_000}, {20, 1_000_000}} {
		b.Run(fmt.Sprintf("%dx%d", size.N, size.n), func(b *testing.B) { benchChecksums(b, size.N, size.n) })
	}
}

func benchChecksums(b *testing.B, N, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float64, N*n)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	E := mat.NewDense(N, n, data)
	dir := b.TempDir()
	for _, checksum := range []bool{false, true} {
		name := map[bool]string{false: "none", true: "checksum"}[checksum]
		path := filepath.Join(dir, name+".arrow")
		b.Run("write/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(data) * 8))
			for b.Loop() {
				if err := benchFile(path, E, checksum); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("read/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(data) * 8))
			for b.Loop() {
				got, err := benchRead(path)
				if err != nil {
					b.Fatal(err)
				}
				if !mat.Equal(got, E) {
					b.Fatal("read other values")
				}
			}
		})
	}
	b.Run("checksum-only", func(b *testing.B) {
		cols := []arrow.Array{StateColumn(N, n, DenseValues(BuildOptions(nil).Mem, blas64.General(E.RawMatrix())))}
		defer ReleaseAll(cols)
		b.SetBytes(int64(len(data) * 8))
		for b.Loop() {
			if _, err := Checksum(cols); err != nil {
				b.Fatal(err)
			}
		}
	})
}
