package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// usageError marks errors in how the command was called (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// Execute runs the CLI and returns the process exit status: 0 on success,
// 1 on failure, 2 on usage errors.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "latentda:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func newRootCmd() *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:           "latentda",
		Short:         "Cycled ensemble data assimilation, orchestrated by Temporal",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})))
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "debug logging on stderr")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCmd(), newTrainCmd(), newDevCmd(), newWorkerCmd(), newStatusCmd(), newRunsCmd(), newSignalCmd(), newBenchCmd(),
		newScheduleCmd(), newObserveCmd(), newReportCmd(), newReplayCmd(), newRerunCmd(), newCompareCmd())
	return root
}

// outputFlag validates -o/--output.
func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return usageError{fmt.Errorf("--output must be text or json, got %q", o)}
	}
	return nil
}
