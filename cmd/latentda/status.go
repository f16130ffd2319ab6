package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/workflows"
)

func newStatusCmd() *cobra.Command {
	var o connOptions
	var output string
	cmd := &cobra.Command{
		Use:   "status RUN",
		Short: "Show a run's cycle, phase and latest diagnostics (status query), or a live run's schedule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRunID("run", args[0]); err != nil {
				return err
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			conn, err := o.connect(cmd.Context(), false)
			if err != nil {
				// No server to ask: the run's directory still tells.
				if st, derr := dirStatus(o.StateDir, args[0]); derr == nil {
					return printIndexedStatus(cmd.OutOrStdout(), output, st, "the run directory "+st.RunDir+": no Temporal server answered ("+err.Error()+")")
				}
				return err
			}
			defer conn.Close()
			ctx, wfID := cmd.Context(), temporalclient.WorkflowID(args[0])
			st, err := temporalclient.QueryStatus(ctx, conn.Client, wfID)
			if err == nil {
				st.Failure = failure(ctx, conn.Client, wfID, st.Phase)
				return printStatus(cmd.OutOrStdout(), output, st)
			}
			// A live run is a schedule of cycle workflows.
			if desc, serr := conn.Client.ScheduleClient().GetHandle(ctx, args[0]).Describe(ctx); serr == nil {
				v, err := temporalclient.DescribeSchedule(args[0], desc)
				if err != nil {
					return err
				}
				temporalclient.CycleOutcomes(ctx, conn.Client, v.Recent)
				return printScheduleView(cmd.OutOrStdout(), output, v)
			}
			// Busy or closed long ago: fall back to the search attributes.
			slog.Debug("status query not answered; showing the search attributes", "error", err)
			if st, err = temporalclient.DescribeStatus(ctx, conn.Client, wfID); err != nil {
				var nf *serviceerror.NotFound
				if !errors.As(err, &nf) {
					return fmt.Errorf("status of %s: %w", args[0], err)
				}
				// No workflow: a run made in process, or a live run whose
				// schedule was deleted, still has its directory.
				st, derr := dirStatus(o.StateDir, args[0])
				if derr != nil {
					return fmt.Errorf("status of %s: no run or live run of that ID on the server, and %w", args[0], derr)
				}
				return printIndexedStatus(cmd.OutOrStdout(), output, st, "the run directory "+st.RunDir+": the server has no run or live run of that ID (a run made --in-process, or a live run whose schedule was deleted)")
			}
			st.Failure = failure(ctx, conn.Client, wfID, st.Phase)
			return printIndexedStatus(cmd.OutOrStdout(), output, st, searchAttributesSource)
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// failure returns the workflow error of a run whose phase is failed, as
// the CLI prints errors, or "".
func failure(ctx context.Context, c client.Client, wfID, phase string) string {
	if phase != workflows.PhaseFailed {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.GetWorkflow(ctx, wfID, "").Get(ctx, nil); err != nil {
		return temporalclient.Display(err)
	}
	return ""
}

// dirStatus is a run's status from its directory under stateDir: the
// latest cycle of its diagnostics and the observations flagged in all.
func dirStatus(stateDir, run string) (workflows.Status, error) {
	root, err := existingRunDir(stateDir, run)
	if err != nil {
		return workflows.Status{}, err
	}
	dir := store.RunDir{Root: root}
	st := workflows.Status{RunID: filepath.Base(root), Phase: "unknown", RunDir: root}
	rows, _, err := store.ReadDiagnostics(dir.Diagnostics())
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil // no cycle committed yet
	}
	if err != nil {
		return st, err
	}
	for _, r := range rows {
		st.Summary.Flagged += r.NFlagged
	}
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		st.Cycle, st.Last.RMSEa = last.Cycle, last.RMSEA
	}
	return st, nil
}

// searchAttributesSource says where a status from the search attributes
// comes from.
const searchAttributesSource = "search attributes: the run did not answer the status query (busy, or closed)"

// indexedStatus is what a run that did not answer the status query
// (busy, closed, or not on the server) shows: the search attributes' or
// its directory's few fields, and which it is.
type indexedStatus struct {
	RunID   string  `json:"run_id"`
	Phase   string  `json:"phase"`
	Cycle   int     `json:"cycle"`
	RMSEa   float64 `json:"rmse_a_latest"`
	Flagged int     `json:"flagged"`
	Failure string  `json:"failure,omitempty"`
	Source  string  `json:"source"`
}

func printIndexedStatus(w io.Writer, format string, st workflows.Status, source string) error {
	v := indexedStatus{RunID: st.RunID, Phase: st.Phase, Cycle: st.Cycle, RMSEa: st.Last.RMSEa, Flagged: st.Summary.Flagged, Failure: st.Failure, Source: source}
	if format == "json" {
		return json.NewEncoder(w).Encode(v)
	}
	rmse := strconv.FormatFloat(v.RMSEa, 'f', 4, 64) + " (latest)"
	if v.Cycle == 0 {
		rmse = "- (no cycle yet)"
	}
	_, err := fmt.Fprintf(w, "run       %s\nphase     %s\ncycle     %d\nrmse_a    %s\nflagged   %d observations\nsource    %s\n",
		v.RunID, v.Phase, v.Cycle, rmse, v.Flagged, v.Source)
	if err == nil && v.Failure != "" {
		_, err = fmt.Fprintf(w, "failed    %s\n", v.Failure)
	}
	return err
}

func printStatus(w io.Writer, format string, st workflows.Status) error {
	if format == "json" {
		return json.NewEncoder(w).Encode(st)
	}
	return temporalclient.WriteStatus(w, st)
}

func newRunsCmd() *cobra.Command {
	var o connOptions
	var output string
	listRuns := func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(output); err != nil {
			return err
		}
		conn, err := o.connect(cmd.Context(), false)
		if err != nil {
			return err
		}
		defer conn.Close()
		rows, err := temporalclient.ListRuns(cmd.Context(), conn.Client, o.Namespace)
		if err != nil {
			return err
		}
		if output == "json" {
			return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
		}
		return writeRuns(cmd.OutOrStdout(), rows)
	}
	// `latentda runs` alone lists the runs, as `latentda runs list` does:
	// listing is what a plural noun asks for, and the only thing runs does.
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List assimilation runs (the same as 'runs list')",
		Args:  cobra.NoArgs,
		RunE:  listRuns,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs with their model, status, cycle and latest RMSE (search attributes), and live runs (schedules)",
		Args:  cobra.NoArgs,
		RunE:  listRuns,
	}
	for _, c := range []*cobra.Command{cmd, list} {
		o.addFlags(c, false)
		c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	}
	cmd.AddCommand(list)
	return cmd
}

