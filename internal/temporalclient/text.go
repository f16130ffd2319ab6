package temporalclient

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/workflows"
)

// The text forms of what the status and schedule commands print.

// WriteStatus writes a run's status as `latentda status` prints it.
func WriteStatus(w io.Writer, st workflows.Status) error {
	var b strings.Builder
	mean := fmt.Sprintf("%.4f (mean of %d scored)", st.Summary.RMSEa, st.Summary.Scored)
	if st.Summary.Scored == 0 {
		mean = "no mean yet (no cycle scored after the burn-in)"
	}
	fmt.Fprintf(&b, "run       %s\nphase     %s\ncycle     %d/%d\nrmse_a    %.4f (latest), %s\nspread_a  %.4f\n",
		st.RunID, st.Phase, st.Cycle, st.Cycles, st.Last.RMSEa, mean, st.Last.SpreadA)
	b.WriteString(hyperparameters(st.Last))
	b.WriteString(oodStatistics(st.Last))
	fmt.Fprintf(&b, "flagged   %d observations, %d batches (latest cycle: %d of %d%s)\nrun dir   %s\n",
		st.Summary.Flagged, st.Summary.FlaggedBatches, st.Last.NFlagged, st.Last.NObs, batchNote(st.Last.BatchFlag), st.RunDir)
	_, err := io.WriteString(w, b.String())
	if err == nil && st.PauseReason != "" {
		_, err = fmt.Fprintf(w, "paused    %s\n", st.PauseReason)
	}
	if err == nil && st.Failure != "" {
		_, err = fmt.Fprintf(w, "failed    %s\n", st.Failure)
	}
	return err
}

// hyperparameters are the status lines of the latest cycle's inflation,
// hybrid weight and estimated observation-error variances, each left out
// when the cycle has none (a forecast-only cycle, no hybrid covariance, no
// observations.variance_estimate).
func hyperparameters(st experiment.CycleStats) string {
	var b strings.Builder
	if st.Inflation != 0 {
		fmt.Fprintf(&b, "inflation %.4f (latest cycle)\n", st.Inflation)
	}
	if st.HybridWeight != 0 {
		fmt.Fprintf(&b, "weight    %.4f (hybrid weight α of the ensemble's covariance, latest cycle)\n", st.HybridWeight)
	}
	if st.VarianceScale != 0 {
		fmt.Fprintf(&b, "R scale   %.4f (estimated factor on the observation-error variances, latest cycle", st.VarianceScale)
		if st.ObsVariance != 0 {
			fmt.Fprintf(&b, "; mean variance %.4f", st.ObsVariance)
		}
		b.WriteString(")\n")
	}
	return b.String()
}

// oodStatistics is the status line of the latest cycle's manifold test
// and innovation chart statistics, left out when it has neither.
func oodStatistics(st experiment.CycleStats) string {
	var parts []string
	if st.Manifold != 0 {
		parts = append(parts, fmt.Sprintf("manifold %.4g (threshold %.4g)", st.Manifold, st.ManifoldThreshold))
	}
	if st.InnovationChart != 0 {
		parts = append(parts, fmt.Sprintf("innovation chart %.4g (threshold 1)", st.InnovationChart))
	}
	if len(parts) == 0 {
		return ""
	}
	return "tests     " + strings.Join(parts, ", ") + " (latest cycle)\n"
}

func batchNote(flag string) string {
	if flag == "" {
		return ""
	}
	return ", batch flagged by " + flag
}

// WriteText writes v as `latentda schedule describe` prints it.
func (v ScheduleView) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "schedule\t%s\nrun\t%s\nobservations\t%s\n", v.ID, v.RunID, v.ObsDir)
	fmt.Fprintf(tw, "cycles\t1..%d, cycle k due at %s + k·%s; waits %s for observations\n", v.Cycles, v.Start.Format(time.RFC3339), v.Interval, v.Wait)
	fmt.Fprintf(tw, "policy\toverlap %s, catch-up window %s, pause on failure %v\n", v.Overlap, v.CatchupWindow, v.PauseOnFailure)
	fmt.Fprintf(tw, "paused\t%v\nnote\t%s\n", v.Paused, v.Note)
	fmt.Fprintf(tw, "actions\t%d started, %d missed the catch-up window, %d skipped by overlap\n", v.Actions, v.MissedCatchup, v.SkippedOverlap)
	fmt.Fprintf(tw, "running\t%s\n", strings.Join(v.Running, " "))
	for _, t := range v.Recent {
		fmt.Fprintf(tw, "recent\tcycle %d\t%s\t%s\t%s\n", t.Cycle, t.Nominal.Format(time.RFC3339), t.Outcome, t.WorkflowID)
	}
	for _, t := range v.Next {
		fmt.Fprintf(tw, "next\tcycle %d\t%s\n", t.Cycle, t.Nominal.Format(time.RFC3339))
	}
	return tw.Flush()
}
