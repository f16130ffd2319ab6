package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/latentda/latentda/activities/live"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/workflows"
)

// parseStart parses --start (RFC 3339, whole seconds), or returns now
// truncated to every when it is empty.
func parseStart(s string, every time.Duration) (time.Time, error) {
	if s == "" {
		return time.Now().UTC().Truncate(every), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--start %q: want an RFC 3339 time such as 2026-11-25T22:00:00Z", s)}
	}
	if t.Truncate(time.Second) != t {
		return time.Time{}, usageError{fmt.Errorf("--start %q: must be whole seconds (schedules give nominal times in seconds)", s)}
	}
	return t.UTC(), nil
}

// checkInterval checks an interval flag: at least 1 s and whole seconds.
func checkInterval(flag string, d time.Duration) error {
	if d < time.Second || d%time.Second != 0 {
		if d == 0 {
			return usageError{fmt.Errorf("%s is required: whole seconds >= 1s, such as 10s", flag)}
		}
		return usageError{fmt.Errorf("%s must be whole seconds >= 1s, got %v", flag, d)}
	}
	return nil
}

func newScheduleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Live runs: Temporal schedules that run one assimilation cycle per tick",
		Long: `A live run assimilates observations as they arrive in an observation directory,
one cycle per schedule tick. Cycle k is due at START + k·INTERVAL; it waits up to
--wait for its observations, then runs forecast-only. A backfill of a cycle that
ran forecast-only assimilates its late observations and re-runs the cycles after
it. See docs/operations.md.

These commands talk to a running server (latentda dev, or --address).`,
	}
	cmd.AddCommand(newScheduleCreateCmd(), newScheduleListCmd(), newScheduleDescribeCmd(),
		newScheduleSimpleCmd("pause", "Pause a schedule (no new cycles start; running ones finish)", "paused; no cycle starts until it is unpaused"),
		newScheduleSimpleCmd("unpause", "Unpause a schedule", "unpaused; cycles start again at their times"),
		newScheduleSimpleCmd("trigger", "Start the cycle due now at once (queued behind a running one)", "one cycle queued to run now"),
		newScheduleSimpleCmd("delete", "Delete a schedule (the run's state stays)", "deleted; no more cycles start, and the run's directory stays"),
		newScheduleBackfillCmd())
	return cmd
}

// scheduleCreateOptions holds the flags of `schedule create`.
type scheduleCreateOptions struct {
	connOptions
	ConfigPath     string
	RunID          string
	ObsDir         string
	Start          string
	Interval       time.Duration
	Wait           time.Duration
	Poll           time.Duration
	Overlap        string
	CatchupWindow  time.Duration
	PauseOnFailure bool
	Paused         bool
	Limits         config.Limits

	cfg   config.Config
	start time.Time
	// waitSet and pollSet say that --wait and --poll were given: a 0
	// written is used or refused, not replaced by the default.
	waitSet, pollSet bool
}

func newScheduleCreateCmd() *cobra.Command {
	o := &scheduleCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create SCHEDULE_ID -c CONFIG --obs-dir DIR --interval D",
		Short: "Create a live run's schedule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.waitSet, o.pollSet = cmd.Flags().Changed("wait"), cmd.Flags().Changed("poll")
			if err := o.Complete(args[0]); err != nil {
				return err
			}
			return o.Run(cmd.Context(), args[0], cmd.OutOrStdout())
		},
	}
	o.addFlags(cmd, false)
	f := cmd.Flags()
	f.StringVarP(&o.ConfigPath, "config", "c", "", "experiment config (YAML), required; cycles: is the number of cycles the schedule runs")
	f.StringVar(&o.RunID, "run-id", "", "run ID, its state under --state-dir/runs/RUN_ID (default: the schedule ID)")
	f.StringVar(&o.ObsDir, "obs-dir", "", "observation directory (cycle-NNNNNN.arrow or .csv), required; workers must see it at the same path, or inside --state-dir")
	f.StringVar(&o.Start, "start", "", "nominal time of cycle 0, RFC 3339 (default: now, truncated to the interval); cycle k is due at start + k·interval")
	f.DurationVar(&o.Interval, "interval", 0, "time between cycles, whole seconds, required")
	f.DurationVar(&o.Wait, "wait", 0, "how long after its nominal time a cycle waits for its observations before it runs forecast-only (default: half the interval; 0: no wait); < interval")
	f.DurationVar(&o.Poll, "poll", 0, "how often a waiting cycle looks for its observations (default: wait/10, at least 1s)")
	f.StringVar(&o.Overlap, "overlap", "buffer-one", "when a tick comes while a cycle runs: skip (drop it; the next cycle also runs the missed one), buffer-one (run it after; further ticks are dropped) or buffer-all")
	f.DurationVar(&o.CatchupWindow, "catchup-window", time.Minute, "after an outage, start ticks missed by at most this much (>= 10s); older ones are dropped, and the next cycle also runs them")
	f.BoolVar(&o.PauseOnFailure, "pause-on-failure", true, "pause the schedule when a cycle fails (bad observation file, divergence)")
	f.BoolVar(&o.Paused, "paused", false, "create the schedule paused")
	addLimitFlags(cmd, &o.Limits)
	o.addAllowFlag(cmd)
	return cmd
}