func newSignalCmd() *cobra.Command {
	var o connOptions
	cmd := &cobra.Command{
		Use:       "signal RUN pause|resume|stop",
		Short:     "Pause, resume, or stop a run after its current batch of cycles",
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{workflows.SignalPause, workflows.SignalResume, workflows.SignalStop},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRunID("run", args[0]); err != nil {
				return err
			}
			sig := args[1]
			if sig != workflows.SignalPause && sig != workflows.SignalResume && sig != workflows.SignalStop {
				return usageError{fmt.Errorf("unknown signal %q (want pause, resume or stop)", sig)}
			}
			conn, err := o.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx := cmd.Context()
			err = conn.Client.SignalWorkflow(ctx, temporalclient.WorkflowID(args[0]), "", sig, nil)
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				// A live run is a schedule, which has no signals.
				if _, serr := conn.Client.ScheduleClient().GetHandle(ctx, args[0]).Describe(ctx); serr == nil {
					return usageError{fmt.Errorf("signal %s: %s is a live run (a schedule); use latentda schedule pause|unpause|delete %s", args[0], args[0], args[0])}
				}
				return fmt.Errorf("signal %s: no running run of that ID", args[0])
			}
			if err != nil {
				return fmt.Errorf("signal %s: %w", args[0], err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "sent %s to run %s: it acts after the current batch of cycles (latentda status %s)\n", args[1], args[0], args[0])
			return err
		},
	}
	o.addFlags(cmd, false)
	return cmd
}

// writeRuns prints the runs as a table; a run with no cycle done yet shows
// "-" for its cycle and RMSE, not zeros.
func writeRuns(w io.Writer, rows []temporalclient.RunRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tkind\tmodel\tstatus\tcycle\trmse_a (latest cycle)\tstarted")
	for _, r := range rows {
		cycle, rmse := "-", "-"
		if r.Cycle > 0 {
			cycle, rmse = strconv.FormatInt(r.Cycle, 10), strconv.FormatFloat(r.RMSEa, 'f', 4, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Model, r.Status, cycle, rmse, r.Started)
	}
	return tw.Flush()
}
