// Package devserver runs an embedded Temporal development server (frontend,
// history, matching and worker services in this process, SQLite persistence)
// and, optionally, the Temporal Web UI. Nothing is downloaded at run time and
// no temporal binary is needed: a user with only Go can run workflows.
//
// The server is meant for a single developer machine: one history shard,
// SQLite with a single connection, static (not gossip) membership, no TLS,
// no auth, archival disabled.
package devserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/latentda/latentda/internal/flock"
)

const (
	// DefaultFrontendPort is the conventional Temporal frontend gRPC port.
	DefaultFrontendPort = 7233
	// DefaultUIPort is the port the Temporal CLI dev server uses for the UI.
	DefaultUIPort = 8233
	// DefaultNamespace is the namespace created when Options.Namespace is "".
	DefaultNamespace = "default"
	// DefaultRetention is how long closed workflow histories are kept in a
	// namespace created by Start, when Options.Retention is 0. A dev
	// database should not grow forever; a day is long enough to inspect
	// yesterday's runs in the UI.
	DefaultRetention = 24 * time.Hour

	clusterName = "active"

	// The namespace registry of every service reloads namespaces this often
	// (server default, system.namespaceCacheRefreshInterval). Search
	// attributes added to an existing namespace are usable by all services
	// only after one refresh.
	namespaceRefresh = 2 * time.Second
)

// Options configures Start. The zero value is a usable in-memory server on
// 127.0.0.1:7233 (or a free port) with the UI on 8233 (or a free port).
type Options struct {
	// DBPath is the SQLite database file. The file (and its parent
	// directories) is created and its schema set up when missing; an existing
	// file is reused, so a restarted process sees earlier workflows (and a
	// workflow that was running resumes). "" keeps everything in memory
	// (tests): the data is unreachable after Stop, but the server's SQLite
	// plugin never closes its pooled connections, so the memory is only
	// returned when the process exits.
	DBPath string
	// Host is the interface the frontend and the UI bind to. Default
	// "127.0.0.1". The internal services (history, matching, worker) always
	// bind to 127.0.0.1.
	Host string
	// FrontendPort is the frontend gRPC port. 0 means DefaultFrontendPort, or
	// a free port when that one is busy. Any other value must be free.
	FrontendPort int
	// UIPort is the Web UI HTTP port. 0 means DefaultUIPort, or a free port
	// when that one is busy; -1 disables the UI. Any other value must be free.
	UIPort int
	// Namespace is created if missing. Default "default".
	Namespace string
	// Retention applies to the namespace when Start creates it, and is
	// updated on an existing namespace when set explicitly. 0 means
	// DefaultRetention (24h); the server refuses less than 1h.
	Retention time.Duration
	// SearchAttributes are custom search attributes registered on Namespace
	// at start. Registering an existing attribute with the same type is a
	// no-op; an existing attribute with another type is an error. SQLite
	// visibility has a fixed number of slots per namespace and type: 10
	// Keyword, 3 each of Bool, Int, Double, Datetime, Text, KeywordList.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs. nil means slog.Default().
	Logger *slog.Logger
	// LogLevel is the minimum level of server logs passed to Logger. nil
	// means slog.LevelWarn: the server is very chatty at INFO.
	LogLevel slog.Leveler
	// DynamicConfig overrides server dynamic config values by key, e.g.
	// {"limit.blobSize.error": 8 << 20}. They take precedence over the
	// values this package sets (see buildServerOptions).
	DynamicConfig map[string]any
}

// Server is a running embedded dev server. Its methods are safe for
// concurrent use.
type Server struct {
	temporal     temporal.Server
	ui           *uiserver.Server
	uiDone       chan struct{}
	frontendAddr string
	uiAddr       string
	namespace    string
	logger       *slog.Logger
	stopping     *atomic.Bool // silences server logs during shutdown
	unlockDB     func()

	stopOnce sync.Once
	stopErr  error
}

// FrontendAddress returns the host:port to pass to client.Dial.
func (s *Server) FrontendAddress() string { return s.frontendAddr }

// UIAddress returns the Web UI base URL, e.g. "http://127.0.0.1:8233", or ""
// when the UI is disabled.
func (s *Server) UIAddress() string { return s.uiAddr }

