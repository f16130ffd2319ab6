// Package metrics defines latentda's Prometheus metrics and exposes them,
// together with the Temporal SDK's own worker and client metrics, on one
// registry. Activities see only the small recorder interface they declare
// (activities.Recorder), so the numerics and the activities stay free of
// Prometheus.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Metrics holds latentda's metrics and the registry that serves them.
// Its methods are safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	provider *sdkmetric.MeterProvider
	sdk      client.MetricsHandler

	cycles        prometheus.Counter
	cycleDuration prometheus.Histogram
	rmse          *prometheus.GaugeVec
	spread        *prometheus.GaugeVec
	flagged       prometheus.Counter
	bytesWritten  prometheus.Counter
}

// New registers latentda's metrics, the Go runtime and process collectors,
// and an OpenTelemetry exporter that carries the Temporal SDK's metrics
// (SDKHandler) into the same registry.
func New() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m := &Metrics{
		reg:      reg,
		provider: provider,
		sdk: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter:                provider.Meter("temporal-sdk-go"),
			UseMonotonicCounters: true,
			OnError:              func(err error) { slog.Warn("metrics: temporal sdk metric", "error", err) },
		}),
		cycles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latentda_cycles_total",
			Help: "Assimilation cycles completed by this worker.",
		}),
		cycleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "latentda_cycle_duration_seconds",
			Help:    "Wall time of one assimilation cycle (forecast, observation, analysis, file writes).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5 ms .. 131 s
		}),
		rmse: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "latentda_analysis_rmse",
			Help: "Analysis RMSE against the truth of the latest cycle of each run.",
		}, []string{"run_id"}),
		spread: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "latentda_analysis_spread",
			Help: "Analysis ensemble spread of the latest cycle of each run.",
		}, []string{"run_id"}),
		flagged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latentda_observations_flagged_total",
			Help: "Observations flagged by quality control (e.g. out of distribution) and left out of analyses.",
		}),
		bytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latentda_bytes_written_total",
			Help: "Bytes of state files written by the activities.",
		}),
	}
	for _, c := range []prometheus.Collector{
		m.cycles, m.cycleDuration, m.rmse, m.spread, m.flagged, m.bytesWritten,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// SDKHandler is the handler to pass as client.Options.MetricsHandler: the
// SDK's client and worker metrics (temporal_*) then appear beside
// latentda's own.
func (m *Metrics) SDKHandler() client.MetricsHandler { return m.sdk }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// CycleDone records a finished cycle of a run: its wall time and its
// analysis RMSE and spread.
func (m *Metrics) CycleDone(runID string, d time.Duration, rmseA, spreadA float64) {
	m.cycles.Inc()
	m.cycleDuration.Observe(d.Seconds())
	m.rmse.WithLabelValues(runID).Set(rmseA)
	m.spread.WithLabelValues(runID).Set(spreadA)
}

// ObservationsFlagged adds n flagged observations.
func (m *Metrics) ObservationsFlagged(n int) {
	if n > 0 {
		m.flagged.Add(float64(n))
	}
}

// BytesWritten adds n bytes of written state.
func (m *Metrics) BytesWritten(n int64) {
	if n > 0 {
		m.bytesWritten.Add(float64(n))
	}
}

// Server serves /metrics over HTTP.
type Server struct {
	srv  *http.Server
	addr string
	done chan error
	m    *Metrics
}

// Serve listens on addr (host:port; ":0" picks a free port) and serves the
// metrics at /metrics until Close.
func Serve(addr string, m *Metrics) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		addr: l.Addr().String(),
		done: make(chan error, 1),
		m:    m,
	}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and flushes the SDK metrics provider.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, s.m.provider.Shutdown(ctx))
}
