package activities

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/activities/internal/core"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// A cycle k with a block-wise LETKF (orchestration.blocks) runs as
//
//	analysis(k-1) [, forecast parts] --PrepareBlocks--> truth(k), observations(k), forecast(k)
//	forecast(k), observations(k) --AnalyzeBlock[lo,hi) x K--> analysis-parts/points-lo-hi.arrow
//	parts --FinishBlocks--> analysis(k), diagnostics
//
// each block on any worker; FinishBlocks removes the parts. The files are
// those of a run without blocks, bit for bit (enkf.Filter.AnalyzeBlock is the whole analysis restricted to
// the block's grid points).

// BlockInput asks for the analysis of grid points Lo..Hi-1 of cycle Cycle.
type BlockInput struct {
	RunID   string
	RunPath string
	Config  config.Config
	Cycle   int
	Lo, Hi  int
}

// PrepareBlocks advances the truth to cycle k, draws its observations,
// writes the forecast (assembled from the forecast parts of a fanned-out
// forecast, or forecast here), and writes the observations with the
// quality-control flags. A retry reuses the forecast.
func (a *Activities) PrepareBlocks(ctx context.Context, in SplitCycleInput) error {
	b, _, err := a.env(ctx).OpenBatch(in.RunID, in.RunPath, in.Config, in.Cycle, in.Cycle)
	if err != nil {
		return err
	}
	k := in.Cycle
	E, truth, err := core.ReadState(b.Dir, b.Setup, k-1)
	if err != nil {
		return err
	}
	var progress atomic.Value
	progress.Store(k)
	defer core.KeepAlive(ctx, &progress)()
	parts := 0
	if fo := b.Setup.Config.Fanout(); fo != nil {
		parts = fo.MembersPerTask
	}
	c, E, err := a.env(ctx).Prepare(b.Setup, b.Dir, nil, in.RunID, E, truth, k, core.Twin, parts)
	if err != nil {
		return err
	}
	// The observations are stored with the quality-control decision beside
	// them, as in a whole cycle.
	if _, err := b.Setup.Screen(c, E); err != nil {
		return core.Diverged(err)
	}
	if err := store.WriteObservations(b.Dir.Observations(k), c.Obs, core.Meta(in.RunID, b.Setup.Config, k)); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	a.env(ctx).Wrote(b.Dir.Truth(k), b.Dir.Observations(k), b.Dir.Forecast(k))
	return nil
}

// readCycle reads the forecast, observations and truth of cycle k that
// PrepareBlocks wrote.
func readCycle(dir store.RunDir, s *experiment.Setup, k int) (*experiment.Cycle, *mat.Dense, error) {
	c := &experiment.Cycle{K: k}
	E, _, err := store.ReadEnsemble(dir.Forecast(k))
	if err != nil {
		return nil, nil, core.StateError(err)
	}
	if c.Obs, _, err = store.ReadObservations(dir.Observations(k)); err != nil {
		return nil, nil, core.StateError(err)
	}
	if c.Truth, _, err = store.ReadVector(dir.Truth(k)); err != nil {
		return nil, nil, core.StateError(err)
	}
	N, n, p := s.Config.Filter.Members, s.Model.Dim(), s.Op.OutDim()
	if r, cols := E.Dims(); r != N || cols != n || c.Obs.Len() != p || len(c.Truth) != n {
		return nil, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: cycle %d: forecast %d×%d, %d observations, truth %d; config wants %d×%d, %d, %d", k, r, cols, c.Obs.Len(), len(c.Truth), N, n, p, n), ErrBadState, nil)
	}
	return c, E, nil
}

// AnalyzeBlock runs the LETKF local analyses of grid points Lo..Hi-1 of
// cycle Cycle and writes them as a part. A retry reuses a finished part.
func (a *Activities) AnalyzeBlock(ctx context.Context, in BlockInput) error {
	b, _, err := a.env(ctx).OpenBatch(in.RunID, in.RunPath, in.Config, in.Cycle, in.Cycle)
	if err != nil {
		return err
	}
	k, N := in.Cycle, b.Setup.Config.Filter.Members
	path := b.Dir.AnalysisPart(k, in.Lo, in.Hi)
	if _, err := core.ReadPart(path, core.ExtraPartPoints, in.RunID, k, in.Lo, in.Hi, N, in.Hi-in.Lo); err == nil {
		return nil
	}
	c, E, err := readCycle(b.Dir, b.Setup, k)
	if err != nil {
		return err
	}
	var progress atomic.Value
	progress.Store(k)
	defer core.KeepAlive(ctx, &progress)()
	part := mat.NewDense(N, max(in.Hi-in.Lo, 1), nil)
	if err := b.Setup.AnalyzeBlock(part, c, E, in.Lo, in.Hi); err != nil {
		return core.Diverged(err)
	}
	if err := os.MkdirAll(b.Dir.AnalysisParts(k), 0o777); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	m := core.Meta(in.RunID, b.Setup.Config, k)
	m.Extra = map[string]string{core.ExtraPartPoints: core.PartRange(in.Lo, in.Hi)}
	if err := store.WriteEnsemble(path, part, m); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	a.env(ctx).Wrote(path)
	return nil
}

// FinishBlocks puts the block analyses of cycle k together into its
// analysis, scores the cycle as a whole cycle is scored
// (experiment.Setup.ScoreBlocks), writes the diagnostics row and removes
// the parts. A retry after it finished reuses the cycle.
func (a *Activities) FinishBlocks(ctx context.Context, in SplitCycleInput) (CyclesOutput, error) {
	k := in.Cycle
	b, done, err := a.env(ctx).OpenBatch(in.RunID, in.RunPath, in.Config, k, k)
	if err != nil {
		return CyclesOutput{}, err
	}
	if done {
		return CyclesOutput(b.Summary), removeParts(b.Dir, k)
	}
	c, E, err := readCycle(b.Dir, b.Setup, k)
	if err != nil {
		return CyclesOutput{}, err
	}
	N := b.Setup.Config.Filter.Members
	var partErr error // reading the parts: retryable or not, as stateError says
	err = b.Setup.ScoreBlocks(c, E, func(E *mat.Dense) error {
		for _, bl := range b.Setup.Config.AnalysisBlocks() {
			P, err := core.ReadPart(b.Dir.AnalysisPart(k, bl[0], bl[1]), core.ExtraPartPoints, in.RunID, k, bl[0], bl[1], N, bl[1]-bl[0])
			if err != nil {
				partErr = core.StateError(err) // a missing part may not be visible here yet: retryable
				return partErr
			}
			E.Slice(0, N, bl[0], bl[1]).(*mat.Dense).Copy(P)
		}
		return nil
	})
	switch {
	case partErr != nil:
		return CyclesOutput{}, partErr
	case err != nil:
		return CyclesOutput{}, core.Diverged(err)
	}
	if _, err := b.Add(c); err != nil {
		return CyclesOutput{}, err
	}
	if err := store.WriteEnsemble(b.Dir.Analysis(k), E, core.Meta(in.RunID, b.Setup.Config, k)); err != nil {
		return CyclesOutput{}, fmt.Errorf("activities: %w", err)
	}
	a.env(ctx).Wrote(b.Dir.Analysis(k))
	if err := b.Commit(); err != nil {
		return CyclesOutput(b.Summary), err
	}
	return CyclesOutput(b.Summary), removeParts(b.Dir, k)
}

// removeParts removes the forecast and analysis parts of a finished cycle.
func removeParts(dir store.RunDir, k int) error {
	for _, p := range []string{dir.ForecastParts(k), dir.AnalysisParts(k)} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
	}
	return nil
}
