package store

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/latentda/latentda/store/internal/arrowfile"
	"github.com/latentda/latentda/store/internal/filetest"
)

// TestQualityControlRoundTrip writes and reads the schema version 2
// quality-control fields: per-observation scores (NaN = not computed) and
// the per-cycle statistics of the diagnostics table.
func TestQualityControlRoundTrip(t *testing.T) {
	dir := t.TempDir()
	obs := Observations{
		Values: []float64{1, 2, 3}, Variances: []float64{1, 1, 2}, Positions: []float64{0, 2, 4},
		Flagged: []bool{false, true, false}, Reasons: []string{"", "outlier: |z| = 4.1 > 3", ""},
		InnovationZ: []float64{0.5, 4.1, -1}, ProjectionZ: []float64{math.NaN(), 2, 0.1},
	}
	p := filepath.Join(dir, "obs.arrow")
	if err := WriteObservations(p, obs, Meta{Cycle: 3}); err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadObservations(p)
	if err != nil {
		t.Fatal(err)
	}
	if !sameFloats(got.InnovationZ, obs.InnovationZ) || !sameFloats(got.ProjectionZ, obs.ProjectionZ) || !reflect.DeepEqual(got.Reasons, obs.Reasons) {
		t.Errorf("read %+v, wrote %+v", got, obs)
	}
	obs.InnovationZ, obs.ProjectionZ = nil, nil // not computed
	if err := WriteObservations(p, obs, Meta{Cycle: 3}); err != nil {
		t.Fatal(err)
	}
	if got, _, err = ReadObservations(p); err != nil || !math.IsNaN(got.InnovationZ[2]) {
		t.Errorf("nil scores read back as %v (%v), want NaN", got.InnovationZ, err)
	}
	obs.InnovationZ = []float64{0, math.Inf(1), 0}
	if err := WriteObservations(p, obs, Meta{}); err == nil {
		t.Error("infinite score accepted")
	}

	rows := []DiagRow{
		{Cycle: 1, NObs: 3, QCNIS: 2.5, QCNISThreshold: 11.3, Projection: math.NaN(), ProjectionThreshold: math.NaN()},
		{Cycle: 2, NObs: 3, NFlagged: 3, QCNIS: 40, QCNISThreshold: 11.3, Projection: 90, ProjectionThreshold: 30, BatchFlag: "innovation+projection"},
	}
	p = filepath.Join(dir, "diag.arrow")
	if err := WriteDiagnostics(p, rows, Meta{}); err != nil {
		t.Fatal(err)
	}
	back, _, err := ReadDiagnostics(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		a, b := rows[i], back[i]
		if a.BatchFlag != b.BatchFlag || !sameFloats([]float64{a.QCNIS, a.QCNISThreshold, a.Projection, a.ProjectionThreshold},
			[]float64{b.QCNIS, b.QCNISThreshold, b.Projection, b.ProjectionThreshold}) {
			t.Errorf("row %d: read %+v, wrote %+v", i, b, a)
		}
	}
}

// TestReadSchemaVersion1 reads files in the version 1 layout (without the
// quality-control columns): the new fields come back as NaN and "".
func TestReadSchemaVersion1(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "obs.arrow")
	obsRaw([]int32{0, 1}, []float64{1, 2}, []float64{1, 1}, []bool{false, true}, []string{"", "qc"}).Write(t, p)
	obs, m, err := ReadObservations(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 1 || len(obs.InnovationZ) != 2 || !math.IsNaN(obs.InnovationZ[0]) || !math.IsNaN(obs.ProjectionZ[1]) {
		t.Errorf("version %d, scores %v %v", m.SchemaVersion, obs.InnovationZ, obs.ProjectionZ)
	}
	p = filepath.Join(dir, "diag.arrow")
	diagRaw([]int32{0, 1}, []int32{4, 4}, []int32{0, 4}).Write(t, p)
	rows, _, err := ReadDiagnostics(p)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(rows[1].QCNIS) || !math.IsNaN(rows[1].ProjectionThreshold) || rows[1].BatchFlag != "" {
		t.Errorf("version 1 row read as %+v", rows[1])
	}
}

