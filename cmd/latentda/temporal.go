package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	// IP and Port are where `dev`'s embedded server listens.
	IP   string
	Port int
	// MetricsAddr, if set, serves Prometheus metrics of the in-process
	// worker and client at http://MetricsAddr/metrics.
	MetricsAddr string
	// AllowPaths are directories outside StateDir whose files configs may
	// name (--allow-path; config.Config.Confine).
	AllowPaths []string
	TLS        tlsOptions
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

// addFlags adds the connection flags (and with withUI --ui-port). withUI
// marks the commands that start an embedded server when --address
// is empty; the others then connect to the local one `latentda dev`
// starts.
func (o *connOptions) addFlags(cmd *cobra.Command, withUI bool) {
	empty := "empty: 127.0.0.1:7233, where latentda dev listens by default"
	if withUI {
		empty = "empty starts an embedded dev server"
	}
	cmd.Flags().StringVar(&o.Address, "address", os.Getenv("TEMPORAL_ADDRESS"), "Temporal frontend host:port; "+empty+" (env TEMPORAL_ADDRESS)")
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
		cmd.Flags().IntVar(&o.UIPort, "ui-port", 0, "embedded Temporal UI port (default 8233, or a free port when busy; a port given must be free; -1 disables the UI)")
	}
}

// addMetricsFlag adds --metrics-addr and --allow-path, for the commands
// that run a worker.
func (o *connOptions) addMetricsFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.MetricsAddr, "metrics-addr", os.Getenv("LATENTDA_METRICS_ADDR"), "serve Prometheus metrics of the worker at http://ADDR/metrics, e.g. :9090 (env LATENTDA_METRICS_ADDR)")
	o.addAllowFlag(cmd)
}

// addAllowFlag adds --allow-path.
func (o *connOptions) addAllowFlag(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&o.AllowPaths, "allow-path", nil, "a directory outside --state-dir whose files configs may name (latent.generator, ood.generator, an external model's program); repeatable")
}

// complete makes the state directory (owner-only when new) and the
// allowed directories absolute; an empty --state-dir is an error.
func (o *connOptions) complete() error {
	if o.Port < 0 || o.Port > 65535 {
		return usageError{fmt.Errorf("--port must be 0..65535 (0: 7233, or a free port when busy), got %d", o.Port)}
	}
	if o.UIPort < -1 || o.UIPort > 65535 {
		return usageError{fmt.Errorf("--ui-port must be -1..65535 (-1: no UI; 0: 8233, or a free port when busy), got %d", o.UIPort)}
	}
	abs, err := stateDirAbs(o.StateDir)
	if err != nil {
		return err
	}
	o.StateDir = abs
	for i, p := range o.AllowPaths {
		if strings.TrimSpace(p) == "" {
			return usageError{errors.New("--allow-path: empty; give a directory")}
		}
		if o.AllowPaths[i], err = filepath.Abs(p); err != nil {
			return fmt.Errorf("--allow-path: %w", err)
		}
	}
	// Owner-only when new (an existing directory keeps its mode): run
	// files and the server database are the operator's.
	return os.MkdirAll(abs, 0o700)
}

// stateDirAbs returns the absolute path of --state-dir, refusing an empty
// one (which would mean the current directory).
func stateDirAbs(dir string) (string, error) {
	if strings.TrimSpace(dir) == "" {
		return "", usageError{errors.New("--state-dir: empty; give a directory (default state, or env LATENTDA_STATE_DIR)")}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--state-dir: %w", err)
	}
	return abs, nil
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
		UIPort: o.UIPort, IP: o.IP, Port: o.Port, MetricsAddr: o.MetricsAddr, TLS: o.TLS.options(),
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
