package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/devserver"
	"github.com/latentda/latentda/metrics"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/worker"
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

// connection is a Temporal client, with the embedded server behind it if
// one was started.
type connection struct {
	Client     client.Client
	Server     *devserver.Server
	worker     sdkworker.Worker
	metrics    *metrics.Metrics
	metricsSrv *metrics.Server
}

// startWorker starts a latentda worker on this connection; Close stops it.
func (c *connection) startWorker(o connOptions) error {
	removeStaleTemps(o.StateDir)
	a := &activities.Activities{StateRoot: o.StateDir, Logger: slog.Default()}
	if c.metrics != nil {
		a.Metrics = c.metrics
	}
	w := worker.NewWith(c.Client, o.TaskQueue, a)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	c.worker = w
	return nil
}

// removeStaleTemps deletes the temporary files that writers killed
// mid-write left in the state directory (older than store.StaleTempAge),
// so that crashes do not fill the disk. Failing to is only worth a warning.
func removeStaleTemps(stateDir string) {
	removed, err := store.RemoveStaleTemps(stateDir, store.StaleTempAge, time.Now())
	if len(removed) > 0 {
		slog.Info("removed temporary files left by interrupted writes", "count", len(removed), "first", removed[0])
	}
	if err != nil {
		slog.Warn("cleaning up temporary files", "error", err)
	}
}

func (c *connection) Close() {
	if c.worker != nil {
		c.worker.Stop()
	}
	if c.Client != nil {
		c.Client.Close()
	}
	if c.metricsSrv != nil {
		if err := c.metricsSrv.Close(); err != nil {
			slog.Warn("stopping the metrics server", "error", err)
		}
	}
	if c.Server != nil {
		if err := c.Server.Stop(); err != nil {
			slog.Warn("stopping the embedded Temporal server", "error", err)
		}
	}
}

// connect dials --address, or starts the embedded dev server (SQLite under
// the state directory, so runs survive restarts) when no address is given
// and embedded is allowed.
func (o *connOptions) connect(ctx context.Context, embedded bool) (*connection, error) {
	conn := &connection{}
	addr := o.Address
	if addr == "" {
		if !embedded {
			addr = "127.0.0.1:7233"
		} else if o.TLS.configured() {
			return nil, usageError{errors.New("TLS and API key options need --address: the embedded server listens without TLS on 127.0.0.1")}
		} else {
			dbDir := filepath.Join(o.StateDir, "temporal")
			if err := os.MkdirAll(dbDir, 0o755); err != nil {
				return nil, err
			}
			slog.Info("starting the embedded Temporal server", "db", filepath.Join(dbDir, "dev.db"))
			srv, err := devserver.Start(ctx, devserver.Options{
				DBPath:           filepath.Join(dbDir, "dev.db"),
				UIPort:           o.UIPort,
				Namespace:        o.Namespace,
				SearchAttributes: workflows.SearchAttributes(),
				Logger:           slog.Default(),
			})
			if err != nil {
				return nil, fmt.Errorf("embedded Temporal server: %w", err)
			}
			conn.Server = srv
			addr = srv.FrontendAddress()
			if ui := srv.UIAddress(); ui != "" {
				fmt.Fprintf(os.Stderr, "Temporal UI: %s/namespaces/%s/workflows\n", ui, o.Namespace)
			}
		}
	}
	copts := client.Options{
		HostPort:  addr,
		Namespace: o.Namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(warnOnly{slog.Default().Handler()})),
	}
	if conn.Server == nil {
		if err := o.TLS.apply(&copts); err != nil {
			return nil, err
		}
	}
	if o.MetricsAddr != "" {
		m, err := metrics.New()
		if err != nil {
			conn.Close()
			return nil, err
		}
		srv, err := metrics.Serve(o.MetricsAddr, m)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		slog.Info("serving Prometheus metrics", "url", "http://"+srv.Addr()+"/metrics")
		conn.metrics, conn.metricsSrv = m, srv
		copts.MetricsHandler = m.SDKHandler()
	}
	c, err := client.DialContext(ctx, copts)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to Temporal at %s: %w", addr, err)
	}
	conn.Client = c
	return conn, nil
}

// registerSearchAttributes adds latentda's search attributes to a
// cluster's namespace (the embedded server has them already).
func registerSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: workflows.SearchAttributes(),
	})
	if _, ok := err.(*serviceerror.AlreadyExists); ok {
		return nil
	}
	return err
}

// warnOnly drops SDK client logs below WARN (it logs every poll at INFO),
// and the SDK's TMPRL1104 warning ("workflow task duration exceeded 5
// seconds"), which every run of local-activity batches longer than 5 s
// triggers by design: the batches run inside one heartbeating workflow task.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "TMPRL1104") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h warnOnly) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnOnly{h.Handler.WithAttrs(attrs)}
}

func (h warnOnly) WithGroup(name string) slog.Handler { return warnOnly{h.Handler.WithGroup(name)} }
