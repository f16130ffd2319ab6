// Package temporalclient is what latentda's commands ask of Temporal. It
// connects: dials a cluster (with TLS, mutual TLS or an API key) or starts
// the embedded dev server, serves the Prometheus metrics of the client and
// worker, starts a latentda worker on the connection, and registers
// latentda's search attributes on a namespace (setup.go: a new cluster's
// namespace). It names a run's workflow and reads its status (runs.go),
// lists runs and live runs (list.go), maps a live run onto a Temporal
// schedule and back (schedules.go), reads and saves histories for replay
// (history.go), and prints for the commands: a run's progress and
// summary (summary.go), status and schedule text (text.go), and errors
// with each cause once (display.go).
package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/latentda/latentda/activities"
	"github.com/latentda/latentda/devserver"
	"github.com/latentda/latentda/external"
	"github.com/latentda/latentda/metrics"
	"github.com/latentda/latentda/store"
	"github.com/latentda/latentda/worker"
	"github.com/latentda/latentda/workflows"
)

// Options say where Temporal is and how to reach it.
type Options struct {
	// Address is the frontend's host:port; "" starts the embedded dev
	// server, or dials 127.0.0.1:7233 where that is not allowed.
	Address   string
	Namespace string
	// StateDir is the state directory, absolute; the embedded server keeps
	// its database under StateDir/temporal.
	StateDir string
	// UIPort is the embedded server's UI port (see devserver.Options).
	UIPort int
	// IP and Port are where the embedded server's frontend (and UI)
	// listen: default 127.0.0.1 and 7233 (or a free port). An IP beyond
	// loopback is warned about on stderr.
	IP   string
	Port int
	// MetricsAddr, if set, serves Prometheus metrics of the client and of
	// a worker started on the connection at http://MetricsAddr/metrics.
	MetricsAddr string
	TLS         TLS
}

// Connection is a Temporal client, with the embedded server behind it if
// one was started.
type Connection struct {
	Client client.Client
	Server *devserver.Server
	// The latentda worker of StartWorker, as two SDK workers: flow serves
	// workflow tasks and local activities, acts regular activities, which
	// run under a context that cancelActs cancels and inFlight counts.
	flow, acts sdkworker.Worker
	cancelActs context.CancelFunc
	inFlight   *activityCounter
	metrics    *metrics.Metrics
	metricsSrv *metrics.Server
}

// WorkerDrainTimeout is how long Drain lets the regular activities in
// flight on a stopping worker finish: other runs' work the worker picked up
// from the shared task queue. Long enough for a batch or a fanned-out task
// of seconds, it stays below those activities' heartbeat timeouts (1
// minute by default for a fan-out, 2 minutes for a batch of cycles:
// workflows/), the wait an abandoned activity costs its run, and bounds
// how long a command that has finished its own run takes to exit.
const WorkerDrainTimeout = 30 * time.Second