func (o *scheduleCreateOptions) Complete(id string) error {
	if err := checkRunID("schedule ID", id); err != nil {
		return err
	}
	if o.RunID == "" {
		o.RunID = id
	}
	if err := checkRunID("--run-id", o.RunID); err != nil {
		return err
	}
	if err := required(map[string]string{"--config": o.ConfigPath, "--obs-dir": o.ObsDir}); err != nil {
		return err
	}
	if err := checkInterval("--interval", o.Interval); err != nil {
		return err
	}
	if !o.waitSet {
		o.Wait = o.Interval / 2
	}
	if o.Wait < 0 || o.Wait >= o.Interval {
		return usageError{fmt.Errorf("--wait must be >= 0 (0: no wait, a cycle runs with what is there at its time) and less than --interval %v, got %v", o.Interval, o.Wait)}
	}
	if o.Poll < 0 || (o.pollSet && o.Poll == 0) {
		return usageError{fmt.Errorf("--poll must be > 0, got %v", o.Poll)}
	}
	if _, ok := temporalclient.OverlapPolicies[o.Overlap]; !ok {
		return usageError{fmt.Errorf("--overlap must be skip, buffer-one or buffer-all, got %q", o.Overlap)}
	}
	if o.CatchupWindow < 10*time.Second {
		return usageError{fmt.Errorf("--catchup-window must be >= 10s (Temporal's minimum), got %v", o.CatchupWindow)}
	}
	var err error
	if o.start, err = parseStart(o.Start, o.Interval); err != nil {
		return err
	}
	if o.cfg, err = config.Load(o.ConfigPath); err != nil {
		return err
	}
	if err := checkLimits(o.ConfigPath, o.cfg, o.Limits); err != nil {
		return err
	}
	if o.cfg.Orchestration != nil {
		return usageError{fmt.Errorf("%s: a live run takes no orchestration section: each of its cycles runs as one regular activity", o.ConfigPath)}
	}
	// The spec runs to the last cycle's due time: past it, no tick comes.
	if last := o.start.Add(time.Duration(o.cfg.Cycles) * o.Interval); !last.After(time.Now()) {
		return usageError{fmt.Errorf("--start %s: the last cycle, %d, was due at %s, so the schedule would never tick; choose a later --start (or run the cycles with latentda run)",
			o.start.Format(time.RFC3339), o.cfg.Cycles, last.Format(time.RFC3339))}
	}
	if err := o.complete(); err != nil {
		return err
	}
	if _, err := o.confine(o.ConfigPath, o.cfg); err != nil {
		return err
	}
	if err := runDirHolds(o.StateDir, o.RunID, o.cfg, nil); err != nil {
		return err
	}
	// Inside the state directory: relative to it, so that workers that
	// mount it elsewhere find it.
	abs, err := filepath.Abs(o.ObsDir)
	if err != nil {
		return fmt.Errorf("--obs-dir: %w", err)
	}
	o.ObsDir = abs
	if rel, err := filepath.Rel(o.StateDir, abs); err == nil && filepath.IsLocal(rel) {
		o.ObsDir = rel
	}
	return nil
}

// input is the cycle workflows' argument.
func (o *scheduleCreateOptions) input() workflows.CycleInput {
	return workflows.CycleInput{
		LiveRun: live.LiveRun{RunID: o.RunID, RunPath: filepath.Join("runs", o.RunID), Config: o.cfg, ObsDir: o.ObsDir},
		Start:   o.start, Interval: o.Interval, Wait: o.Wait, Poll: o.Poll,
	}
}

