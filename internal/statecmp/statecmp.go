// Package statecmp reads what a run directory holds, cycle by cycle and
// whatever the layout of its files (batch files of any size, or one
// directory per cycle), for the tests that compare runs bit for bit: two
// runs of the same config that ran their cycles in different batches, on
// different workers or with a fanned-out forecast hold the same state.
package statecmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/latentda/latentda/store"
	"gonum.org/v1/gonum/mat"
)

// fields are the state of a cycle that Contents reads.
var fields = []store.Field{store.FieldTruth, store.FieldForecast, store.FieldAnalysis,
	store.FieldLatentForecast, store.FieldLatentAnalysis, store.FieldVarianceScales, store.FieldInflation, store.FieldManifoldChart, store.FieldInnovationChart, store.FieldHybridWeight, store.FieldEnKFN}

var (
	batchFile = regexp.MustCompile(`^batches/[a-z]+-(\d+)-(\d+)\.arrow$`)
	cycleFile = regexp.MustCompile(`^cycles/(\d+)/[a-z_-]+\.arrow$`)
	tempFile  = regexp.MustCompile(`^\..+\.tmp-[0-9a-f]{16}$`)
)

// Contents returns the state of the run in root: for every cycle that
// has state, "cycles/<k>/<field>" with the field's metadata and values
// (ensembles as their members, or as their mean and spread where the
// retention policy kept only those), and the other files of the run
// (config.yaml, diagnostics.arrow) by their paths, as bytes. temps lists
// the temporary files of atomic writes found (left by killed writes),
// which Contents leaves out.
func Contents(t testing.TB, root string) (files map[string][]byte, temps []string) {
	t.Helper()
	files = map[string][]byte{}
	cycles := map[int]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if tempFile.MatchString(d.Name()) {
			temps = append(temps, rel)
			return nil
		}
		if m := batchFile.FindStringSubmatch(rel); m != nil {
			from, _ := strconv.Atoi(m[1])
			to, _ := strconv.Atoi(m[2])
			for k := from; k <= to; k++ {
				cycles[k] = true
			}
			return nil
		}
		if m := cycleFile.FindStringSubmatch(rel); m != nil {
			k, _ := strconv.Atoi(m[1])
			cycles[k] = true
			return nil
		}
		files[rel], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatalf("statecmp: walk %s: %v", root, err)
	}
	rs := store.OpenRunState(store.RunDir{Root: root})
	defer rs.Close()
	for k := range cycles {
		for _, f := range fields {
			key := fmt.Sprintf("cycles/%06d/%s", k, f)
			if b, ok := read(t, rs, f, k); ok {
				files[key] = b
			}
		}
		obs, m, err := rs.Observations(k)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatalf("statecmp: cycle %d observations: %v", k, err)
		}
		files[fmt.Sprintf("cycles/%06d/observations", k)] = fmt.Appendf(nil, "%s\n%#v", metaString(m), obs)
	}
	slices.Sort(temps)
	return files, temps
}

// read returns field f of cycle k as bytes, and whether the cycle has it.
func read(t testing.TB, rs *store.RunState, f store.Field, k int) ([]byte, bool) {
	t.Helper()
	var (
		X   *mat.Dense
		m   store.Meta
		err error
	)
	if f.IsVector() {
		var x []float64
		if x, m, err = rs.Vector(f, k); err == nil {
			X = mat.NewDense(1, len(x), x)
		}
	} else {
		X, m, err = rs.Ensemble(f, k)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false
	case errors.Is(err, store.ErrNotKept):
		mean, err := rs.Mean(f, k)
		if err != nil {
			t.Fatalf("statecmp: cycle %d %s mean: %v", k, f, err)
		}
		return floats([]byte("mean only\n"), mean), true
	case err != nil:
		t.Fatalf("statecmp: cycle %d %s: %v", k, f, err)
	}
	r, c := X.Dims()
	b := fmt.Appendf(nil, "%s\n%d×%d\n", metaString(m), r, c)
	for i := range r {
		b = floats(b, X.RawRowView(i))
	}
	return b, true
}

// metaString is the metadata a cycle's state shares in every layout.
func metaString(m store.Meta) string {
	var params []string
	for k, v := range m.Params {
		params = append(params, k+"="+v)
	}
	slices.Sort(params)
	return fmt.Sprintf("run %q model %q cycle %d time %x params %s",
		m.RunID, m.Model, m.Cycle, math.Float64bits(m.Time), strings.Join(params, ","))
}

func floats(b []byte, x []float64) []byte {
	for _, v := range x {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// Diff reports the entries that are missing, extra or differ in b
// compared with a.
func Diff(a, b map[string][]byte) []string {
	var diffs []string
	for name, ab := range a {
		bb, ok := b[name]
		switch {
		case !ok:
			diffs = append(diffs, "missing in second: "+name)
		case string(ab) != string(bb):
			diffs = append(diffs, fmt.Sprintf("differs: %s (%d vs %d bytes)", name, len(ab), len(bb)))
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			diffs = append(diffs, "extra in second: "+name)
		}
	}
	slices.Sort(diffs)
	return diffs
}
