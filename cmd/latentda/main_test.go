package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latentda/latentda/internal/temporalclient"
)

// execute runs the CLI with args and returns stdout, stderr and the error.
func execute(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return runCLI(context.Background(), args...)
}

// runCLI runs the CLI with args until it returns or ctx ends.
func runCLI(ctx context.Context, args ...string) (string, string, error) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "--config is required"},
		{[]string{"run", "-c", "x.yaml", "-o", "yaml"}, "--output must be text or json"},
		{[]string{"run", "-c", "x.yaml", "--batch-cycles", "0"}, "--batch-cycles"},
		{[]string{"run", "-c", "x.yaml", "--activity", "remote"}, "--activity"},
		{[]string{"bench", "dapper", "--cycles", "-1"}, "--cycles"},
		{[]string{"bench", "dapper", "--match", "("}, "--match"},
		{[]string{"bench", "dapper", "--match", "nothing-matches"}, "selects no row"},
		{[]string{"bench", "dapper", "--prior-sd", "0.1"}, "--prior-sd: a finite number > 0, with --inflation adaptive"},
		{[]string{"bench", "dapper", "--inflation", "adaptive", "--prior-sd", "-1"}, "--prior-sd"},
		{[]string{"bench", "latent", "--filter", "nope"}, "unknown filter"},
		{[]string{"bench", "latent", "--regime", "tropical"}, "unknown regime"},
		{[]string{"bench", "latent", "--seeds", "0"}, "--seeds, --tune-seeds, --first-seed and --parallel must be >= 1"},
		{[]string{"bench", "latent", "--cycles", "-5"}, "cycles >= 0"},
		{[]string{"bench", "latent", "--tuned", "inflation"}, "--tuned"},
		{[]string{"run", "--no-such-flag"}, "unknown flag"},
		{[]string{"signal", "r1", "explode"}, "unknown signal"},
		{[]string{"report"}, "one run directory or run ID"},
		{[]string{"report", "r1", "--format", "pdf"}, "--format must be md or html"},
		{[]string{"report", "r1", "--field-cycles", "0"}, "--field-cycles"},
		{[]string{"compare", "../a", "b"}, "must be a plain name"},
		{[]string{"compare", "a", "/etc"}, "must be a plain name"},
		{[]string{"compare", "a", ".."}, "must be a plain name"},
		{[]string{"compare", "a", "b", "-o", "csv"}, "--output must be text or json"},
		{[]string{"rerun", "a/../../b", "--from-cycle", "1"}, "must be a plain name"},
		{[]string{"status"}, "accepts 1 arg(s), received 0"},
		{[]string{"compare", "a"}, "accepts 2 arg(s), received 1"},
		{[]string{"bogus"}, `unknown command "bogus" for "latentda"`},
		{[]string{"runs", "bogus"}, `unknown command "bogus" for "latentda runs"`},
		{[]string{"schedule", "bogus"}, `unknown command "bogus" for "latentda schedule"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := execute(t, tc.args...)
			var ue usageError
			if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}

func TestBadConfigIsRejectedBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(cfg, []byte("name: x\ncycles: 10\nmodel: {name: lorenz63}\nfilter: {method: etkf, members: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := execute(t, "run", "-c", cfg, "--state-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "filter.members: need at least 2 members") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "temporal")); !os.IsNotExist(err) {
		t.Error("a server was started for an invalid config")
	}
}

func TestBenchDapperJSON(t *testing.T) {
	out, _, err := execute(t, "bench", "dapper", "--match", "L63 ETKF", "--cycles", "400", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"case", "method", "rmse_a", "reference"} {
		if _, ok := row[k]; !ok {
			t.Errorf("JSON row has no %q: %s", k, out)
		}
	}
	if row["case"] != "L63" || row["reference"] != 0.6 {
		t.Errorf("unexpected row %v", row)
	}
}

// TestRunInProcess runs the example L63 config for a few cycles through the
// CLI without Temporal and checks the JSON summary and the files.
func TestRunInProcess(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/l63-etkf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "l63.yaml")
	short := strings.Replace(string(src), "cycles: 4000", "cycles: 120", 1)
	if err := os.WriteFile(cfg, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	// What a writer killed mid-write an hour ago left behind goes; a write
	// in progress (a young temporary file) stays.
	stale := filepath.Join(dir, "runs", "old", ".analysis.arrow.tmp-0123456789abcdef")
	young := filepath.Join(dir, "runs", "old", ".forecast.arrow.tmp-fedcba9876543210")
	for _, p := range []string{stale, young} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, then, then); err != nil {
		t.Fatal(err)
	}
	out, _, err := execute(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "t1", "--in-process", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file: %v, want it removed", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("young temporary file: %v, want it kept", err)
	}
	var s temporalclient.RunSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s.RunID != "t1" || s.Cycles != 120 || s.Scored != 56 || !(s.RMSEa > 0 && s.RMSEa < 2) {
		t.Errorf("unexpected summary %+v", s)
	}
	if _, err := os.Stat(s.Diagnostics); err != nil {
		t.Errorf("diagnostics file: %v", err)
	}
	if s.RunDir != filepath.Join(dir, "runs", "t1") {
		t.Errorf("run dir %q", s.RunDir)
	}
	// The same command again finds every cycle done and says so.
	again, stderr, err := execute(t, "run", "-c", cfg, "--state-dir", dir, "--run-id", "t1", "--in-process", "-o", "json")
	var s2 temporalclient.RunSummary
	if err == nil {
		err = json.Unmarshal([]byte(again), &s2)
	}
	if err != nil || s2.RMSEa != s.RMSEa || !strings.Contains(stderr, "run t1: all 120 cycles are in "+s.RunDir+" already") {
		t.Errorf("the run again: %v\n%s\nstderr:\n%s", err, again, stderr)
	}
	// With no server to ask, status reads the run's directory.
	st, stderr, err := execute(t, "status", "t1", "--state-dir", dir, "--address", "127.0.0.1:1")
	if err != nil || !strings.Contains(st, "cycle     120\n") || !strings.Contains(st, "source    the run directory "+s.RunDir+": no Temporal server answered") {
		t.Errorf("status without a server: %v\n%s%s", err, st, stderr)
	}
	// A name that cannot start a run ID is fine with --run-id.
	spaced := filepath.Join(dir, "spaced.yaml")
	if err := os.WriteFile(spaced, []byte(strings.Replace(short, "name: l63-etkf", "name: my run", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := execute(t, "run", "-c", spaced, "--state-dir", dir, "--run-id", "spaced", "--in-process"); err != nil {
		t.Errorf("a config named 'my run' with --run-id: %v\n%s", err, stderr)
	}
}
