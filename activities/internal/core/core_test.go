package core

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// TestReadStateNamesACorruptFile: a non-finite value in a stored analysis
// or truth is a damaged file, reported as ErrBadState with the file's path,
// not left for the filter to call a divergence.
func TestReadStateNamesACorruptFile(t *testing.T) {
	cfg, err := config.Parse([]byte("name: nan\nseed: 1\ncycles: 4\nmodel: {name: lorenz96, nx: 8}\nfilter: {method: etkf, members: 4, inflation: 1.02}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := experiment.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		bad          store.Field
		value        float64
		wantInReason string
	}{
		{"nan analysis", store.FieldAnalysis, math.NaN(), "row 2 variable 5 is NaN"},
		{"inf truth", store.FieldTruth, math.Inf(-1), "row 0 variable 5 is -Inf"},
		{"finite", "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := store.RunDir{Root: filepath.Join(t.TempDir(), "run")}
			if err := dir.MkdirCycle(3); err != nil {
				t.Fatal(err)
			}
			E := mat.NewDense(4, 8, nil)
			truth := make([]float64, 8)
			switch tc.bad {
			case store.FieldAnalysis:
				E.Set(2, 5, tc.value)
			case store.FieldTruth:
				truth[5] = tc.value
			}
			if err := store.WriteEnsemble(dir.Analysis(3), E, store.Meta{RunID: "nan", Cycle: 3}); err != nil {
				t.Fatal(err)
			}
			if err := store.WriteVector(dir.Truth(3), truth, store.Meta{RunID: "nan", Cycle: 3}); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadState(dir, s, 3)
			if tc.bad == "" {
				if err != nil {
					t.Fatalf("finite state: %v", err)
				}
				return
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != ErrBadState || !app.NonRetryable() {
				t.Fatalf("err = %v, want a non-retryable %s", err, ErrBadState)
			}
			path := dir.Analysis(3)
			if tc.bad == store.FieldTruth {
				path = dir.Truth(3)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tc.wantInReason) {
				t.Errorf("err = %q, want the file %s and %q", msg, path, tc.wantInReason)
			}
		})
	}
}