// Namespace returns the namespace created/registered at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop shuts the UI and the Temporal services down. It is safe to call more
// than once (later calls return the first result). Clients and workers
// connected to the server should be stopped first, otherwise they log
// connection errors while they retry.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		if s.ui != nil {
			s.ui.Stop()
			<-s.uiDone
		}
		s.stopErr = s.temporal.Stop()
		s.unlockDB()
	})
	return s.stopErr
}

// Start starts the Temporal services (and the UI) and returns once the
// frontend accepts calls, the namespace exists with the requested search
// attributes, and the UI answers HTTP. ctx bounds the start-up only; the
// server runs until Stop.
func Start(ctx context.Context, opts Options) (_ *Server, retErr error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	stopping := new(atomic.Bool)
	serverLog := newServerLogger(opts.Logger, opts.LogLevel, stopping)
	sl := serverLog.SLog()

	// Ports. The frontend and UI get their conventional defaults when free;
	// everything internal gets a free port on loopback.
	var pp portPicker
	defer pp.release()
	const internalHost = "127.0.0.1"
	frontendPort, err := pp.pick(opts.Host, opts.FrontendPort, DefaultFrontendPort)
	if err != nil {
		return nil, fmt.Errorf("devserver: frontend: %w", err)
	}
	var ports [4]int // frontend HTTP, history, matching, worker
	for i := range ports {
		h := internalHost
		if i == 0 {
			h = opts.Host
		}
		if ports[i], err = pp.pick(h, 0, 0); err != nil {
			return nil, fmt.Errorf("devserver: %w", err)
		}
	}
	uiPort := 0
	if opts.UIPort != -1 {
		if uiPort, err = pp.pick(opts.Host, opts.UIPort, DefaultUIPort); err != nil {
			return nil, fmt.Errorf("devserver: UI: %w", err)
		}
	}

	unlockDB := func() {}
	if opts.DBPath != "" {
		if err := os.MkdirAll(filepath.Dir(opts.DBPath), 0o755); err != nil {
			return nil, fmt.Errorf("devserver: database directory: %w", err)
		}
		// Two Temporal servers on one SQLite file would both own history
		// shard 1 and fence each other off (and fight over the frontend
		// port).
		lock := opts.DBPath + ".lock"
		if unlockDB, err = flock.Exclusive(lock); errors.Is(err, flock.ErrHeld) {
			return nil, fmt.Errorf("devserver: database %s is in use by another dev server (lock %s held): stop it, or point the other commands at it with --address (127.0.0.1:7233 for latentda dev)", opts.DBPath, lock)
		} else if err != nil {
			return nil, fmt.Errorf("devserver: %w", err)
		}
	}
	// Until the Server exists (it releases the lock in Stop).
	started := false
	defer func() {
		if !started {
			unlockDB()
		}
	}()

	sqlCfg, err := prepareDatabase(opts)
	if err != nil {
		return nil, err
	}

	frontendAddr := net.JoinHostPort(dialHost(opts.Host), strconv.Itoa(frontendPort))
	cfg := buildConfig(opts, sqlCfg, frontendAddr, frontendPort, ports)
	serverOpts, err := buildServerOptions(cfg, serverLog, frontendAddr, ports, opts.DynamicConfig)
	if err != nil {
		return nil, err
	}
	pp.release() // the server binds its listeners while it is constructed
	ts, err := temporal.NewServer(serverOpts...)
	if err != nil {
		return nil, fmt.Errorf("devserver: creating Temporal server: %w", err)
	}
	if err := startTemporal(ctx, ts, stopping); err != nil {
		return nil, err
	}
	started = true
	s := &Server{
		temporal:     ts,
		frontendAddr: frontendAddr,
		namespace:    opts.Namespace,
		logger:       sl,
		stopping:     stopping,
		unlockDB:     unlockDB,
	}
	defer func() {
		if retErr != nil {
			_ = s.Stop()
		}
	}()

	if uiPort != 0 {
		if err := s.startUI(ctx, opts.Host, uiPort); err != nil {
			return nil, err
		}
	}
	if err := s.configureNamespace(ctx, opts, sl); err != nil {
		return nil, err
	}
	return s, nil
}

