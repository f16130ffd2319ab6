// Package statetest holds what the tests of the activity packages share:
// checks of Temporal application errors, the adaptive run set-up, and snapshots of a state
// directory to compare runs bit for bit or to check that a retry left
// finished files alone.
package statetest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/statecmp"
)

// WantAppError checks that err is a non-retryable Temporal application error
// of type typ whose message contains every string in contains, and returns it.
func WantAppError(t testing.TB, err error, typ string, contains ...string) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("got error %v (%T), want a *temporal.ApplicationError of type %s", err, err, typ)
	}
	if appErr.Type() != typ {
		t.Errorf("application error type %q, want %q (error: %v)", appErr.Type(), typ, err)
	}
	if !appErr.NonRetryable() {
		t.Errorf("application error %v is retryable; retrying cannot fix a %s error", err, typ)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	return appErr
}

// Snapshot reads every file under root into memory, keyed by its path
// relative to root. Left-over temporary files of an atomic write would show
// up here too (and fail the comparisons).
func Snapshot(t testing.TB, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return files
}

// DiffSnapshots reports the files that are missing, extra or differ in b
// compared with a.
func DiffSnapshots(a, b map[string][]byte) []string { return statecmp.Diff(a, b) }

// Contents is the state of the run in root cycle by cycle, whatever the
// layout of its files (statecmp.Contents), with the temporary files of
// atomic writes as entries "temporary file: <path>", so that they fail
// the comparisons.
func Contents(t testing.TB, root string) map[string][]byte {
	t.Helper()
	files, temps := statecmp.Contents(t, root)
	for _, p := range temps {
		files["temporary file: "+p] = nil
	}
	return files
}

// FileInfos stats every file under root.
func FileInfos(t testing.TB, root string) map[string]fs.FileInfo {
	t.Helper()
	m := map[string]fs.FileInfo{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := os.Stat(path)
		m[path] = fi
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return m
}

// CheckUntouched reports files that were rewritten since before was taken.
// Writes are atomic (a new file renamed over the old one, created while the
// old one still holds its inode), so one rewrite gives a new inode even when
// it lands within the file system's timestamp granularity; the modification
// time catches repeated rewrites, which may recycle the inode number.
func CheckUntouched(t testing.TB, root string, before map[string]fs.FileInfo, what string) {
	t.Helper()
	after := FileInfos(t, root)
	for path, fi := range after {
		old, ok := before[path]
		switch {
		case !ok:
			t.Errorf("%s created %s", what, path)
		case !os.SameFile(old, fi) || !old.ModTime().Equal(fi.ModTime()):
			t.Errorf("%s rewrote %s (mtime %v -> %v)", what, path, old.ModTime(), fi.ModTime())
		}
	}
	for path := range before {
		if _, ok := after[path]; !ok {
			t.Errorf("%s removed %s", what, path)
		}
	}
}

// AdaptiveConfig is the L96 ETKF of the DAPPER table over the given cycles
// with adaptive inflation (xn 2) and the observation-error variance
// estimated online, globally or per channel, from observations whose true
// noise variance (2) is not the configured one (1).
func AdaptiveConfig(cycles int, perChannel bool) config.Config {
	xn := 2.0
	cfg := experiment.DapperConfigs(cycles)["l96-etkf"]
	cfg.Filter.Inflation = config.AdaptiveInflation
	cfg.Filter.Adaptive = &config.AdaptiveConfig{XN: &xn}
	cfg.BurnIn = 0.5
	cfg.Anomaly = &config.AnomalyConfig{NoiseVariance: 2}
	cfg.Observations.VarianceEstimate = &config.VarianceEstimateConfig{Method: "desroziers", PerChannel: perChannel, Memory: 10, Warmup: 3}
	return cfg
}

// AdaptiveCase is a config with estimates carried from cycle to cycle.
type AdaptiveCase struct {
	Name       string
	Config     config.Config
	PerChannel bool // one variance estimate per observation
	Innovation bool // the adaptive inflation is carried (inflation.arrow)
}

// Batchings are three ways to run cycles 1..cycles in activities: one
// batch, two batches split after cycle 13, and one cycle per batch. A run
// whose carried state is stored right gives the same files in each.
func Batchings(cycles int) [][][2]int {
	single := make([][2]int, cycles)
	for k := range single {
		single[k] = [2]int{k + 1, k + 1}
	}
	return [][][2]int{{{1, cycles}}, {{1, 13}, {14, cycles}}, single}
}

// AdaptiveCases are AdaptiveConfig, globally and per channel, and
// InnovationConfig with the global and the local scheme, the local one
// also with the EnKF-N on top, and with its inflation averaged
// (enkf_n_memory, carried in enkf-n.arrow), over the given cycles.
func AdaptiveCases(cycles int) []AdaptiveCase {
	withEnKFN := InnovationConfig(cycles, "l96-letkf", config.SchemeLocalInnovation)
	withEnKFN.Filter.Adaptive.EnKFN = true
	withMemory := InnovationConfig(cycles, "l96-letkf", config.SchemeLocalInnovation)
	memory := 5
	withMemory.Filter.Adaptive.EnKFN, withMemory.Filter.Adaptive.EnKFNMemory = true, &memory
	return []AdaptiveCase{
		{"EnKF-N, global R", AdaptiveConfig(cycles, false), false, false},
		{"EnKF-N, R per channel", AdaptiveConfig(cycles, true), true, false},
		{"innovation, global R", InnovationConfig(cycles, "l96-enkf", ""), false, true},
		{"local innovation, global R", InnovationConfig(cycles, "l96-letkf", config.SchemeLocalInnovation), false, true},
		{"local innovation with the EnKF-N, global R", withEnKFN, false, true},
		{"local innovation with the EnKF-N averaged, global R", withMemory, false, true},
	}
}

// InnovationConfig is AdaptiveConfig's global estimate with the filter of
// the DAPPER table's row dapper, whose adaptive inflation is an
// innovation scheme carried from cycle to cycle (prior_sd 0.3, so that it
// moves within a few cycles): the written scheme, or "" for the method's
// default (the stochastic EnKF's is the global innovation scheme).
func InnovationConfig(cycles int, dapper, scheme string) config.Config {
	cfg := AdaptiveConfig(cycles, false)
	sd := 0.3
	row := experiment.DapperConfigs(cycles)[dapper]
	cfg.Name, cfg.Filter = row.Name, row.Filter
	cfg.Filter.Inflation = config.AdaptiveInflation
	cfg.Filter.Adaptive = &config.AdaptiveConfig{Scheme: scheme, PriorSD: &sd}
	return cfg
}
