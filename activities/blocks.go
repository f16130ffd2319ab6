package activities

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"

	"go.temporal.io/sdk/temporal"
	"gonum.org/v1/gonum/mat"

	"github.com/latentda/latentda/enkf"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// A cycle k with a block-wise LETKF (config filter.blocks) runs as
//
//	analysis(k-1) [, forecast parts] --PrepareBlocks--> truth(k), observations(k), forecast(k)
//	forecast(k), observations(k) --AnalyzeBlock[lo,hi) x K--> analysis-parts/points-lo-hi.arrow
//	parts --FinishBlocks--> analysis(k), diagnostics
//
// each block on any worker; FinishBlocks removes the parts. The files are
// those of a run without blocks,
// bit for bit (enkf.Filter.AnalyzeBlock is the whole analysis restricted to
// the block's grid points).

// extraPartPoints is the metadata key of an analysis part's grid range.
const extraPartPoints = "points"

// BlockInput asks for the analysis of grid points Lo..Hi-1 of cycle Cycle.
type BlockInput struct {
	RunID   string
	RunPath string
	Config  experiment.Config
	Cycle   int
	Lo, Hi  int
}

// PrepareBlocks advances the truth to cycle k, draws its observations,
// writes the forecast (assembled from the forecast parts of a fanned-out
// forecast, or forecast here), and writes the observations with the
// quality-control flags. A retry reuses the forecast.
func (a *Activities) PrepareBlocks(ctx context.Context, in CycleInput) error {
	dir, s, _, err := a.openBatch(in.RunPath, in.Config, in.Cycle, in.Cycle)
	if err != nil {
		return err
	}
	k := in.Cycle
	E, truth, err := readState(dir, s, k-1)
	if err != nil {
		return err
	}
	var progress atomic.Value
	progress.Store(k)
	defer keepAlive(ctx, &progress)()
	m := meta(in.RunID, s.Config, k)
	y := make([]float64, s.Op.OutDim())
	if err := observe(s, dir, m, truth, y, k); err != nil {
		return err
	}
	if fo := s.Config.Fanout(); fo != nil {
		if E, err = assemble(dir, s, m, in.RunID, k, fo.MembersPerTask); err != nil {
			return err
		}
	} else {
		if err := s.Forecast(E, k); err != nil {
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrDiverged, err)
		}
		if err := store.WriteEnsemble(dir.Forecast(k), E, m); err != nil {
			return fmt.Errorf("activities: %w", err)
		}
	}
	// The observations are stored with the quality-control decision beside
	// them, as in a whole cycle.
	obs := store.Observations{Values: y, Variances: s.R.Variances(), Positions: s.Op.Positions()}
	qc, _, err := checkObservations(s, E, obs, k)
	if err != nil {
		return err
	}
	if qc != nil {
		obs.Flagged, obs.Reasons, obs.InnovationZ, obs.ProjectionZ = qc.Flagged, qc.Reasons, qc.InnovationZ, qc.ProjectionZ
	}
	if err := store.WriteObservations(dir.Observations(k), obs, m); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	a.wrote(dir.Truth(k), dir.Observations(k), dir.Forecast(k))
	return nil
}

// checkObservations runs the quality control of cycle k's observations
// against its forecast E (none without an ood section) and returns it with
// the error variances the analysis uses. It is deterministic: every
// activity of a block-wise cycle that needs the decision runs it again.
func checkObservations(s *experiment.Setup, E *mat.Dense, obs store.Observations, k int) (*experiment.QCResult, []float64, error) {
	qc, err := s.CheckObservations(E, obs.Values, obs.Variances)
	if err != nil {
		return nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("activities: cycle %d: %v", k, err), ErrDiverged, err)
	}
	if qc == nil {
		return nil, obs.Variances, nil
	}
	return qc, qc.Variances, nil
}

// cycleInputs reads the forecast, observations and truth of cycle k and
// applies H to the forecast.
func cycleInputs(dir store.RunDir, s *experiment.Setup, k int) (E, HE *mat.Dense, obs store.Observations, truth []float64, err error) {
	if E, _, err = store.ReadEnsemble(dir.Forecast(k)); err != nil {
		return nil, nil, obs, nil, stateError(err)
	}
	if obs, _, err = store.ReadObservations(dir.Observations(k)); err != nil {
		return nil, nil, obs, nil, stateError(err)
	}
	if truth, _, err = store.ReadVector(dir.Truth(k)); err != nil {
		return nil, nil, obs, nil, stateError(err)
	}
	N, n, p := s.Config.Filter.Members, s.Model.Dim(), s.Op.OutDim()
	if r, c := E.Dims(); r != N || c != n || obs.Len() != p || len(truth) != n {
		return nil, nil, obs, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("activities: cycle %d: forecast %d×%d, %d observations, truth %d; config wants %d×%d, %d, %d", k, r, c, obs.Len(), len(truth), N, n, p, n), ErrBadState, nil)
	}
	HE = mat.NewDense(N, p, nil)
	for i := 0; i < N; i++ {
		s.Op.Apply(HE.RawRowView(i), E.RawRowView(i))
	}
	return E, HE, obs, truth, nil
}