func (o *Options) normalize() error {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogLevel == nil {
		o.LogLevel = slog.LevelWarn
	}
	if o.FrontendPort < 0 || o.FrontendPort > 65535 {
		return fmt.Errorf("devserver: invalid frontend port %d", o.FrontendPort)
	}
	if o.UIPort < -1 || o.UIPort > 65535 {
		return fmt.Errorf("devserver: invalid UI port %d (-1 disables the UI)", o.UIPort)
	}
	if o.FrontendPort != 0 && o.FrontendPort == o.UIPort {
		return fmt.Errorf("devserver: frontend and UI ports are both %d", o.UIPort)
	}
	if o.Retention != 0 && o.Retention < time.Hour {
		return fmt.Errorf("devserver: retention %v is below the server minimum of 1h", o.Retention)
	}
	if strings.ContainsAny(o.DBPath, "?#") {
		// The SQLite plugin builds a "file:<path>?<params>" URI unescaped.
		return fmt.Errorf("devserver: database path %q must not contain '?' or '#'", o.DBPath)
	}
	if o.DBPath != "" {
		abs, err := filepath.Abs(o.DBPath)
		if err != nil {
			return fmt.Errorf("devserver: database path: %w", err)
		}
		o.DBPath = abs
	}
	for name, typ := range o.SearchAttributes {
		if name == "" {
			return errors.New("devserver: empty search attribute name")
		}
		if _, ok := enumspb.IndexedValueType_name[int32(typ)]; !ok || typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED {
			return fmt.Errorf("devserver: search attribute %q has invalid type %v", name, typ)
		}
	}
	return nil
}

// prepareDatabase builds the SQLite store configuration, creating the schema
// for a new file, and pre-creates the namespace (with retention and search
// attributes) when it does not exist yet. Pre-creating, rather than
// registering through the API after start, makes the namespace and its
// search attributes visible to every service immediately.
func prepareDatabase(opts Options) (*config.SQL, error) {
	sqlCfg := &config.SQL{PluginName: sqliteplugin.PluginName}
	if opts.DBPath == "" {
		// A unique name: the plugin pools connections per DSN process-wide,
		// so two in-memory servers must never share a name.
		var b [8]byte
		_, _ = rand.Read(b[:])
		sqlCfg.DatabaseName = "latentda-mem-" + hex.EncodeToString(b[:])
		sqlCfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		path := opts.DBPath
		sqlCfg.DatabaseName = path
		sqlCfg.ConnectAttributes = map[string]string{
			"mode": "rwc",
			// SQLite's default rollback journal with synchronous=FULL
			// fsyncs several times per commit; every workflow step is a
			// few commits through the plugin's single connection, which
			// made a trivial workflow take seconds on a busy disk. WAL
			// with synchronous=NORMAL is crash-safe for the application
			// (only an OS crash/power loss can drop the last commits).
			"journal_mode": "wal",
			"synchronous":  "normal",
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
				// Do not leave a half-initialised file behind: the next
				// start would take it for a valid database.
				_ = os.Remove(path)
				return nil, fmt.Errorf("devserver: setting up SQLite schema in %s: %w", path, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("devserver: database file: %w", err)
		}
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %q: %w", opts.Namespace, err)
	}
	retention := opts.Retention
	if retention == 0 {
		retention = DefaultRetention
	}
	ns.Detail.Config.Retention = durationpb.New(retention)
	// No-op when the namespace exists (then configureNamespace reconciles).
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("devserver: creating namespace %q: %w", opts.Namespace, err)
	}
	return sqlCfg, nil
}

