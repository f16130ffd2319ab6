package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/internal/temporalclient"
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
	// Each cause once, without Temporal's tags; -v prints the full chain.
	msg := temporalclient.Display(err)
	if v, _ := root.PersistentFlags().GetBool("verbose"); v {
		msg = err.Error()
	}
	fmt.Fprintln(os.Stderr, "latentda:", msg)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func newRootCmd() *cobra.Command {
	var verbose bool
	logFormat := os.Getenv("LATENTDA_LOG_FORMAT")
	if logFormat == "" {
		logFormat = "text"
	}
	root := &cobra.Command{
		Use:           "latentda",
		Short:         "Cycled ensemble data assimilation, orchestrated by Temporal",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// Structured log lines with -v, --log-format json, or when
			// stderr is not a terminal; a terminal gets the progress line
			// and the error alone.
			level := slog.LevelInfo
			switch {
			case verbose:
				level = slog.LevelDebug
			case logFormat == "text" && temporalclient.IsTerminal(cmd.ErrOrStderr()):
				level = slog.LevelError + 1
			}
			h, err := logHandler(cmd.ErrOrStderr(), logFormat, level)
			if err != nil {
				return err
			}
			slog.SetDefault(slog.New(h))
			return nil
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "debug logging on stderr, and errors with their full chain")
	root.PersistentFlags().StringVar(&logFormat, "log-format", logFormat, "log format on stderr: text or json (env LATENTDA_LOG_FORMAT)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCmd(), newTrainCmd(), newDevCmd(), newWorkerCmd(), newStatusCmd(), newRunsCmd(), newSignalCmd(), newBenchCmd(),
		newScheduleCmd(), newObserveCmd(), newReportCmd(), newReplayCmd(), newRerunCmd(), newCompareCmd(), newSetupCmd())
	usageArgs(root)
	return root
}

// usageArgs makes the argument checks of c and its subcommands usage
// errors, like the flag errors. A group of commands (one with
// subcommands and no action of its own) prints its help, and names an
// unknown command given to it, which cobra checks for the root alone.
func usageArgs(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return cmd.Help()
		}
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// logHandler returns the slog handler for --log-format.
func logHandler(w io.Writer, format string, level slog.Level) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, usageError{fmt.Errorf("--log-format must be text or json, got %q", format)}
}

// outputFlag validates -o/--output.
func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return usageError{fmt.Errorf("--output must be text or json, got %q", o)}
	}
	return nil
}
