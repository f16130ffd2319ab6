package workflows

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/statecmp"
)

// recorder is a driver that records the calls it gets and reports every
// cycle asked for as done.
type recorder struct{ calls []string }

func (r *recorder) done(from, to int) activities.CyclesOutput {
	var out activities.CyclesOutput
	for k := from; k <= to; k++ {
		st := experiment.CycleStats{Cycle: k}
		out.Sums.Add(st, true)
		out.Last = st
	}
	return out
}

func (r *recorder) initialize(activities.InitInput) (activities.InitOutput, error) {
	r.calls = append(r.calls, "Initialize")
	return activities.InitOutput{Next: 1}, nil
}

func (r *recorder) runCycles(in activities.CyclesInput) (activities.CyclesOutput, error) {
	r.calls = append(r.calls, fmt.Sprintf("RunCycles %d..%d", in.From, in.To))
	return r.done(in.From, in.To), nil
}

func (r *recorder) forecastMembers(ins []activities.MembersInput) error {
	for _, in := range ins {
		r.calls = append(r.calls, fmt.Sprintf("ForecastMembers %d %d..%d", in.Cycle, in.Lo, in.Hi))
	}
	return nil
}

func (r *recorder) analyzeCycle(in activities.SplitCycleInput) (activities.CyclesOutput, error) {
	r.calls = append(r.calls, fmt.Sprintf("AnalyzeCycle %d", in.Cycle))
	return r.done(in.Cycle, in.Cycle), nil
}

func (r *recorder) prepareBlocks(in activities.SplitCycleInput) error {
	r.calls = append(r.calls, fmt.Sprintf("PrepareBlocks %d", in.Cycle))
	return nil
}

func (r *recorder) analyzeBlocks(ins []activities.BlockInput) error {
	for _, in := range ins {
		r.calls = append(r.calls, fmt.Sprintf("AnalyzeBlock %d %d..%d", in.Cycle, in.Lo, in.Hi))
	}
	return nil
}

func (r *recorder) finishBlocks(in activities.SplitCycleInput) (activities.CyclesOutput, error) {
	r.calls = append(r.calls, fmt.Sprintf("FinishBlocks %d", in.Cycle))
	return r.done(in.Cycle, in.Cycle), nil
}

// TestCycleLoopFollowsOrchestration: the loop runs the batches the
// orchestration section asks for, whatever the driver.
func TestCycleLoopFollowsOrchestration(t *testing.T) {
	cfg := config.Config{Name: "t", Cycles: 2, Model: config.ModelConfig{Name: "lorenz96", Nx: 8},
		Filter: config.FilterConfig{Method: "letkf", Members: 5, LocRadius: 2}}
	fanout := &config.FanoutConfig{MembersPerTask: 2}
	for _, tc := range []struct {
		name string
		orch *config.Orchestration
		want []string
	}{
		{"whole cycles", nil, []string{"Initialize", "RunCycles 1..2"}},
		{"fan-out", &config.Orchestration{Fanout: fanout}, []string{"Initialize",
			"ForecastMembers 1 0..2", "ForecastMembers 1 2..4", "ForecastMembers 1 4..5", "AnalyzeCycle 1",
			"ForecastMembers 2 0..2", "ForecastMembers 2 2..4", "ForecastMembers 2 4..5", "AnalyzeCycle 2"}},
		{"blocks", &config.Orchestration{Blocks: 2}, []string{"Initialize",
			"PrepareBlocks 1", "AnalyzeBlock 1 0..4", "AnalyzeBlock 1 4..8", "FinishBlocks 1",
			"PrepareBlocks 2", "AnalyzeBlock 2 0..4", "AnalyzeBlock 2 4..8", "FinishBlocks 2"}},
		{"blocks with fan-out", &config.Orchestration{Blocks: 2, Fanout: fanout}, []string{"Initialize",
			"ForecastMembers 1 0..2", "ForecastMembers 1 2..4", "ForecastMembers 1 4..5", "PrepareBlocks 1", "AnalyzeBlock 1 0..4", "AnalyzeBlock 1 4..8", "FinishBlocks 1",
			"ForecastMembers 2 0..2", "ForecastMembers 2 2..4", "ForecastMembers 2 4..5", "PrepareBlocks 2", "AnalyzeBlock 2 0..4", "AnalyzeBlock 2 4..8", "FinishBlocks 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{RunID: "r", RunPath: "runs/r", Config: cfg, BatchCycles: 50}
			in.Config.Orchestration = tc.orch
			var r recorder
			if err := initialize(&r, &in); err != nil {
				t.Fatal(err)
			}
			batches := 0
			_, err := cycleLoop(&r, &in, func(int) (bool, error) { return false, nil }, func(_ activities.CyclesOutput, err error) error {
				batches++
				return err
			})
			if err != nil || in.Next != 3 || in.Sums.Cycles != 2 {
				t.Fatalf("loop ended with next %d, %d cycles, error %v", in.Next, in.Sums.Cycles, err)
			}
			if !slices.Equal(r.calls, tc.want) {
				t.Errorf("calls\n%q\nwant\n%q", r.calls, tc.want)
			}
		})
	}
}

// TestRunInProcessHonoursOrchestration: an in-process run with fan-out and
// blocks runs their activities (no parts are left) and writes the files of
// a run of whole cycles, bit for bit (config.yaml aside: it records the
// orchestration).
func TestRunInProcessHonoursOrchestration(t *testing.T) {
	cfg := config.Config{Name: "t", Cycles: 4, Seed: 3,
		Model:        config.ModelConfig{Name: "lorenz96", Nx: 20, Noise: 0.01},
		Observations: config.ObsConfig{Operator: "every-k", Every: 2},
		Filter:       config.FilterConfig{Method: "letkf", Members: 7, Inflation: 1.04, LocRadius: 3, BatchSize: 2},
	}
	run := func(orch *config.Orchestration) (Result, string) {
		t.Helper()
		c := cfg
		c.Orchestration = orch
		root := t.TempDir()
		res, err := RunInProcess(context.Background(), &activities.Activities{StateRoot: root},
			Input{RunID: "r", RunPath: "runs/r", Config: c, BatchCycles: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res, filepath.Join(root, "runs", "r")
	}
	want, wantDir := run(nil)
	for _, orch := range []*config.Orchestration{
		{Fanout: &config.FanoutConfig{MembersPerTask: 3}},
		{Blocks: 3},
		{Blocks: 2, Fanout: &config.FanoutConfig{MembersPerTask: 4}},
	} {
		t.Run(fmt.Sprintf("blocks %d, fan-out %v", orch.Blocks, orch.Fanout != nil), func(t *testing.T) {
			got, dir := run(orch)
			if got.Summary != want.Summary {
				t.Errorf("summary %+v, whole cycles %+v", got.Summary, want.Summary)
			}
			sameRunFiles(t, wantDir, dir)
		})
	}
}

// sameRunFiles checks that run directories want and got hold the same
// state, config.yaml aside, bit for bit, whatever the layout of the files
// (batch files, or a directory per cycle for fanned-out and block-wise
// cycles).
func sameRunFiles(t *testing.T, want, got string) {
	t.Helper()
	w, wtemps := statecmp.Contents(t, want)
	g, gtemps := statecmp.Contents(t, got)
	delete(w, "config.yaml")
	delete(g, "config.yaml")
	for _, d := range statecmp.Diff(w, g) {
		t.Error(d)
	}
	if len(wtemps)+len(gtemps) > 0 {
		t.Errorf("temporary files left: %v %v", wtemps, gtemps)
	}
}
