package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/config"
	"github.com/latentda/latentda/experiment"
	"github.com/latentda/latentda/store"
)

// observeOptions holds the flags of `latentda observe`.
type observeOptions struct {
	ConfigPath string
	Dir        string
	Format     string
	Start      string
	Every      time.Duration
	Delay      time.Duration
	Late       string
	LateBy     time.Duration
	From, To   int

	w   experiment.ObsWriter
	cfg config.Config
}

func newObserveCmd() *cobra.Command {
	o := &observeOptions{}
	cmd := &cobra.Command{
		Use:   "observe -c CONFIG --dir DIR --every D",
		Short: "Write a config's synthetic observations into an observation directory on a clock",
		Long: `Plays an observing system for a live run (latentda schedule): writes the
observations of the config's nature run (the same a 'latentda run' of the config
draws, deterministic per cycle) into DIR, cycle k's file at
START + k·EVERY + DELAY. Give it the schedule's --start and --interval. --late
holds some cycles back by --late-by more, to show a cycle running forecast-only
and a backfill assimilating it later.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "writing cycles %d..%d into %s, cycle k at %s + k·%v + %v\n",
				o.w.From, o.w.To, o.w.Dir.Root, o.w.Start.Format(time.RFC3339), o.w.Every, o.w.Delay)
			err := o.w.Run(cmd.Context(), o.cfg, func(k int, path string) {
				fmt.Fprintln(cmd.OutOrStdout(), path)
			})
			if errors.Is(err, context.Canceled) {
				// Interrupted (SIGINT, SIGTERM): what was written stays.
				fmt.Fprintln(cmd.ErrOrStderr(), "stopped")
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.ConfigPath, "config", "c", "", "experiment config (YAML), required")
	f.StringVar(&o.Dir, "dir", "", "observation directory (created if missing), required")
	f.StringVar(&o.Format, "format", "arrow", "file format: arrow or csv")
	f.StringVar(&o.Start, "start", "", "nominal time of cycle 0, RFC 3339 (default: now, truncated to --every)")
	f.DurationVar(&o.Every, "every", 0, "time between cycles (the schedule's --interval), whole seconds, required")
	f.DurationVar(&o.Delay, "delay", time.Second, "how long after its nominal time a cycle's file is written")
	f.StringVar(&o.Late, "late", "", "comma-separated cycles written --late-by later than the others")
	f.DurationVar(&o.LateBy, "late-by", time.Minute, "extra delay of the --late cycles")
	f.IntVar(&o.From, "from", 1, "first cycle to write")
	f.IntVar(&o.To, "to", 0, "last cycle to write (default: the config's cycles)")
	return cmd
}

func (o *observeOptions) Complete() error {
	if err := required(map[string]string{"--config": o.ConfigPath, "--dir": o.Dir}); err != nil {
		return err
	}
	if !slices.Contains(store.ObsFormats, o.Format) {
		return usageError{fmt.Errorf("--format must be arrow or csv, got %q", o.Format)}
	}
	if err := checkInterval("--every", o.Every); err != nil {
		return err
	}
	if o.Delay < 0 || o.LateBy < 0 {
		return usageError{fmt.Errorf("--delay and --late-by must be >= 0, got %v and %v", o.Delay, o.LateBy)}
	}
	start, err := parseStart(o.Start, o.Every)
	if err != nil {
		return err
	}
	if o.cfg, err = config.Load(o.ConfigPath); err != nil {
		return err
	}
	if o.To == 0 {
		o.To = o.cfg.Cycles
	}
	if o.From < 1 || o.To < o.From || o.To > o.cfg.Cycles {
		return usageError{fmt.Errorf("--from and --to must give cycles 1 <= from <= to <= %d (the config's cycles), got %d..%d", o.cfg.Cycles, o.From, o.To)}
	}
	late := map[int]time.Duration{}
	for _, s := range strings.Split(o.Late, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := strconv.Atoi(s)
		if err != nil || k < o.From || k > o.To {
			return usageError{fmt.Errorf("--late: %q is not a cycle written, %d..%d", s, o.From, o.To)}
		}
		late[k] = o.LateBy
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	o.w = experiment.ObsWriter{
		Dir: store.ObsDir{Root: o.Dir}, Format: o.Format, Start: start, Every: o.Every,
		Delay: o.Delay, Late: late, From: o.From, To: o.To,
	}
	return nil
}