// TestDiagnosticsHyperparameters writes and reads the schema version 3
// columns of the filter's hyperparameters (NaN = none), and reads a
// version 2 table, which lacks them, as NaN.
func TestDiagnosticsHyperparameters(t *testing.T) {
	dir := t.TempDir()
	rows := []DiagRow{
		{Cycle: 1, NObs: 3, Inflation: 1.02, ObsVariance: math.NaN(), VarianceScale: math.NaN(), HybridWeight: math.NaN()},
		{Cycle: 2, NObs: 3, Inflation: 1.0731, ObsVariance: 1.9375, VarianceScale: 0.96875, HybridWeight: 0.9875},
		{Cycle: 3, Inflation: math.NaN(), ObsVariance: math.NaN(), VarianceScale: 0.96875, HybridWeight: 0.995},
	}
	for i := range rows {
		rows[i].QCNIS, rows[i].QCNISThreshold, rows[i].Projection, rows[i].ProjectionThreshold = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	p := filepath.Join(dir, "diag.arrow")
	diagRoundTrip(t, p, rows, func(r *DiagRow) { r.VarianceScale = 1 }, func(r *DiagRow) { r.HybridWeight = 1 })

	p = filepath.Join(dir, "diag-v2.arrow")
	diagRawVersion(2, []int32{0, 1}, []int32{4, 4}, []int32{0, 1}).Write(t, p)
	old, m, err := ReadDiagnostics(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 2 || len(old) != 2 || !math.IsNaN(old[1].Inflation) || !math.IsNaN(old[1].ObsVariance) || !math.IsNaN(old[1].VarianceScale) || old[1].QCNIS != 0 {
		t.Errorf("version %d row read as %+v", m.SchemaVersion, old[1])
	}
	// A version 3 table without the new columns is damaged, not old.
	r := diagRawVersion(2, []int32{0}, []int32{4}, []int32{0})
	r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, "3")
	r.Write(t, p)
	if _, _, err := ReadDiagnostics(p); err == nil || !strings.Contains(err.Error(), `"inflation"`) {
		t.Errorf("version 3 table without inflation: got %v", err)
	}
	// Versions 3 and 4 have the hyperparameters but no hybrid weight; a
	// version 5 table without it is damaged.
	for _, version := range []int{3, 4} {
		diagRawVersion(version, []int32{0, 1}, []int32{4, 4}, []int32{0, 1}).Write(t, p)
		old, m, err := ReadDiagnostics(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.SchemaVersion != version || len(old) != 2 || old[1].Inflation != 0 || !math.IsNaN(old[1].HybridWeight) {
			t.Errorf("version %d row read as %+v", m.SchemaVersion, old[1])
		}
	}
	r = diagRawVersion(4, []int32{0}, []int32{4}, []int32{0})
	r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, "5")
	r.Write(t, p)
	if _, _, err := ReadDiagnostics(p); err == nil || !strings.Contains(err.Error(), `"hybrid_weight"`) {
		t.Errorf("version 5 table without hybrid_weight: got %v", err)
	}
}

// TestDiagnosticsOODStatistics writes and reads the schema version 6
// columns of the manifold test and the innovation chart (NaN = not run),
// reads a version 5 table, which lacks them, as NaN, and rejects a
// version 6 table without them.
func TestDiagnosticsOODStatistics(t *testing.T) {
	dir := t.TempDir()
	nan := math.NaN()
	rows := []DiagRow{
		{Cycle: 1, Manifold: 0.41, ManifoldThreshold: 1, InnovationChart: nan},
		{Cycle: 2, Manifold: 3.7, ManifoldThreshold: 2.58, InnovationChart: 1.25},
		{Cycle: 3, Manifold: nan, ManifoldThreshold: nan, InnovationChart: 0.5},
	}
	for i := range rows {
		r := &rows[i]
		r.QCNIS, r.QCNISThreshold, r.Projection, r.ProjectionThreshold = nan, nan, nan, nan
		r.Inflation, r.ObsVariance, r.VarianceScale, r.HybridWeight = nan, nan, nan, nan
	}
	p := filepath.Join(dir, "diag.arrow")
	diagRoundTrip(t, p, rows, func(r *DiagRow) { r.Manifold = 1 }, func(r *DiagRow) { r.ManifoldThreshold = 2 }, func(r *DiagRow) { r.InnovationChart = 1 })
	diagRawVersion(5, []int32{0, 1}, []int32{4, 4}, []int32{0, 1}).Write(t, p)
	old, m, err := ReadDiagnostics(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 5 || len(old) != 2 || old[1].HybridWeight != 0 || !math.IsNaN(old[1].Manifold) || !math.IsNaN(old[1].ManifoldThreshold) || !math.IsNaN(old[1].InnovationChart) {
		t.Errorf("version %d row read as %+v", m.SchemaVersion, old[1])
	}
	r := diagRawVersion(5, []int32{0}, []int32{4}, []int32{0})
	r.MD = filetest.WithMD(r.MD, arrowfile.KeySchemaVersion, "6")
	r.Write(t, p)
	if _, _, err := ReadDiagnostics(p); err == nil || !strings.Contains(err.Error(), `"manifold"`) {
		t.Errorf("version 6 table without manifold: got %v", err)
	}
}

// diagRoundTrip writes rows to p and reads them back, of the current
// schema version and the same bit for bit, and checks that Same sees
// each change to the second row.
func diagRoundTrip(t *testing.T, p string, rows []DiagRow, changes ...func(*DiagRow)) {
	t.Helper()
	if err := WriteDiagnostics(p, rows, Meta{}); err != nil {
		t.Fatal(err)
	}
	back, m, err := ReadDiagnostics(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != SchemaVersion || len(back) != len(rows) {
		t.Fatalf("version %d, %d rows", m.SchemaVersion, len(back))
	}
	for i := range rows {
		if !back[i].Same(rows[i]) {
			t.Errorf("row %d: read %+v, wrote %+v", i, back[i], rows[i])
		}
	}
	for _, f := range changes {
		other := rows[1]
		f(&other)
		if other.Same(rows[1]) {
			t.Errorf("Same ignores a change: %+v", other)
		}
	}
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

func TestDiagRowSame(t *testing.T) {
	a := DiagRow{Cycle: 1, RMSEF: math.NaN(), QCNIS: math.NaN(), BatchFlag: "x"}
	b := a
	if !a.Same(b) {
		t.Error("a row with NaNs differs from its copy")
	}
	for _, mod := range []func(r *DiagRow){
		func(r *DiagRow) { r.RMSEF = 1 },
		func(r *DiagRow) { r.QCNIS = 0 },
		func(r *DiagRow) { r.BatchFlag = "" },
		func(r *DiagRow) { r.NFlagged = 1 },
		func(r *DiagRow) { r.Time = math.Copysign(0, -1) },
	} {
		c := a
		mod(&c)
		if a.Same(c) {
			t.Errorf("%+v reported the same as %+v", c, a)
		}
	}
}

// TestSameAsStored: a row computed now matches what a file of an older
// schema version stored of it, whose reader returns the columns it lacks
// as NaN (and an empty flag); the columns it has still count.
func TestSameAsStored(t *testing.T) {
	p := filepath.Join(t.TempDir(), "diag.arrow")
	for _, tc := range []struct {
		version int
		absent  func(*DiagRow) // sets columns the version lacks
	}{
		{1, func(r *DiagRow) { r.QCNIS, r.BatchFlag, r.Inflation, r.Manifold = 7, "innovation", 1.05, 0.5 }},
		{2, func(r *DiagRow) { r.Inflation, r.HybridWeight, r.Manifold = 1.05, 0.99, 0.5 }},
		{3, func(r *DiagRow) { r.HybridWeight, r.InnovationChart = 0.99, 0.25 }},
		{4, func(r *DiagRow) { r.HybridWeight, r.InnovationChart = 0.99, 0.25 }},
		{5, func(r *DiagRow) { r.Manifold, r.ManifoldThreshold, r.InnovationChart = 0.5, 1, 0.25 }},
	} {
		// The raw writer stores 0 in every column of the version.
		diagRawVersion(tc.version, []int32{0}, []int32{4}, []int32{0}).Write(t, p)
		stored, m, err := ReadDiagnostics(p)
		if err != nil || m.SchemaVersion != tc.version {
			t.Fatalf("version %d: %v, read version %d", tc.version, err, m.SchemaVersion)
		}
		now := DiagRow{NObs: 4}
		tc.absent(&now)
		if !now.SameAsStored(stored[0], tc.version) || now.Same(stored[0]) {
			t.Errorf("version %d: the row as stored does not match, or matches in full", tc.version)
		}
		now.RMSEA = 0.3
		if now.SameAsStored(stored[0], tc.version) {
			t.Errorf("version %d: another rmse_a matches", tc.version)
		}
	}
	row := DiagRow{NObs: 4, Manifold: 0.5}
	if row.SameAsStored(DiagRow{NObs: 4, Manifold: math.NaN()}, SchemaVersion) {
		t.Error("a column of the current version is left out")
	}
}