// buildConfig assembles the static server configuration in code (what a
// development.yaml would otherwise hold).
func buildConfig(opts Options, sqlCfg *config.SQL, frontendAddr string, frontendPort int, ports [4]int) *config.Config {
	const store = "sqlite-default"
	httpAddr := net.JoinHostPort(dialHost(opts.Host), strconv.Itoa(ports[0]))
	internal := func(port int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: "127.0.0.1"}}
	}

	cfg := &config.Config{}
	cfg.Global.Membership.MaxJoinDuration = 30 * time.Second
	cfg.Global.Membership.BroadcastAddress = "127.0.0.1"
	// Global.Metrics stays nil: no Prometheus listener. PProf port 0: off.
	cfg.Persistence = config.Persistence{
		DefaultStore:     store,
		VisibilityStore:  store,
		NumHistoryShards: 1, // persisted at first start; never change it
		DataStores:       map[string]config.DataStore{store: {SQL: sqlCfg}},
	}
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendAddr,
				HTTPAddress:            httpAddr,
			},
		},
	}
	cfg.DCRedirectionPolicy.Policy = "noop"
	cfg.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{
			GRPCPort: frontendPort,
			HTTPPort: ports[0],
			BindOnIP: opts.Host,
		}},
		string(primitives.HistoryService):  internal(ports[1]),
		string(primitives.MatchingService): internal(ports[2]),
		string(primitives.WorkerService):   internal(ports[3]),
	}
	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service (schedules, batch operations, ...) reaches the
	// frontend through the public client; the server refuses to start
	// without it.
	cfg.PublicClient.HostPort = frontendAddr
	return cfg
}

func buildServerOptions(cfg *config.Config, logger serverLogger, frontendAddr string, ports [4]int, overrides map[string]any) ([]temporal.ServerOption, error) {
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: claim mapper: %w", err)
	}
	loopback := func(port int) static.Hosts {
		return static.SingleLocalHost(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}

	// Dynamic config: server defaults except where a single-user dev
	// server on a laptop wants otherwise.
	dc := dynamicconfig.StaticClient{
		// The host-level mutable-state cache defaults to 128k entries:
		// far more memory than a dev server should hold.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
		// The UI lists and counts workflows a lot; the default 10 RPS of
		// visibility calls per namespace gets throttled quickly.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,

		// History task processors default to 512 goroutines each (timer,
		// transfer, visibility, replication): ~2,700 idle goroutines. With
		// one shard and one SQLite connection 64 is plenty; replication is
		// unused on a single cluster.
		dynamicconfig.TimerProcessorSchedulerWorkerCount.Key():                  64,
		dynamicconfig.TransferProcessorSchedulerWorkerCount.Key():               64,
		dynamicconfig.VisibilityProcessorSchedulerWorkerCount.Key():             64,
		dynamicconfig.ReplicationProcessorSchedulerWorkerCount.Key():            4,
		dynamicconfig.ReplicationLowPriorityProcessorSchedulerWorkerCount.Key(): 4,

		// The worker service starts SDK workers for the task-queue and
		// history scanners and the parent-close-policy processor that it
		// never stops (server v1.32.1): they keep polling a dead frontend
		// after Stop. Turn them off. Without the parent-close worker the
		// history service applies parent close policies itself, which is
		// what it does anyway below 10 children. The scanners only garbage
		// collect leftovers (expired tasks, orphan history branches);
		// retention deletes closed workflows without them.
		dynamicconfig.EnableParentClosePolicyWorker.Key(): false,
		dynamicconfig.TaskQueueScannerEnabled.Key():       false,
		dynamicconfig.HistoryScannerEnabled.Key():         false,
	}
	for k, v := range overrides {
		dc[dynamicconfig.MakeKey(k)] = v
	}

	return []temporal.ServerOption{
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		// Static membership: no ringpop gossip, no membership ports, no
		// join delay.
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(frontendAddr),
			primitives.HistoryService:  loopback(ports[1]),
			primitives.MatchingService: loopback(ports[2]),
			primitives.WorkerService:   loopback(ports[3]),
		}),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dc),
	}, nil
}

// startTemporal runs ts.Start, which takes no context, honouring ctx: on
// cancellation it waits for the start to finish and stops the server again
// so nothing is left running.
func startTemporal(ctx context.Context, ts temporal.Server, stopping *atomic.Bool) error {
	done := make(chan error, 1)
	go func() { done <- ts.Start() }()
	select {
	case err := <-done:
		if err != nil {
			stopping.Store(true)
			_ = ts.Stop()
			return fmt.Errorf("devserver: starting Temporal server: %w", err)
		}
		return nil
	case <-ctx.Done():
		<-done
		stopping.Store(true)
		_ = ts.Stop()
		return fmt.Errorf("devserver: starting Temporal server: %w", ctx.Err())
	}
}

