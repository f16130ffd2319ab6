package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
	"gonum.org/v1/gonum/mat"
)

// marker is a value stored once in a test file, whose lowest bit is then
// flipped: it stays finite, so only the file's checksum tells.
const marker = 1.2345678901234567

// TestChecksumDetectsFlippedBit flips one bit of one stored float in each
// kind of file store writes and checks that reading it fails, naming the
// file, where an intact file reads.
func TestChecksumDetectsFlippedBit(t *testing.T) {
	batch := func(change func(c *batchCycle)) func(dir RunDir) {
		return func(dir RunDir) {
			cs := testCycles(1, 3)
			change(&cs[1])
			writeBatch(t, dir, Retention{}, cs, true)
		}
	}
	inRunState := func(read func(rs *RunState) error) func(dir RunDir) error {
		return func(dir RunDir) error {
			rs := OpenRunState(dir, filetest.CheckedOpts(t)...)
			defer rs.Close()
			return read(rs)
		}
	}
	file := func(d RunDir) string { return filepath.Join(d.Root, "file.arrow") }
	for _, tc := range []struct {
		name  string
		write func(dir RunDir)
		path  func(dir RunDir) string
		read  func(dir RunDir) error
	}{
		{"states batch", batch(func(c *batchCycle) { c.forecast.Set(3, 2, marker) }),
			func(d RunDir) string { return d.Batch(batchStates, 1, 3) },
			inRunState(func(rs *RunState) error { _, _, err := rs.Ensemble(FieldForecast, 2); return err })},
		{"latent batch", batch(func(c *batchCycle) { c.latentA.Set(1, 1, marker) }),
			func(d RunDir) string { return d.Batch(batchLatent, 1, 3) },
			inRunState(func(rs *RunState) error { _, _, err := rs.Ensemble(FieldLatentAnalysis, 2); return err })},
		{"estimates batch", batch(func(c *batchCycle) { c.scales[1] = marker }),
			func(d RunDir) string { return d.Batch(batchEstimates, 1, 3) },
			inRunState(func(rs *RunState) error { _, _, err := rs.Vector(FieldVarianceScales, 2); return err })},
		{"observations batch", batch(func(c *batchCycle) { c.obs.Values[4] = marker }),
			func(d RunDir) string { return d.Batch(batchObservations, 1, 3) },
			inRunState(func(rs *RunState) error { _, _, err := rs.Observations(2); return err })},
		{"diagnostics", func(d RunDir) {
			rows := testDiag(5)
			rows[3].SpreadF = marker
			if err := WriteDiagnostics(d.Diagnostics(), rows, filetest.TestMeta("")); err != nil {
				t.Fatal(err)
			}
		}, RunDir.Diagnostics, func(d RunDir) error {
			_, _, err := ReadDiagnostics(d.Diagnostics(), filetest.CheckedOpts(t)...)
			return err
		}},
		{"ensemble", func(d RunDir) {
			E := filetest.TestEnsemble(4, 6)
			E.Set(2, 5, marker)
			if err := WriteEnsemble(file(d), E, filetest.TestMeta("")); err != nil {
				t.Fatal(err)
			}
		}, file, func(d RunDir) error { _, _, err := ReadEnsemble(file(d), filetest.CheckedOpts(t)...); return err }},
		{"truth", func(d RunDir) {
			if err := WriteVector(file(d), []float64{1, marker, 3}, filetest.TestMeta("")); err != nil {
				t.Fatal(err)
			}
		}, file, func(d RunDir) error { _, _, err := ReadVector(file(d), filetest.CheckedOpts(t)...); return err }},
		{"observations", func(d RunDir) {
			obs := testObservations()
			obs.Positions[2] = marker
			if err := WriteObservations(file(d), obs, filetest.TestMeta("")); err != nil {
				t.Fatal(err)
			}
		}, file, func(d RunDir) error { _, _, err := ReadObservations(file(d), filetest.CheckedOpts(t)...); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := RunDir{Root: t.TempDir()}
			tc.write(dir)
			if err := tc.read(dir); err != nil {
				t.Fatalf("intact file: %v", err)
			}
			filetest.FlipBit(t, tc.path(dir), marker)
			filetest.CheckReadError(t, tc.read(dir), tc.path(dir), "record batch 0: checksum mismatch: stored crc32c:", false)
		})
	}
}

// TestEveryBitFlip flips each bit of small files in turn: each read
// either fails with a classified error (ErrInvalid, or ErrNewerSchema for
// a flip that raises the schema version) or gives the values that were
// written (the bit was padding, or metadata that the checksum does not
// cover). A flip in the footer's count of record batches once read a file
// as empty; ipcverify now requires the batches to fill the file. The files are read from memory, as the readers read a mapped
// file.
func TestEveryBitFlip(t *testing.T) {
	E := filetest.TestEnsemble(3, 4)
	obs := testObservations()
	rows := testDiag(3)
	o := arrowfile.Options{Mem: memory.DefaultAllocator}
	for _, tc := range []struct {
		name  string
		write func(path string) error
		same  func(f *arrowfile.MemFile, size int64) (bool, error)
	}{
		{"ensemble", func(p string) error { return WriteEnsemble(p, E, filetest.TestMeta("")) }, func(f *arrowfile.MemFile, size int64) (bool, error) {
			got, _, err := readEnsemble(f, size, o)
			return err == nil && mat.Equal(got, E) && filetest.BitsEqual(got.RawMatrix().Data, E.RawMatrix().Data), err
		}},
		{"observations", func(p string) error { return WriteObservations(p, obs, filetest.TestMeta("")) }, func(f *arrowfile.MemFile, size int64) (bool, error) {
			got, _, err := readObservationsFrom(f, size, o)
			return err == nil && filetest.BitsEqual(got.Values, obs.Values) && filetest.BitsEqual(got.Variances, obs.Variances) &&
				filetest.BitsEqual(got.Positions, obs.Positions) && slices.Equal(got.Flagged, obs.Flagged) && slices.Equal(got.Reasons, obs.Reasons), err
		}},
		{"diagnostics", func(p string) error { return WriteDiagnostics(p, rows, filetest.TestMeta("")) }, func(f *arrowfile.MemFile, size int64) (bool, error) {
			got, _, err := readDiagnostics(f, size, o)
			return err == nil && len(got) == len(rows) && got[0].same(rows[0]) && got[1].same(rows[1]) && got[2].same(rows[2]), err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name+".arrow")
			if err := tc.write(path); err != nil {
				t.Fatal(err)
			}
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			caught, step := 0, 1
			if testing.Short() {
				step = 5 // every bit position of a byte still comes up
			}
			for bit := 0; bit < 8*len(orig); bit += step {
				b := slices.Clone(orig)
				b[bit/8] ^= 1 << (bit % 8)
				same, err := tc.same(arrowfile.NewMemFile(b), int64(len(b)))
				switch {
				case err != nil:
					caught++
					if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNewerSchema) {
						t.Fatalf("bit %d: unclassified error %q", bit, err)
					}
				case !same:
					t.Fatalf("bit %d: read other values than were written, without an error", bit)
				}
			}
			t.Logf("%d bits, every %d flipped: %d caught, the others harmless", 8*len(orig), step, caught)
		})
	}
}