// Connect dials o.Address, or starts the embedded dev server (SQLite under
// the state directory, so runs survive restarts) when no address is given
// and embedded is allowed.
func Connect(ctx context.Context, o Options, embedded bool) (*Connection, error) {
	conn := &Connection{}
	addr := o.Address
	if addr != "" {
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
			return nil, usagef("--address %q: want host:port, such as localhost:7233", addr)
		}
	}
	if addr == "" {
		if !embedded {
			addr = "127.0.0.1:7233"
		} else if o.TLS.Configured() {
			return nil, usagef("TLS and API key options need --address: the embedded server listens without TLS on 127.0.0.1")
		} else {
			dbDir := filepath.Join(o.StateDir, "temporal")
			ownerOnly, err := ownerOnlyDB(dbDir)
			if err != nil {
				return nil, err
			}
			if o.IP != "" {
				warnExposed("--ip", o.IP, o.IP)
			}
			slog.Info("starting the embedded Temporal server", "db", filepath.Join(dbDir, "dev.db"))
			srv, err := devserver.Start(ctx, devserver.Options{
				DBPath:           filepath.Join(dbDir, "dev.db"),
				Host:             o.IP,
				FrontendPort:     o.Port,
				UIPort:           o.UIPort,
				Namespace:        o.Namespace,
				SearchAttributes: workflows.SearchAttributes(),
				Logger:           slog.Default(),
			})
			if err != nil {
				return nil, fmt.Errorf("embedded Temporal server: %w", err)
			}
			ownerOnly()
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
		if host, _, err := net.SplitHostPort(o.MetricsAddr); err == nil {
			warnExposed("--metrics-addr", o.MetricsAddr, host)
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
		if o.Address == "" && conn.Server == nil {
			return nil, fmt.Errorf("no Temporal server at %s: start one with `latentda dev --state-dir DIR` (the embedded server `latentda run` starts), or give --address host:port (env TEMPORAL_ADDRESS): %w", addr, err)
		}
		return nil, fmt.Errorf("connect to Temporal at %s (is the server running, and --address right?): %w", addr, err)
	}
	conn.Client = c
	return conn, nil
}

// StartWorker starts a latentda worker on taskQueue on this connection,
// with run state under stateDir and config files allowed there and in the
// directories allow; Close or Drain stops it.
//
// It is two SDK workers. Workflow tasks and local activities stop at once
// (the SDK's default stop timeout of 0): given time, an interrupted local
// activity would hand its cancellation to its workflow task, which would
// fail the run; abandoned, the workflow task times out and the run goes
// on elsewhere. Regular activities stop after up to WorkerDrainTimeout,
// under a context that Close cancels first.
func (c *Connection) StartWorker(stateDir, taskQueue string, allow []string) error {
	RemoveStaleTemps(stateDir)
	a := &activities.Activities{StateRoot: stateDir, AllowPaths: allow, Logger: slog.Default()}
	if c.metrics != nil {
		a.Metrics = c.metrics
	}
	ctx, cancel := context.WithCancel(context.Background())
	count := &activityCounter{}
	flow := worker.NewWith(c.Client, taskQueue, a, sdkworker.Options{LocalActivityWorkerOnly: true})
	acts := worker.NewWith(c.Client, taskQueue, a, sdkworker.Options{
		DisableWorkflowWorker:     true,
		WorkerStopTimeout:         WorkerDrainTimeout,
		BackgroundActivityContext: ctx,
		Interceptors:              []interceptor.WorkerInterceptor{count},
	})
	if err := flow.Start(); err != nil {
		cancel()
		return fmt.Errorf("start worker: %w", err)
	}
	if err := acts.Start(); err != nil {
		cancel()
		flow.Stop()
		return fmt.Errorf("start worker (regular activities): %w", err)
	}
	c.flow, c.acts, c.cancelActs, c.inFlight = flow, acts, cancel, count
	return nil
}

// Drain stops the worker of StartWorker, letting the regular activities
// in flight finish for up to WorkerDrainTimeout (and saying so on notice
// when there are any, as the command has printed its result and would
// otherwise seem to hang), so that the runs they belong to need not wait
// out their heartbeat timeouts; workflow tasks and local activities stop
// at once. A command calls it once its own run has completed, never on
// an interrupt or a failure (Close alone stops promptly); Close still
// follows.
func (c *Connection) Drain(notice io.Writer) {
	if c.flow == nil {
		return
	}
	c.flow.Stop()
	if n := c.inFlight.n.Load(); n > 0 {
		fmt.Fprintf(notice, "waiting for the activities in flight on this worker (other runs' work it picked up) to finish before exiting (%d, at most %s)\n", n, WorkerDrainTimeout)
	}
	c.acts.Stop()
}

// ownerOnlyDB makes the embedded server's database directory owner-only
// (0700) whatever the umask, when it does not exist yet (an existing one
// keeps the operator's mode): the database holds every run's history. It
// returns a function that, after the server has created them, makes the
// database files of a new directory owner-only (0600) too.
func ownerOnlyDB(dir string) (func(), error) {
	_, err := os.Stat(dir)
	fresh := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("temporalclient: %w", err)
	}
	return func() {
		if !fresh {
			return
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "dev.db*"))
		for _, m := range matches {
			if err := os.Chmod(m, 0o600); err != nil {
				slog.Warn("making the server database owner-only", "error", err)
			}
		}
	}, nil
}

// warnings is where warnExposed writes (a test's buffer).
var warnings io.Writer = os.Stderr

// warnExposed warns on stderr, whatever the log level, when a listener
// that flag (value) sets binds to host, beyond loopback: anyone who
// reaches the machine reaches it.
func warnExposed(flag, value, host string) {
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return
	}
	where := host
	if host == "" || host == "0.0.0.0" || host == "::" {
		where = "every interface"
	}
	fmt.Fprintf(warnings, "WARNING: %s %s listens on %s, beyond this machine's loopback: anyone who can reach it can use it. Use 127.0.0.1 to keep it local.\n", flag, value, where)
}

// RemoveStaleTemps deletes the temporary files that writers killed
// mid-write left in the run directories of the state directory
// (stateDir/runs, older than store.StaleTempAge), so that crashes do not
// fill the disk; files elsewhere are never touched. Failing to is only
// worth a warning.
func RemoveStaleTemps(stateDir string) {
	removed, err := store.RemoveStaleTemps(filepath.Join(stateDir, "runs"), store.StaleTempAge, time.Now())
	if len(removed) > 0 {
		slog.Info("removed temporary files left by interrupted writes", "count", len(removed), "first", removed[0])
	}
	if err != nil {
		slog.Warn("cleaning up temporary files", "error", err)
	}
}

// Close stops the worker (cancelling its activities first, so that it
// stops promptly), the client, the metrics server and the embedded server,
// whichever were started.
func (c *Connection) Close() {
	if c.flow != nil {
		c.cancelActs()
		c.flow.Stop()
		// The worker's external model processes (package external): an
		// activity inside a request does not see its cancelled context, so
		// ending them first keeps acts.Stop from waiting out its timeout.
		if err := external.CloseAll(); err != nil {
			slog.Warn("stopping external model processes", "error", err)
		}
		c.acts.Stop()
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

// RegisterSearchAttributes adds latentda's search attributes to a
// cluster's namespace where they are missing (the embedded server has them
// already).
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	_, err := devserver.EnsureSearchAttributes(ctx, c.OperatorService(), namespace, workflows.SearchAttributes())
	return err
}

// activityCounter counts the activities a worker is running.
type activityCounter struct {
	interceptor.WorkerInterceptorBase
	n atomic.Int64
}

func (c *activityCounter) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &countedActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, n: &c.n}
}

// countedActivity keeps an activityCounter's count while it runs.
type countedActivity struct {
	interceptor.ActivityInboundInterceptorBase
	n *atomic.Int64
}

func (a *countedActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	a.n.Add(1)
	defer a.n.Add(-1)
	return a.Next.ExecuteActivity(ctx, in)
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