func (o *scheduleCreateOptions) Run(ctx context.Context, id string, stdout io.Writer) error {
	conn, err := o.connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := temporalclient.RegisterSearchAttributes(ctx, conn.Client, o.Namespace); err != nil {
		return fmt.Errorf("register search attributes: %w", err)
	}
	in := o.input()
	// Two schedules on one run would each extend its chain from what they
	// read, and overwrite the other's cycles.
	other, err := temporalclient.ScheduleOfRun(ctx, conn.Client, in.RunID, id)
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	if other != "" {
		return fmt.Errorf("create schedule %s: schedule %s already runs the cycles of run %s; give this one another --run-id, or delete %s first", id, other, in.RunID, other)
	}
	_, err = conn.Client.ScheduleClient().Create(ctx, temporalclient.ScheduleOptions(id, o.TaskQueue, in, temporalclient.OverlapPolicies[o.Overlap], o.CatchupWindow, o.PauseOnFailure, o.Paused))
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	_, err = fmt.Fprintf(stdout, "schedule %s: run %s, cycles 1..%d every %v from %s (cycle 1 at %s), waiting up to %v for observations in %s\n",
		id, in.RunID, in.Config.Cycles, in.Interval, in.Start.Format(time.RFC3339), in.Start.Add(in.Interval).Format(time.RFC3339), in.Wait, in.ObsDir)
	if err != nil {
		return err
	}
	// Not an error: the observations may arrive later, the directory too.
	dir := in.ObsDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(o.StateDir, dir)
	}
	if _, serr := os.Stat(dir); serr != nil {
		_, err = fmt.Fprintf(stdout, "note: %s does not exist yet; each cycle runs forecast-only until its file is there by its deadline\n", dir)
	}
	return err
}

func printScheduleView(w io.Writer, format string, v temporalclient.ScheduleView) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return v.WriteText(w)
}

func newScheduleDescribeCmd() *cobra.Command {
	var o connOptions
	var output string
	cmd := &cobra.Command{
		Use:   "describe SCHEDULE_ID",
		Short: "Show a live run's schedule: cycles, policies, recent and next cycles",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRunID("schedule ID", args[0]); err != nil {
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
			desc, err := conn.Client.ScheduleClient().GetHandle(cmd.Context(), args[0]).Describe(cmd.Context())
			if err != nil {
				return scheduleError("describe", args[0], err)
			}
			v, err := temporalclient.DescribeSchedule(args[0], desc)
			if err != nil {
				return err
			}
			temporalclient.CycleOutcomes(cmd.Context(), conn.Client, v.Recent)
			return printScheduleView(cmd.OutOrStdout(), output, v)
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newScheduleListCmd() *cobra.Command {
	var o connOptions
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List live runs' schedules",
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
			rows, err := temporalclient.ListSchedules(cmd.Context(), conn.Client)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "schedule\tpaused\tlast\tnext\tnote")
			ts := func(t time.Time) string {
				if t.IsZero() {
					return "-"
				}
				return t.Format(time.RFC3339)
			}
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", r.ID, r.Paused, ts(r.Last), ts(r.Next), r.Note)
			}
			return tw.Flush()
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// newScheduleSimpleCmd is pause, unpause, trigger or delete; done is
// what it prints once it has.
func newScheduleSimpleCmd(verb, short, done string) *cobra.Command {
	var o connOptions
	var note string
	cmd := &cobra.Command{
		Use:   verb + " SCHEDULE_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRunID("schedule ID", args[0]); err != nil {
				return err
			}
			ctx := cmd.Context()
			conn, err := o.connect(ctx, false)
			if err != nil {
				return err
			}
			defer conn.Close()
			h := conn.Client.ScheduleClient().GetHandle(ctx, args[0])
			switch verb {
			case "pause":
				err = h.Pause(ctx, client.SchedulePauseOptions{Note: note})
			case "unpause":
				err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
			case "trigger":
				// Before cycle 1 the cycle workflow fails, which pauses
				// the schedule: refuse here instead.
				var in workflows.CycleInput
				if in, err = scheduleInput(ctx, h, args[0]); err != nil {
					return err
				}
				if in.CycleAt(time.Now()) < 1 {
					return fmt.Errorf("trigger schedule %s: no cycle is due yet, and a trigger runs the cycle due now; cycle 1 is due at %s", args[0], cycleTime(in, 1))
				}
				// Queued behind a running cycle, never beside it.
				err = h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL})
			case "delete":
				err = h.Delete(ctx)
			}
			if err != nil {
				return scheduleError(verb, args[0], err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "schedule %s: %s\n", args[0], done)
			return err
		},
	}
	o.addFlags(cmd, false)
	if verb == "pause" || verb == "unpause" {
		// Temporal's own default would read "Paused via Go SDK".
		cmd.Flags().StringVar(&note, "note", verb+"d with latentda schedule "+verb, "why (shown by describe)")
	}
	return cmd
}

