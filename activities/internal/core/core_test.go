package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// flipped is a value stored once and then damaged by a flipped bit.
const flipped = 1.2345678901234567

// TestReadStateNamesACorruptFile: a non-finite value in a stored analysis
// or truth is a damaged file, and so is a finite value whose checksum
// does not match, reported as ErrBadState with the file's path, not left
// for the filter to call a divergence or to use.
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
		// A flipped bit that leaves the value finite: the checksum.
		{"bit flipped in the analysis", store.FieldAnalysis, flipped, "record batch 0: checksum mismatch"},
		{"bit flipped in the truth", store.FieldTruth, flipped, "record batch 0: checksum mismatch"},
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
			if tc.value == flipped {
				path := map[store.Field]string{store.FieldAnalysis: dir.Analysis(3), store.FieldTruth: dir.Truth(3)}[tc.bad]
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				i := bytes.Index(data, binary.LittleEndian.AppendUint64(nil, math.Float64bits(flipped)))
				data[i] ^= 1
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
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

// TestPausesAtTheFirstOfAChartsAlarms: with pause_on_batch the run pauses
// after every cycle a one-cycle batch test flags, but after a chart's
// alarm only at the first cycle of its run: not when the cycle before
// raised the same alarm, and again when a one-cycle test or another chart
// joins in. The manifold test is a chart only with manifold_memory.
func TestPausesAtTheFirstOfAChartsAlarms(t *testing.T) {
	chart := config.Config{OOD: &config.OODConfig{PauseOnBatch: true, ManifoldMemory: 30}}
	oneCycle := config.Config{OOD: &config.OODConfig{PauseOnBatch: true}}
	off := config.Config{OOD: &config.OODConfig{ManifoldMemory: 30}}
	for _, tc := range []struct {
		name       string
		cfg        config.Config
		flag, prev string
		want       bool
	}{
		{"not flagged", chart, "", "manifold", false},
		{"pause_on_batch off", off, "innovation", "", false},
		{"no ood section", config.Config{}, "innovation", "", false},
		{"one-cycle test", chart, "innovation", "", true},
		{"one-cycle test again", chart, "innovation", "innovation", true},
		{"manifold chart starts", chart, "manifold", "", true},
		{"manifold chart goes on", chart, "manifold", "manifold", false},
		{"manifold chart goes on beside a one-cycle test before", chart, "manifold", "innovation+manifold", false},
		{"a one-cycle test joins the chart", chart, "innovation+manifold", "manifold", true},
		{"innovation chart starts beside the manifold chart", chart, "manifold+innovation_chart", "manifold", true},
		{"both charts go on", chart, "manifold+innovation_chart", "innovation_chart+manifold", false},
		{"one-cycle manifold test", oneCycle, "manifold", "manifold", true},
		{"innovation chart goes on", oneCycle, "innovation_chart", "innovation_chart", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pauses(tc.cfg, experiment.CycleStats{BatchFlag: tc.flag}, tc.prev); got != tc.want {
				t.Errorf("flag %q after %q: pauses %v, want %v", tc.flag, tc.prev, got, tc.want)
			}
		})
	}
}
