package bench

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/latentda/latentda/experiment"
	"gonum.org/v1/gonum/mat"
)

// TestTrace: a traced run writes the header and one line per cycle; the
// scored lines' mean rmse_a and spread_a are the run's, and a run
// without an adaptive inflation leaves carried_inflation empty.
func TestTrace(t *testing.T) {
	cfg := experiment.DapperConfigs(30)["l96-etkf"]
	cfg.BurnIn = 0.5 // 10 cycles
	s, err := experiment.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	r := timedCycles(context.Background(), s, nil, &buf)
	if r.err != nil || r.fail != nil {
		t.Fatal(r.err, r.fail)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if got := lines[0] + "\n"; got != traceHeader {
		t.Fatalf("header %q, want %q", got, traceHeader)
	}
	if len(lines) != cfg.Cycles+1 {
		t.Fatalf("%d lines, want the header and %d cycles", len(lines), cfg.Cycles)
	}
	var rmse, spread float64
	var scored int
	for i, line := range lines[1:] {
		f := strings.Split(line, ",")
		if len(f) != 10 || f[0] != strconv.Itoa(i+1) || f[8] != "" {
			t.Fatalf("line %d: %q", i+1, line)
		}
		if f[1] != "true" {
			continue
		}
		scored++
		a, errA := strconv.ParseFloat(f[3], 64)
		sp, errS := strconv.ParseFloat(f[5], 64)
		opp, errO := strconv.ParseFloat(f[9], 64)
		if err := errors.Join(errA, errS, errO); err != nil || opp < 0 || opp > 1 {
			t.Fatalf("line %d: %q: %v", i+1, line, err)
		}
		rmse, spread = rmse+a, spread+sp
	}
	sum := r.sum
	if scored != 20 || math.Abs(rmse/20-sum.RMSEa) > 1e-5*sum.RMSEa || math.Abs(spread/20-sum.SpreadA) > 1e-5*sum.SpreadA {
		t.Errorf("%d scored lines, mean rmse_a %v spread_a %v; the run's %v and %v", scored, rmse/20, spread/20, sum.RMSEa, sum.SpreadA)
	}
	if err := timedCycles(context.Background(), s, nil, failingWriter{}).fail; err == nil {
		t.Error("a trace that cannot be written does not fail the run")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestOppositeSign: the share of the points beyond the threshold at which
// the ensemble mean has the other sign than the truth.
func TestOppositeSign(t *testing.T) {
	E := mat.NewDense(2, 4, []float64{
		2, -1, 0.5, 3,
		2, -3, -0.1, -4,
	}) // means 2, -2, 0.2, -0.5
	for _, tc := range []struct {
		truth     []float64
		threshold float64
		want      float64
	}{
		{[]float64{1.5, -2, 0.1, 2}, 1, 1.0 / 3}, // point 3 is within the threshold
		{[]float64{-1.5, 2, 0.1, 2}, 1, 1},
		{[]float64{1.5, -2, -5, -2}, 1, 1.0 / 4},
		{[]float64{0.5, -0.5, 0.1, 0.9}, 1, 0}, // no point beyond it
	} {
		if got := oppositeSign(E, tc.truth, tc.threshold); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("truth %v: %v, want %v", tc.truth, got, tc.want)
		}
	}
}