func newScheduleBackfillCmd() *cobra.Command {
	var o connOptions
	var from, to int
	cmd := &cobra.Command{
		Use:   "backfill SCHEDULE_ID --from K [--to L]",
		Short: "Run past cycles K..L again: forecast-only ones whose observations came late are assimilated",
		Long: `Starts the cycle workflows of cycles K..L (queued, one after another, behind any
running cycle). A cycle that ran forecast-only and whose observations are now in
the observation directory is re-run from the analysis before it, and so are all
the cycles after it, superseding their files; a cycle that assimilated, or whose
observations are still missing, is left as it is. A cycle the schedule never ran
runs now, from the latest analysis.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRunID("schedule ID", args[0]); err != nil {
				return err
			}
			if !cmd.Flags().Changed("from") {
				return usageError{errors.New("--from is required: the first cycle to run")}
			}
			if !cmd.Flags().Changed("to") {
				to = from
			}
			if from < 1 || to < from {
				return usageError{fmt.Errorf("--from and --to must give cycles 1 <= from <= to, got %d..%d", from, to)}
			}
			ctx := cmd.Context()
			conn, err := o.connect(ctx, false)
			if err != nil {
				return err
			}
			defer conn.Close()
			h := conn.Client.ScheduleClient().GetHandle(ctx, args[0])
			in, err := scheduleInput(ctx, h, args[0])
			if err != nil {
				return err
			}
			if to > in.Config.Cycles {
				return usageError{fmt.Errorf("cycles %d..%d go past the run's last cycle %d", from, to, in.Config.Cycles)}
			}
			// A cycle not due yet would wait for its deadline, holding
			// back every tick behind it.
			if due := in.CycleAt(time.Now()); to > due {
				return usageError{fmt.Errorf("cycle %d is not due until %s, and backfill runs past cycles only (the latest due now is %d)", to, cycleTime(in, to), due)}
			}
			if err := h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{temporalclient.BackfillRange(in, from, to)}}); err != nil {
				return scheduleError("backfill", args[0], err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "schedule %s: cycles %d..%d queued to run again (latentda schedule describe %s shows them)\n", args[0], from, to, args[0])
			return err
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().IntVar(&from, "from", 0, "first cycle to backfill, required")
	cmd.Flags().IntVar(&to, "to", 0, "last cycle to backfill (default: --from)")
	return cmd
}

// scheduleInput reads the cycle workflows' argument of schedule id.
func scheduleInput(ctx context.Context, h client.ScheduleHandle, id string) (workflows.CycleInput, error) {
	desc, err := h.Describe(ctx)
	if err != nil {
		return workflows.CycleInput{}, scheduleError("describe", id, err)
	}
	in, err := temporalclient.ScheduleInput(desc)
	if err != nil {
		return in, fmt.Errorf("schedule %s: %w", id, err)
	}
	return in, nil
}

// cycleTime is the time cycle k of a live run is due, as RFC 3339.
func cycleTime(in workflows.CycleInput, k int) string {
	return in.Start.Add(time.Duration(k) * in.Interval).UTC().Format(time.RFC3339)
}

// scheduleError wraps the error of an operation on the schedule of live
// run id, saying plainly when there is no such schedule (Temporal names
// its internal scheduler workflow).
func scheduleError(op, id string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%s schedule %s: no live run (schedule) of that ID", op, id)
	}
	return fmt.Errorf("%s schedule %s: %w", op, id, err)
}

// required refuses the flags of flags left empty, naming each of them.
func required(flags map[string]string) error {
	var missing []string
	for name, v := range flags {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	verb := "are"
	if len(missing) == 1 {
		verb = "is"
	}
	return usageError{fmt.Errorf("%s %s required", strings.Join(missing, " and "), verb)}
}
