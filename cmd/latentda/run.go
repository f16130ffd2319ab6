package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/external"
	"github.com/latentda/latentda/internal/flock"
	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/workflows"
)

// runOptions holds the flags of `latentda run`.
type runOptions struct {
	connOptions
	ConfigPath  string
	RunID       string
	BatchCycles int
	Activity    string
	Output      string
	InProcess   bool
	NoWorker    bool
	Limits      config.Limits

	cfg   config.Config
	warm  *activities.WarmStart // latentda rerun
	flags *pflag.FlagSet        // to tell flags given from defaults
}

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run -c CONFIG",
		Short: "Run an assimilation experiment as a Temporal workflow",
		Long: `Runs the experiment described by a YAML config as a durable Temporal workflow:
cycles of forecast, synthetic observation and analysis, with the state in Arrow
files under --state-dir/runs/RUN_ID.

Without --address, an embedded Temporal dev server (SQLite under --state-dir)
and its web UI start inside this process, with a worker. With --address (or
TEMPORAL_ADDRESS) it uses an existing cluster and, unless --no-worker, also
serves the run with an in-process worker.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.addFlags(cmd, true)
	o.addMetricsFlag(cmd)
	cmd.Flags().StringVarP(&o.ConfigPath, "config", "c", "", "experiment config (YAML), required")
	o.addRunFlags(cmd)
	return cmd
}

// addRunFlags adds the flags that run and rerun share.
func (o *runOptions) addRunFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.RunID, "run-id", "", "run ID (default: config name + UTC time to the millisecond); the same ID and config re-attach to an existing run, a different config is refused")
	cmd.Flags().IntVar(&o.BatchCycles, "batch-cycles", config.DefaultBatchCycles, "cycles per activity (overrides the config's orchestration.batch_cycles)")
	cmd.Flags().StringVar(&o.Activity, "activity", config.ActivityLocal, "local (cheap models: no server round trip per batch) or regular (heartbeats, timeouts, retries on any worker); overrides the config's orchestration.activity")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "summary format: text or json")
	cmd.Flags().BoolVar(&o.InProcess, "in-process", false, "run the same loop and activities in this process without Temporal (for comparison)")
	cmd.Flags().BoolVar(&o.NoWorker, "no-worker", false, "do not start a worker (with --address: workers run elsewhere)")
	addLimitFlags(cmd, &o.Limits)
	o.flags = cmd.Flags()
}

// addLimitFlags adds --max-memory, --max-disk and --max-time, the limits
// on what a run's config may need (config.Limits).
func addLimitFlags(cmd *cobra.Command, l *config.Limits) {
	*l = config.DefaultLimits
	cmd.Flags().Var(&l.Memory, "max-memory", "refuse a run whose config needs more memory than this (estimated; 0: no limit)")
	cmd.Flags().Var(&l.Disk, "max-disk", "refuse a run whose config needs more disk than this (estimated; 0: no limit)")
	cmd.Flags().DurationVar(&l.Time, "max-time", l.Time, "refuse a run whose config needs more compute time than this (estimated for one core; 0: no limit)")
}

// lockRunDir takes the lock of runID's run directory that an in-process
// run holds while it runs: .locks/RUN_ID under the state directory,
// outside the run directory, whose files stay those of the same run under
// Temporal.
func lockRunDir(stateDir, runID string) (release func(), err error) {
	dir := filepath.Join(stateDir, ".locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, runID)
	release, err = flock.Exclusive(path)
	if errors.Is(err, flock.ErrHeld) {
		return nil, fmt.Errorf("run %s: another process is running it in process (%s is locked)", runID, path)
	}
	return release, err
}

// checkLimits refuses a config from path whose estimated needs exceed l.
func checkLimits(path string, cfg config.Config, l config.Limits) error {
	if l.Time < 0 {
		return usageError{fmt.Errorf("--max-time must be >= 0 (0: no limit), got %v", l.Time)}
	}
	if err := l.Check(cfg); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

func (o *runOptions) Complete() error {
	if o.ConfigPath == "" {
		return usageError{errors.New("--config is required")}
	}
	if err := o.validateFlags(); err != nil {
		return err
	}
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	if err := checkLimits(o.ConfigPath, cfg, o.Limits); err != nil {
		return err
	}
	o.cfg = cfg
	return o.completeRun()
}

// validateFlags checks the flags addRunFlags adds.
func (o *runOptions) validateFlags() error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	if o.BatchCycles < 1 {
		return usageError{fmt.Errorf("--batch-cycles must be >= 1, got %d", o.BatchCycles)}
	}
	if o.Activity != config.ActivityLocal && o.Activity != config.ActivityRegular {
		return usageError{fmt.Errorf("--activity must be local or regular, got %q", o.Activity)}
	}
	if err := o.checkInProcess(); err != nil {
		return err
	}
	if o.NoWorker && o.Address == "" {
		return usageError{errors.New("--no-worker needs --address: the embedded server has no other worker")}
	}
	return nil
}

// inProcessIgnores are the flags about Temporal, its server and workers,
// which a run without Temporal (--in-process) cannot honour.
var inProcessIgnores = []string{"address", "namespace", "task-queue", "no-worker", "ui-port", "metrics-addr",
	"tls", "tls-cert-path", "tls-key-path", "tls-ca-path", "tls-server-name", "tls-disable-host-verification", "api-key"}

// checkInProcess refuses, with --in-process, the flags it cannot honour,
// and --activity regular (no task queue to spread batches over).
func (o *runOptions) checkInProcess() error {
	if !o.InProcess || o.flags == nil {
		return nil
	}
	for _, name := range inProcessIgnores {
		if o.flags.Changed(name) {
			return usageError{fmt.Errorf("--in-process runs without Temporal, so --%s cannot apply; leave one of them out", name)}
		}
	}
	if o.flags.Changed("activity") && o.Activity == config.ActivityRegular {
		return usageError{errors.New("--in-process runs every batch in this process, so --activity regular cannot apply; leave one of them out")}
	}
	return nil
}

// completeRun takes the batch size and activity kind from the config's
// orchestration section unless their flags were given (flags override the
// section for this run; the stored config.yaml holds the file's section),
// names the run (default: config name + UTC time) once the config is
// known, prepares the state directory, and refuses files the config names
// outside it, or generator files this process's worker would not find.
func (o *runOptions) completeRun() error {
	orch := o.cfg.Orchestrated()
	if o.flags == nil || !o.flags.Changed("batch-cycles") {
		o.BatchCycles = orch.BatchCycles
	}
	if o.flags == nil || !o.flags.Changed("activity") {
		o.Activity = orch.Activity
	}
	if o.RunID == "" {
		o.RunID = timestamped(o.cfg.Name)
		if !runIDPattern.MatchString(o.RunID) {
			return usageError{fmt.Errorf("config: %s: name %q cannot start a run ID (<name>-<UTC time>, 1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit); give --run-id, or another name", o.ConfigPath, shorten(o.cfg.Name))}
		}
	}
	if err := checkRunID("--run-id", o.RunID); err != nil {
		return err
	}
	if err := o.complete(); err != nil {
		return err
	}
	if err := runDirHolds(o.StateDir, o.RunID, o.cfg, o.warm); err != nil {
		return err
	}
	resolved, err := o.confine(o.ConfigPath, o.cfg)
	if err != nil || o.NoWorker {
		return err // without a worker here, those elsewhere read their own state directory
	}
	return generatorsExist(o.ConfigPath, resolved)
}

// runDirHolds refuses, before anything starts, a run ID whose directory
// under stateDir holds another config (the first cycle would refuse it),
// or a run that started otherwise than w (a rerun's warm start; nil for a
// run from its own initial ensemble), which would mix two runs' cycles in
// one directory; the same config and start re-attach to the run.
func runDirHolds(stateDir, runID string, cfg config.Config, w *activities.WarmStart) error {
	dir := store.RunDir{Root: filepath.Join(stateDir, "runs", runID)}
	path := dir.Config()
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", runID, err)
	}
	if old, err = config.VerifyChecksum(old); err != nil {
		return fmt.Errorf("run %s: %s: %w", runID, path, err)
	}
	y, err := cfg.WithDefaults().Marshal()
	if err != nil {
		return err
	}
	if !config.SameStored(old, y) {
		return usageError{fmt.Errorf("run %s: %s holds a different config; choose another run ID", runID, filepath.Dir(path))}
	}
	had, started, err := activities.StartOf(dir)
	if err != nil {
		return fmt.Errorf("run %s: %w", runID, err)
	}
	if started && !sameStart(had, w) {
		return usageError{fmt.Errorf("run %s is %s, and this command asks for %s; choose another --run-id (the same request re-attaches to it)", runID, startText(had), startText(w))}
	}
	return nil
}

// generatorsExist refuses, before a run starts, a config (its paths
// resolved by Confine) whose generator files (latent.generator,
// ood.generator) are not there, as the worker of this process would find
// when the run needs them.
func generatorsExist(path string, resolved config.Config) error {
	var files [][2]string
	if l := resolved.Latent; l != nil && l.Generator != "identity" {
		files = append(files, [2]string{"latent.generator", l.Generator})
	}
	if q := resolved.OOD; q != nil && q.Generator != "" && q.Generator != "latent" {
		files = append(files, [2]string{"ood.generator", q.Generator})
	}
	for _, f := range files {
		ok, err := store.Exists(f[1])
		if err != nil {
			return fmt.Errorf("config: %s: %s: %w", path, f[0], err)
		}
		if !ok { // a config's problem (exit status 1), as its other errors
			return fmt.Errorf("config: %s: %s: no file at %s (make it with latentda train first, or point the key at an existing file)", path, f[0], f[1])
		}
	}
	return nil
}

// timestamped names a run prefix-<UTC time to the millisecond>, such as
// l96-etkf-20261203T071853.123Z. Two runs named in the same millisecond
// still get the same ID: the second is refused (a different config) or
// joins the first (the same one), never mixed with it.
func timestamped(prefix string) string {
	return prefix + "-" + time.Now().UTC().Format("20060102T150405.000Z")
}

// confine refuses a config naming files outside the state directory and
// --allow-path before anything starts (the activities check again), and
// returns it with those paths resolved.
func (o *connOptions) confine(path string, cfg config.Config) (config.Config, error) {
	resolved, err := cfg.Confine(o.StateDir, o.AllowPaths)
	if err != nil {
		return config.Config{}, usageError{fmt.Errorf("config: %s: %w", path, err)}
	}
	return resolved, nil
}

// runIDPattern is the portable set of run and schedule IDs: a run's
// files live in <state-dir>/runs/<ID>, and its workflow is latentda-<ID>.
var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// checkRunID refuses run and schedule IDs outside runIDPattern (paths,
// spaces, a leading '-' or '.', non-ASCII letters, more than 128
// characters), quoting at most 40 characters of a bad one.
func checkRunID(what, id string) error {
	if runIDPattern.MatchString(id) {
		return nil
	}
	return usageError{fmt.Errorf("%s %q must be a plain name, not a path: 1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit", what, shorten(id))}
}

// shorten is s cut to its first 40 characters, for messages that quote
// what a user gave.
func shorten(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

func (o *runOptions) input() workflows.Input {
	return workflows.Input{
		RunID: o.RunID, RunPath: filepath.Join("runs", o.RunID), Config: o.cfg,
		BatchCycles: o.BatchCycles, Local: o.Activity == config.ActivityLocal, WarmStart: o.warm,
	}
}

func (o *runOptions) Run(ctx context.Context, stdout, stderr io.Writer) error {
	start := time.Now()
	dir := store.RunDir{Root: filepath.Join(o.StateDir, "runs", o.RunID)}
	if rows, _, err := store.ReadDiagnostics(dir.Diagnostics()); err == nil && len(rows) > 0 && rows[len(rows)-1].Cycle >= o.cfg.Cycles {
		fmt.Fprintf(stderr, "run %s: all %d cycles are in %s already; none runs again, and the summary is of them\n", o.RunID, o.cfg.Cycles, dir.Root)
	}
	if o.InProcess {
		// Two processes on one run directory would each rewrite its
		// diagnostics from their own rows, losing the other's.
		release, err := lockRunDir(o.StateDir, o.RunID)
		if err != nil {
			return err
		}
		defer release()
		temporalclient.RemoveStaleTemps(o.StateDir)
		a := &activities.Activities{StateRoot: o.StateDir, AllowPaths: o.AllowPaths, CallerPrints: true}
		defer closeExternal()
		progress := temporalclient.NewProgress(stderr, o.cfg.Cycles, start)
		res, err := workflows.RunInProcess(ctx, a, o.input(), progress.Update)
		progress.Done()
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("run %s: interrupted; the cycles committed before stay in %s, and the same command with --run-id %s continues from them", o.RunID, filepath.Join(o.StateDir, "runs", o.RunID), o.RunID)
		}
		if err != nil {
			return err
		}
		return printSummary(stdout, o.Output, temporalclient.SummaryOf(res, "", start))
	}
	conn, err := o.connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	if conn.Server == nil {
		if err := temporalclient.RegisterSearchAttributes(ctx, conn.Client, o.Namespace); err != nil {
			fmt.Fprintf(stderr, "warning: cannot register search attributes (%v); ask the cluster operator to add them (docs/deploy.md)\n", err)
		}
	}
	if !o.NoWorker {
		if err := conn.StartWorker(o.StateDir, o.TaskQueue, o.AllowPaths); err != nil {
			return err
		}
	}
	wfID := "latentda-" + o.RunID
	in := o.input()
	run, err := conn.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    wfID,
		TaskQueue:             o.TaskQueue,
		WorkflowTaskTimeout:   workflows.WorkflowTaskTimeout,
		TypedSearchAttributes: temporalclient.SearchAttributesAtStart(o.cfg),
		StaticSummary:         temporalclient.StaticSummary(o.cfg),
		StaticDetails:         temporalclient.StaticDetails(o.cfg),
		// A workflow already running under this ID is followed only if it
		// runs the same config (attach).
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.Assimilation, in)
	var running *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &running) {
		run, err = attach(ctx, conn.Client, o.RunID, wfID, in)
	}
	if err != nil {
		return fmt.Errorf("start workflow %s: %w", wfID, err)
	}
	fmt.Fprintf(stderr, "run %s: workflow %s (run %s)\n", o.RunID, wfID, run.GetRunID())
	if err := o.follow(ctx, conn, run, stdout, stderr, start); err != nil {
		return err
	}
	// The run completed and its summary is out: other runs' activities
	// this process's worker picked up from the task queue get time to
	// finish, rather than being abandoned.
	conn.Drain(stderr)
	return nil
}

// follow shows the progress of o's workflow run until it completes,
// printing its summary, fails, or ctx ends.
func (o *runOptions) follow(ctx context.Context, conn *temporalclient.Connection, run client.WorkflowRun, stdout, stderr io.Writer, start time.Time) error {
	wfID := run.GetID()
	done := make(chan error, 1)
	var res workflows.Result
	go func() { done <- run.Get(ctx, &res) }()
	progress := temporalclient.NewProgress(stderr, o.cfg.Cycles, start)
	defer progress.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			progress.Done() // the summary or error starts on its own line
			if err != nil {
				return fmt.Errorf("run %s failed: %w", o.RunID, err)
			}
			return printSummary(stdout, o.Output, temporalclient.SummaryOf(res, wfID, start))
		case <-ctx.Done():
			if conn.Server == nil {
				// The server and its other workers go on with the run.
				return fmt.Errorf("run %s: interrupted; workflow %s goes on on the server (`latentda status %s`, `latentda signal %s stop`)", o.RunID, wfID, o.RunID, o.RunID)
			}
			return fmt.Errorf("run %s: interrupted; workflow %s keeps its state, and `latentda dev --state-dir %s` resumes it", o.RunID, wfID, o.StateDir)
		case <-tick.C:
			if st, err := temporalclient.DescribeStatus(ctx, conn.Client, wfID); err == nil {
				progress.Update(st.Cycle, st.Last.RMSEa)
			}
		}
	}
}

// attach returns the running workflow wfID if it was started with in's
// config and warm start: the same run ID and config re-attach to a run,
// and a rerun to the same rerun. Any other config, or a rerun of another
// run or cycle, is refused; ExecuteWorkflow alone would silently follow
// the other run.
func attach(ctx context.Context, c client.Client, runID, wfID string, in workflows.Input) (client.WorkflowRun, error) {
	var old workflows.Input
	if err := temporalclient.StartedInput(ctx, c, wfID, &old); err != nil {
		return nil, err
	}
	was, errOld := old.Config.WithDefaults().Marshal()
	now, errNew := in.Config.WithDefaults().Marshal()
	if err := errors.Join(errOld, errNew); err != nil {
		return nil, fmt.Errorf("compare the config with workflow %s's: %w", wfID, err)
	}
	if !bytes.Equal(was, now) {
		return nil, usageError{fmt.Errorf("run %s is already running (workflow %s) with a different config; choose another --run-id, or follow it with `latentda status %s`", runID, wfID, runID)}
	}
	if !sameStart(old.WarmStart, in.WarmStart) {
		return nil, usageError{fmt.Errorf("run %s is already running (workflow %s) as %s, and this command asks for %s; choose another --run-id, or follow it with `latentda status %s`",
			runID, wfID, startText(old.WarmStart), startText(in.WarmStart), runID)}
	}
	return c.GetWorkflow(ctx, wfID, ""), nil
}

func printSummary(w io.Writer, format string, s temporalclient.RunSummary) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return s.WriteText(w)
}

// closeExternal stops the external model processes that an in-process
// run's activities started (package external).
func closeExternal() {
	if err := external.CloseAll(); err != nil {
		slog.Warn("stopping external model processes", "error", err)
	}
}
