package temporalclient

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/latentda/latentda/workflows"
)

// RunSummary is what `latentda run` prints at the end of a run.
type RunSummary struct {
	RunID      string  `json:"run_id"`
	WorkflowID string  `json:"workflow_id"`
	Cycles     int     `json:"cycles"`
	Scored     int     `json:"scored"`
	RMSEa      float64 `json:"rmse_a"`
	RMSEf      float64 `json:"rmse_f"`
	SpreadA    float64 `json:"spread_a"`
	SpreadF    float64 `json:"spread_f"`
	NISRatio   float64 `json:"nis_ratio"`
	// Flagged observations and flagged batches (quality control).
	Flagged        int     `json:"flagged"`
	FlaggedBatches int     `json:"flagged_batches"`
	Stopped        bool    `json:"stopped"`
	RunDir         string  `json:"run_dir"`
	Diagnostics    string  `json:"diagnostics"`
	Seconds        float64 `json:"seconds"`
}

// Progress reports a run's progress on a writer (stderr): one line per
// cycle change, "cycle k/K  rmse_a …  elapsed …  remaining ~…", or, on a
// terminal, one line rewritten in place.
type Progress struct {
	w       io.Writer
	total   int
	start   time.Time
	inPlace bool
	last    int // the cycle last printed
	ended   int // the cycle whose in-place line Done ended
}

// NewProgress returns a Progress for a run of total cycles started at
// start, rewriting its line in place when w is a terminal.
func NewProgress(w io.Writer, total int, start time.Time) *Progress {
	return &Progress{w: w, total: total, start: start, inPlace: IsTerminal(w), last: -1}
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update reports that cycle cycle is done with analysis RMSE rmse; a
// cycle already reported is not printed again.
func (p *Progress) Update(cycle int, rmse float64) {
	if cycle == p.last || cycle <= 0 {
		return
	}
	p.last = cycle
	el := time.Since(p.start)
	rem := time.Duration(float64(el) * float64(p.total-cycle) / float64(cycle))
	line := fmt.Sprintf("cycle %d/%d  rmse_a %.4f  elapsed %s  remaining ~%s", cycle, p.total, rmse, el.Round(time.Second), rem.Round(time.Second))
	if p.inPlace {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// Done ends an in-place line, so that what follows starts on its own;
// calling it again does nothing until the next Update.
func (p *Progress) Done() {
	if p.inPlace && p.ended < p.last {
		fmt.Fprintln(p.w)
		p.ended = p.last
	}
}

// SummaryOf summarises a run's result; start is when the command started.
func SummaryOf(res workflows.Result, wfID string, start time.Time) RunSummary {
	s := res.Summary
	return RunSummary{
		RunID: res.RunID, WorkflowID: wfID, Cycles: s.Cycles, Scored: s.Scored,
		RMSEa: s.RMSEa, RMSEf: s.RMSEf, SpreadA: s.SpreadA, SpreadF: s.SpreadF, NISRatio: s.NISRatio,
		Flagged: s.Flagged, FlaggedBatches: s.FlaggedBatches,
		Stopped: res.Stopped, RunDir: res.RunDir, Diagnostics: res.Diagnostics,
		Seconds: time.Since(start).Seconds(),
	}
}

// WriteText writes s as `latentda run` prints it.
func (s RunSummary) WriteText(w io.Writer) error {
	workflow, stopped := s.WorkflowID, ""
	if workflow == "" {
		workflow = "none (run in process)"
	}
	if s.Stopped {
		stopped = ", stopped by a signal"
	}
	// Time means over the scored cycles; none before the burn-in ends.
	mean := func(v float64, digits int) string {
		if s.Scored == 0 {
			return "— (no cycle after the burn-in)"
		}
		return strconv.FormatFloat(v, 'f', digits, 64)
	}
	_, err := fmt.Fprintf(w, `run          %s
workflow     %s
cycles       %d (%d scored after burn-in)%s
rmse_a       %s
rmse_f       %s
spread_a     %s
nis ratio    %s
flagged      %d observations, %d batches
run dir      %s
diagnostics  %s
time         %.1fs
`, s.RunID, workflow, s.Cycles, s.Scored, stopped, mean(s.RMSEa, 4), mean(s.RMSEf, 4), mean(s.SpreadA, 4), mean(s.NISRatio, 3), s.Flagged, s.FlaggedBatches, s.RunDir, s.Diagnostics, s.Seconds)
	if err == nil && s.Scored > 0 && s.NISRatio > divergedNISRatio {
		_, err = fmt.Fprintf(w, "warning      the innovations are %.3g times what the ensemble spread expects: the filter has lost the truth or its spread collapsed; give it more inflation (filter.inflation, or adaptive)\n", s.NISRatio)
	}
	return err
}

// divergedNISRatio is the time-mean NIS ratio above which a run's summary
// warns: a consistent filter has about 1, the DAPPER set-ups 1.0–1.7,
// and a filter that lost the truth 10 or more.
const divergedNISRatio = 3