// AnalyzeBlock runs the LETKF local analyses of grid points Lo..Hi-1 of
// cycle Cycle and writes them as a part. A retry reuses a finished part.
func (a *Activities) AnalyzeBlock(ctx context.Context, in BlockInput) error {
	dir, s, _, err := a.openBatch(in.RunPath, in.Config, in.Cycle, in.Cycle)
	if err != nil {
		return err
	}
	k := in.Cycle
	path := dir.AnalysisPart(k, in.Lo, in.Hi)
	if _, err := readPart(path, extraPartPoints, in.RunID, k, in.Lo, in.Hi, s.Config.Filter.Members, in.Hi-in.Lo); err == nil {
		return nil
	}
	E, HE, obs, _, err := cycleInputs(dir, s, k)
	if err != nil {
		return err
	}
	var progress atomic.Value
	progress.Store(k)
	defer keepAlive(ctx, &progress)()
	qc, rVar, err := checkObservations(s, E, obs, k)
	if err != nil {
		return err
	}
	part := mat.NewDense(s.Config.Filter.Members, max(in.Hi-in.Lo, 1), nil)
	if qc != nil && qc.Skipped {
		// The whole batch is rejected: the analysis is the forecast.
		part.Copy(E.Slice(0, s.Config.Filter.Members, in.Lo, in.Hi))
	} else if err := s.Filter.AnalyzeBlock(part, E, HE, obs.Values, rVar, in.Lo, in.Hi); err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("activities: cycle %d: %v", k, err), ErrDiverged, err)
	}
	if err := os.MkdirAll(dir.AnalysisParts(k), 0o777); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	m := meta(in.RunID, s.Config, k)
	m.Extra = map[string]string{extraPartPoints: partRange(in.Lo, in.Hi)}
	if err := store.WriteEnsemble(path, part, m); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	a.wrote(path)
	return nil
}

// FinishBlocks puts the block analyses of cycle k together into its
// analysis, scores the cycle as Setup.Analyze does, writes the diagnostics
// row and removes the parts. A retry after it finished reuses the cycle.
func (a *Activities) FinishBlocks(ctx context.Context, in CycleInput) (CyclesOutput, error) {
	k := in.Cycle
	dir, s, rows, err := a.openBatch(in.RunPath, in.Config, k, k)
	if err != nil {
		return CyclesOutput{}, err
	}
	if out, ok := finishedBatch(dir, s.Config, rows, CyclesInput{From: k, To: k}); ok {
		return out, removeParts(dir, k)
	}
	rows = trimRows(rows, k)
	E, HE, obs, truth, err := cycleInputs(dir, s, k)
	if err != nil {
		return CyclesOutput{}, err
	}
	st := experiment.CycleStats{Cycle: k, Time: s.Config.CycleTime(k), NObs: obs.Len()}
	scorer := enkf.NewScorer(s.Model.Dim())
	st.RMSEf, st.SpreadF = scorer.Score(E, truth)
	qc, rVar, err := checkObservations(s, E, obs, k)
	if err != nil {
		return CyclesOutput{}, err
	}
	if qc != nil {
		st.NFlagged, st.BatchFlag = qc.NFlagged(), qc.BatchFlag
	}
	if qc == nil || !qc.Skipped { // a skipped analysis has no innovation statistic, as in Setup.AnalyzeWith
		inno, err := s.Filter.Innovation(E, HE, obs.Values, rVar)
		if err != nil {
			return CyclesOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("activities: cycle %d: %v", k, err), ErrDiverged, err)
		}
		st.NIS, st.NISExpected = inno.NIS, inno.Expected
	}
	N := s.Config.Filter.Members
	for _, b := range s.Config.AnalysisBlocks() {
		P, err := readPart(dir.AnalysisPart(k, b[0], b[1]), extraPartPoints, in.RunID, k, b[0], b[1], N, b[1]-b[0])
		if err != nil {
			return CyclesOutput{}, stateError(err) // a missing part may not be visible here yet: retryable
		}
		E.Slice(0, N, b[0], b[1]).(*mat.Dense).Copy(P)
	}
	st.RMSEa, st.SpreadA = scorer.Score(E, truth)
	m := meta(in.RunID, s.Config, k)
	if err := store.WriteEnsemble(dir.Analysis(k), E, m); err != nil {
		return CyclesOutput{}, fmt.Errorf("activities: %w", err)
	}
	rows = append(rows, diagRow(st, qc))
	if err := store.WriteDiagnostics(dir.Diagnostics(), rows, m); err != nil {
		return CyclesOutput{}, fmt.Errorf("activities: %w", err)
	}
	a.wrote(dir.Analysis(k), dir.Diagnostics())
	var out CyclesOutput
	out.Sums.Add(st, s.Config.Scored(k))
	out.Last = st
	if pauses(s.Config, st) {
		out.PauseAt = k
	}
	return out, removeParts(dir, k)
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
