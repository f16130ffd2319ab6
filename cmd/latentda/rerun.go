package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/store"
)

// rerunOptions holds the flags of `latentda rerun`.
type rerunOptions struct {
	runOptions
	FromCycle int
	Set       []string
}

func newRerunCmd() *cobra.Command {
	o := &rerunOptions{}
	cmd := &cobra.Command{
		Use:   "rerun RUN --from-cycle K [--set key=value ...]",
		Short: "Start a new run from a stored analysis of a past run, with changed settings",
		Long: `Starts a new run whose first analysis is the stored analysis (and truth) of
cycle K of RUN (under --state-dir/runs), with RUN's config changed by --set:
the reanalysis and what-if case. The new run computes cycles K+1..cycles; the
earlier cycles stay with RUN. Keys are the YAML paths of the config
(filter.inflation=1.05, observations.variance=0.5, cycles=2000,
orchestration.fanout.members_per_task=8); unknown keys and bad values are refused
before anything starts, and the settings must keep the ensemble shape
(filter.members, model.nx) of the stored analysis.

The new run is named RUN-rerunK-<UTC time> unless --run-id is given; compare
it with 'latentda compare RUN NEW'. The same command with the same --run-id
re-attaches to that rerun; a --run-id holding another run, or a rerun of
another run or from another cycle, is refused. The other flags are those of
'latentda run'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args[0]); err != nil {
				return err
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.addFlags(cmd, true)
	o.addRunFlags(cmd)
	o.addAllowFlag(cmd)
	cmd.Flags().IntVar(&o.FromCycle, "from-cycle", -1, "cycle of RUN whose analysis the new run starts from (0 = RUN's initial ensemble), required")
	cmd.Flags().StringArrayVar(&o.Set, "set", nil, "change a config setting, key=value (repeatable)")
	return cmd
}

func (o *rerunOptions) Complete(src string) error {
	if err := checkRunID("run", src); err != nil {
		return err
	}
	if o.FromCycle < 0 && o.flags != nil && o.flags.Changed("from-cycle") {
		return usageError{fmt.Errorf("--from-cycle must be >= 0, got %d", o.FromCycle)}
	}
	if o.FromCycle < 0 {
		return usageError{errors.New("--from-cycle K (>= 0) is required")}
	}
	if err := o.validateFlags(); err != nil {
		return err
	}
	if err := o.connOptions.complete(); err != nil {
		return err
	}
	root, err := existingRunDir(o.StateDir, src)
	if err != nil {
		return fmt.Errorf("rerun: %w", err)
	}
	src = filepath.Base(root) // the run ID, also when named by its workflow ID
	dir, srcPath := store.RunDir{Root: root}, filepath.Join("runs", src)
	cfg, err := config.LoadStored(dir.Config())
	if err != nil {
		return fmt.Errorf("rerun: run %s: %w", src, err)
	}
	o.ConfigPath = dir.Config()
	if o.FromCycle > cfg.Cycles {
		return usageError{fmt.Errorf("rerun: --from-cycle %d: run %s has cycles 1..%d, so K must be 0..%d", o.FromCycle, src, cfg.Cycles, cfg.Cycles)}
	}
	if cfg, err = cfg.Override(o.Set); err != nil {
		return usageError{fmt.Errorf("rerun: --set: %w", err)}
	}
	if err := checkLimits(dir.Config(), cfg, o.Limits); err != nil {
		return fmt.Errorf("rerun: %w", err)
	}
	if o.FromCycle >= cfg.Cycles {
		return usageError{fmt.Errorf("rerun: --from-cycle %d: the new run has cycles 1..%d (cycles), so K must be 0..%d; raise cycles with --set cycles=N", o.FromCycle, cfg.Cycles, cfg.Cycles-1)}
	}
	// Check the warm start now, before a server starts: the activity
	// checks it again where it runs.
	rs := store.OpenRunState(dir)
	E, meta, err := rs.Ensemble(store.FieldAnalysis, o.FromCycle)
	rs.Close()
	if nk := (*store.NotKeptError)(nil); errors.As(err, &nk) {
		return usageError{fmt.Errorf("rerun: run %s: %w%s", src, err, rerunFrom(nk))}
	}
	if err != nil {
		return fmt.Errorf("rerun: run %s has no readable analysis of cycle %d: %w", src, o.FromCycle, err)
	}
	// Provenance: a file copied from another run or cycle has the same
	// shape but is not this run's state.
	if meta.RunID != src || meta.Cycle != o.FromCycle {
		return fmt.Errorf("rerun: the stored analysis of cycle %d of run %s holds run %s's cycle %d (copied from elsewhere?)", o.FromCycle, src, meta.RunID, meta.Cycle)
	}
	nx := cfg.Model.WithDefaultsNx()
	if r, c := E.Dims(); r != cfg.Filter.Members || c != nx {
		return usageError{fmt.Errorf("rerun: the analysis of cycle %d of %s is %d members × %d variables; the new config wants filter.members=%d, model.nx=%d (the ensemble shape cannot change)",
			o.FromCycle, src, r, c, cfg.Filter.Members, nx)}
	}
	o.cfg = cfg
	o.warm = &activities.WarmStart{RunPath: srcPath, Cycle: o.FromCycle}
	if o.RunID == "" {
		o.RunID = timestamped(fmt.Sprintf("%s-rerun%d", src, o.FromCycle))
	}
	if o.RunID == src {
		return usageError{fmt.Errorf("rerun: --run-id %s is the run it starts from; a rerun is a new run (without --run-id it is named %s-rerun%d-TIME)", src, src, o.FromCycle)}
	}
	return o.completeRun()
}

// sameStart says whether two runs start from the same analysis (nil:
// their own initial ensembles).
func sameStart(a, b *activities.WarmStart) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// startText describes where a run starts from, for errors.
func startText(w *activities.WarmStart) string {
	if w == nil {
		return "a run from its own initial ensemble"
	}
	return fmt.Sprintf("a rerun of %s from cycle %d", filepath.Base(w.RunPath), w.Cycle)
}

// rerunFrom suggests the cycles a rerun can start from instead of one
// whose analysis was not kept.
func rerunFrom(nk *store.NotKeptError) string {
	switch {
	case nk.Before >= 0 && nk.After >= 0:
		return fmt.Sprintf("; rerun from cycle %d or %d", nk.Before, nk.After)
	case nk.Before >= 0:
		return fmt.Sprintf("; rerun from cycle %d", nk.Before)
	case nk.After >= 0:
		return fmt.Sprintf("; rerun from cycle %d", nk.After)
	}
	return ""
}
