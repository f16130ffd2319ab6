package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/latentda/latentda/store/internal/arrowfile"
)

// RunDir gives the deterministic paths of a run's state files:
//
//	<Root>/config.yaml
//	<Root>/diagnostics.arrow
//	<Root>/cycles/000012/forecast.arrow
//	<Root>/cycles/000012/analysis.arrow
//	<Root>/cycles/000012/observations.arrow
//	<Root>/cycles/000012/truth.arrow
//	<Root>/cycles/000012/variance-scales.arrow (observations.variance_estimate)
//	<Root>/cycles/000012/inflation.arrow (filter.adaptive.scheme innovation)
//	<Root>/cycles/000012/forecast-parts/members-000000-000007.arrow (fan-out, transient)
//
// Cycle numbers are zero-padded to 6 digits so that the directories sort in
// cycle order (cycles past 999999 get more digits). Cycle numbers must not
// be negative.
type RunDir struct {
	Root string
}

// cyclesDir holds the cycle directories.
func (d RunDir) cyclesDir() string { return filepath.Join(d.Root, "cycles") }

// CycleDir is the directory of cycle k: Root/cycles/000012.
func (d RunDir) CycleDir(k int) string {
	return filepath.Join(d.cyclesDir(), fmt.Sprintf("%06d", k))
}

// cycleFiles names the file of each field in a cycle directory.
var cycleFiles = map[Field]string{
	FieldTruth: "truth.arrow", FieldForecast: "forecast.arrow", FieldAnalysis: "analysis.arrow",
	FieldLatentForecast: "latent_forecast.arrow", FieldLatentAnalysis: "latent_analysis.arrow",
	FieldVarianceScales: "variance-scales.arrow", FieldInflation: "inflation.arrow", FieldManifoldChart: "manifold-chart.arrow",
	FieldInnovationChart: "innovation-chart.arrow", FieldHybridWeight: "hybrid-weight.arrow", FieldEnKFN: "enkf-n.arrow",
}

// FirstCycle is the lowest cycle that has a directory: 0 for a run that
// started from its own initial ensemble, K for one started from cycle K
// of another run; −1 when there is none yet.
func (d RunDir) FirstCycle() (int, error) {
	entries, err := os.ReadDir(d.cyclesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("store: %w", err)
	}
	first := -1
	for _, e := range entries {
		// Names sort by cycle only up to 999999, so compare them all.
		if k, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() && k >= 0 && (first < 0 || k < first) {
			first = k
		}
	}
	return first, nil
}

// CycleFile is the file of field f in the directory of cycle k.
func (d RunDir) CycleFile(f Field, k int) string { return filepath.Join(d.CycleDir(k), cycleFiles[f]) }

// Forecast is the forecast (prior) ensemble of cycle k.
func (d RunDir) Forecast(k int) string { return d.CycleFile(FieldForecast, k) }

// ForecastParts is the directory of cycle k's fanned-out forecast batches;
// it is removed once the cycle's analysis is written.
func (d RunDir) ForecastParts(k int) string { return filepath.Join(d.CycleDir(k), "forecast-parts") }

// ForecastPart is the forecast of members lo..hi−1 of cycle k, written by
// one fan-out activity: forecast-parts/members-000008-000015.arrow.
func (d RunDir) ForecastPart(k, lo, hi int) string {
	return filepath.Join(d.ForecastParts(k), fmt.Sprintf("members-%06d-%06d.arrow", lo, hi-1))
}

// AnalysisParts is the directory of the block analyses of cycle k.
func (d RunDir) AnalysisParts(k int) string { return filepath.Join(d.CycleDir(k), "analysis-parts") }

// AnalysisPart is the analysis of grid points lo..hi−1 of cycle k, written
// by one block activity: analysis-parts/points-000000-000249.arrow.
func (d RunDir) AnalysisPart(k, lo, hi int) string {
	return filepath.Join(d.AnalysisParts(k), fmt.Sprintf("points-%06d-%06d.arrow", lo, hi-1))
}

// Analysis is the analysis (posterior) ensemble of cycle k.
func (d RunDir) Analysis(k int) string { return d.CycleFile(FieldAnalysis, k) }

// Observations is the observations file of cycle k.
func (d RunDir) Observations(k int) string {
	return filepath.Join(d.CycleDir(k), "observations.arrow")
}

// Truth is the true state of cycle k (twin experiments only).
func (d RunDir) Truth(k int) string { return d.CycleFile(FieldTruth, k) }

// LatentForecast is cycle k's forecast latent codes (latent runs only), an
// ensemble file of N members × d.
func (d RunDir) LatentForecast(k int) string { return d.CycleFile(FieldLatentForecast, k) }

// LatentAnalysis is cycle k's analysis latent codes.
func (d RunDir) LatentAnalysis(k int) string { return d.CycleFile(FieldLatentAnalysis, k) }

// VarianceScales is the estimate of the observation-error variances
// after cycle k (factors on the given variances), which cycle k+1 uses.
func (d RunDir) VarianceScales(k int) string { return d.CycleFile(FieldVarianceScales, k) }

// Inflation is the adaptive inflation after cycle k (cycle k+1's start).
func (d RunDir) Inflation(k int) string { return d.CycleFile(FieldInflation, k) }

// Diagnostics is the run's diagnostics table, one row per cycle.
func (d RunDir) Diagnostics() string { return filepath.Join(d.Root, "diagnostics.arrow") }

// Config is the run's configuration file.
func (d RunDir) Config() string { return filepath.Join(d.Root, "config.yaml") }

// MkdirCycle creates the directory of cycle k (and Root and Root/cycles if
// needed) and fsyncs its parents, so that files written into it survive a
// crash. It is idempotent.
func (d RunDir) MkdirCycle(k int) error {
	dir := d.CycleDir(k)
	if k < 0 {
		return &arrowfile.FileError{Op: "mkdir", Path: dir, Err: fmt.Errorf("negative cycle %d", k)}
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return &arrowfile.FileError{Op: "mkdir", Path: dir, Err: err}
	}
	root := d.Root
	if root == "" {
		root = "."
	}
	for _, p := range []string{filepath.Join(root, "cycles"), root} {
		if err := arrowfile.SyncDir(p); err != nil {
			return &arrowfile.FileError{Op: "mkdir", Path: dir, Err: err}
		}
	}
	return nil
}
