package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/workflows"
)

func newStatusCmd() *cobra.Command {
	var o connOptions
	var output string
	cmd := &cobra.Command{
		Use:   "status RUN",
		Short: "Show a run's cycle, phase and latest diagnostics (status query)",
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
				return err
			}
			defer conn.Close()
			wfID := temporalclient.WorkflowID(args[0])
			st, err := temporalclient.QueryStatus(cmd.Context(), conn.Client, wfID)
			if err != nil {
				// Busy or closed long ago: fall back to the search attributes.
				fmt.Fprintf(cmd.ErrOrStderr(), "status query not answered (%v); showing the search attributes\n", err)
				if st, err = temporalclient.DescribeStatus(cmd.Context(), conn.Client, wfID); err != nil {
					return fmt.Errorf("status of %s: %w", args[0], err)
				}
			}
			return printStatus(cmd.OutOrStdout(), output, st)
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printStatus(w io.Writer, format string, st workflows.Status) error {
	if format == "json" {
		return json.NewEncoder(w).Encode(st)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "run       %s\nphase     %s\ncycle     %d/%d\nrmse_a    %.4f (latest), %.4f (mean of %d scored)\nspread_a  %.4f\n",
		st.RunID, st.Phase, st.Cycle, st.Cycles, st.Last.RMSEa, st.Summary.RMSEa, st.Summary.Scored, st.Last.SpreadA)
	b.WriteString(hyperparameters(st.Last))
	fmt.Fprintf(&b, "flagged   %d observations, %d batches (latest cycle: %d of %d%s)\nrun dir   %s\n",
		st.Summary.Flagged, st.Summary.FlaggedBatches, st.Last.NFlagged, st.Last.NObs, batchNote(st.Last.BatchFlag), st.RunDir)
	_, err := io.WriteString(w, b.String())
	if err == nil && st.PauseReason != "" {
		_, err = fmt.Fprintf(w, "paused    %s\n", st.PauseReason)
	}
	return err
}

// hyperparameters are the status lines of the latest cycle's inflation
// and estimated observation-error variances, each left out when the cycle
// has none (a forecast-only cycle, no observations.variance_estimate).
func hyperparameters(st experiment.CycleStats) string {
	var b strings.Builder
	if st.Inflation != 0 {
		fmt.Fprintf(&b, "inflation %.4f (latest cycle)\n", st.Inflation)
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

func newRunsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "List assimilation runs"}
	var o connOptions
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs with their model, status, cycle and latest RMSE (search attributes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			conn, err := o.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := conn.Client.ListWorkflow(cmd.Context(), &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: o.Namespace,
				Query:     "WorkflowType = 'Assimilation'",
			})
			if err != nil {
				return fmt.Errorf("list runs: %w", err)
			}
			type row struct {
				WorkflowID string  `json:"workflow_id"`
				Model      string  `json:"model"`
				Status     string  `json:"status"`
				Cycle      int64   `json:"cycle"`
				RMSEa      float64 `json:"rmse_a"`
				Started    string  `json:"started"`
			}
			var rows []row
			for _, e := range resp.GetExecutions() {
				r := row{WorkflowID: e.GetExecution().GetWorkflowId(), Started: e.GetStartTime().AsTime().Format("2006-01-02 15:04:05Z")}
				fields := e.GetSearchAttributes().GetIndexedFields()
				decode := func(name string, v any) {
					if p, ok := fields[name]; ok {
						_ = converter.GetDefaultDataConverter().FromPayload(p, v)
					}
				}
				decode(workflows.AttrModel.GetName(), &r.Model)
				decode(workflows.AttrStatus.GetName(), &r.Status)
				decode(workflows.AttrCycle.GetName(), &r.Cycle)
				decode(workflows.AttrRMSEa.GetName(), &r.RMSEa)
				rows = append(rows, r)
			}
			if output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "workflow\tmodel\tstatus\tcycle\trmse_a\tstarted")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.4f\t%s\n", r.WorkflowID, r.Model, r.Status, r.Cycle, r.RMSEa, r.Started)
			}
			return tw.Flush()
		},
	}
	o.addFlags(list, false)
	list.Flags().StringVarP(&output, "output", "o", "text", "text or json")
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
			if err := conn.Client.SignalWorkflow(cmd.Context(), temporalclient.WorkflowID(args[0]), "", sig, nil); err != nil {
				return fmt.Errorf("signal %s: %w", args[0], err)
			}
			return nil
		},
	}
	o.addFlags(cmd, false)
	return cmd
}

func batchNote(flag string) string {
	if flag == "" {
		return ""
	}
	return ", batch flagged by " + flag
}