func (s *Server) startUI(ctx context.Context, host string, port int) error {
	// ui-server's Start calls its logger's Fatal (os.Exit) when it cannot
	// bind, so re-check the port right before handing it over.
	if err := portFree(host, port); err != nil {
		return fmt.Errorf("devserver: UI port %d: %w", port, err)
	}
	uiHost := host
	if strings.Contains(host, ":") {
		uiHost = "[" + host + "]" // ui-server joins host and port with %s:%d
	}
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                uiHost,
		Port:                port,
		TemporalGRPCAddress: s.frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    s.namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true}, // plain http on localhost
		HideLogs:            true,
		DisableNewsFetch:    true, // no outbound calls from the browser page
		// RefreshInterval stays 0: a non-zero one starts a reload loop
		// that never exits.
	}))
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		if err := s.ui.Start(); err != nil {
			s.logger.Error("Temporal UI server stopped", "error", err)
		}
	}()

	s.uiAddr = "http://" + net.JoinHostPort(dialHost(host), strconv.Itoa(port))
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.uiAddr+"/", nil)
		if err != nil {
			return fmt.Errorf("devserver: UI: %w", err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: waiting for UI at %s: %w", s.uiAddr, ctx.Err())
		case <-s.uiDone:
			return fmt.Errorf("devserver: UI server at %s exited during start", s.uiAddr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// configureNamespace dials the frontend (which also proves it is serving),
// then reconciles retention and search attributes on a namespace that
// already existed before this start.
func (s *Server) configureNamespace(ctx context.Context, opts Options, sl *slog.Logger) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.frontendAddr,
		Namespace: s.namespace,
		Logger:    sdklog.NewStructuredLogger(sl),
	})
	if err != nil {
		return fmt.Errorf("devserver: dialing frontend %s: %w", s.frontendAddr, err)
	}
	defer c.Close()

	if opts.Retention != 0 {
		desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.namespace})
		if err != nil {
			return fmt.Errorf("devserver: describing namespace %q: %w", s.namespace, err)
		}
		if desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() != opts.Retention {
			_, err := c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
				Namespace: s.namespace,
				Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(opts.Retention)},
			})
			if err != nil {
				return fmt.Errorf("devserver: setting retention of %q: %w", s.namespace, err)
			}
		}
	}

	if len(opts.SearchAttributes) == 0 {
		return nil
	}
	added, err := EnsureSearchAttributes(ctx, c.OperatorService(), s.namespace, opts.SearchAttributes)
	if err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	if !added {
		return nil
	}
	// The mapping lives in the namespace record: wait until every service's
	// namespace registry has reloaded it.
	select {
	case <-time.After(namespaceRefresh + 500*time.Millisecond):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devserver: waiting for search attributes: %w", ctx.Err())
	}
}

// EnsureSearchAttributes registers on namespace the custom search
// attributes of want that it lacks, and reports whether it added any. It
// lists them first, so a namespace that has them all is not asked to add
// them again (the server logs a warning for each). An attribute that exists
// with another type, or is a system attribute, is an error; one that
// another client added in between is not. For SQL
// visibility the operator service maps each new attribute onto a free
// pre-allocated column.
func EnsureSearchAttributes(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string, want map[string]enumspb.IndexedValueType) (bool, error) {
	list, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return false, fmt.Errorf("listing search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := list.GetCustomAttributes()[name]
		if !ok {
			if _, sys := list.GetSystemAttributes()[name]; sys {
				return false, fmt.Errorf("search attribute %q is a system attribute", name)
			}
			missing[name] = typ
			continue
		}
		if got != typ {
			return false, fmt.Errorf("search attribute %q already exists as %v, not %v", name, got, typ)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if _, raced := err.(*serviceerror.AlreadyExists); err != nil && !raced {
		return false, fmt.Errorf("adding search attributes: %w", err)
	}
	return true, nil
}
