package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/latentda/latentda/internal/temporalclient"
	"github.com/latentda/latentda/workflows"
)

// defaultStateDir is where runs keep their state unless --state-dir or
// LATENTDA_STATE_DIR says otherwise.
const defaultStateDir = "state"

// connOptions are the flags shared by every command that talks to Temporal.
type connOptions struct {
	Address   string
	Namespace string
	StateDir  string
	TaskQueue string
	UIPort    int
	// MetricsAddr, if set, serves Prometheus metrics of the in-process
	// worker and client at http://MetricsAddr/metrics.
	MetricsAddr string
	TLS         tlsOptions
}

// envFirst returns the first non-empty of the named environment variables.
func envFirst(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func (o *connOptions) addFlags(cmd *cobra.Command, withUI bool) {
	cmd.Flags().StringVar(&o.Address, "address", os.Getenv("TEMPORAL_ADDRESS"), "Temporal frontend host:port; empty starts an embedded dev server (env TEMPORAL_ADDRESS)")
	ns := os.Getenv("TEMPORAL_NAMESPACE")
	if ns == "" {
		ns = "default"
	}
	cmd.Flags().StringVar(&o.Namespace, "namespace", ns, "Temporal namespace (env TEMPORAL_NAMESPACE)")
	sd := os.Getenv("LATENTDA_STATE_DIR")
	if sd == "" {
		sd = defaultStateDir
	}
	cmd.Flags().StringVar(&o.StateDir, "state-dir", sd, "directory holding run state (and the embedded server's database) (env LATENTDA_STATE_DIR)")
	cmd.Flags().StringVar(&o.TaskQueue, "task-queue", workflows.TaskQueue, "Temporal task queue of the workers")
	o.TLS.addFlags(cmd)
	if withUI {
		cmd.Flags().IntVar(&o.UIPort, "ui-port", 8233, "embedded Temporal UI port (a free one if busy; -1 disables the UI)")
	}
}

// addMetricsFlag adds --metrics-addr, for the commands that run a worker.
func (o *connOptions) addMetricsFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.MetricsAddr, "metrics-addr", os.Getenv("LATENTDA_METRICS_ADDR"), "serve Prometheus metrics of the worker at http://ADDR/metrics, e.g. :9090 (env LATENTDA_METRICS_ADDR)")
}

func (o *connOptions) complete() error {
	abs, err := filepath.Abs(o.StateDir)
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	o.StateDir = abs
	return os.MkdirAll(abs, 0o755)
}

// connect connects as o says (see temporalclient.Connect). Errors in the
// options are usage errors.
func (o *connOptions) connect(ctx context.Context, embedded bool) (*temporalclient.Connection, error) {
	if o.Address != "" || !embedded {
		if err := o.TLS.envError(); err != nil {
			return nil, err
		}
	}
	conn, err := temporalclient.Connect(ctx, temporalclient.Options{
		Address: o.Address, Namespace: o.Namespace, StateDir: o.StateDir,
		UIPort: o.UIPort, MetricsAddr: o.MetricsAddr, TLS: o.TLS.options(),
	}, embedded)
	return conn, asUsage(err)
}

// asUsage makes an error in the options of package temporalclient a usage
// error, with the same message.
func asUsage(err error) error {
	if errors.Is(err, temporalclient.ErrUsage) {
		return usageError{err}
	}
	return err
}
