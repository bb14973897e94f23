// Package telemetry sets up OpenTelemetry tracing and metrics for a service
// and builds the slog logger that stamps trace ids on every log line.
//
// Configuration comes from the standard OTEL_* variables, read through
// Options.Getenv so that a service's config layer (and its tests) decide what
// the environment is. One limitation remains: when an OTLP exporter is chosen,
// go.opentelemetry.io/contrib/exporters/autoexport and the OTLP exporters it
// builds read their own settings (OTEL_EXPORTER_OTLP_PROTOCOL, _ENDPOINT,
// _HEADERS, _TIMEOUT, TLS files, OTEL_TRACES_EXPORTER itself) straight from the
// process environment; so do the SDK's tuning knobs (OTEL_BSP_*,
// OTEL_METRIC_EXPORT_*, span limits), and the SDK merges the process's
// OTEL_RESOURCE_ATTRIBUTES underneath our resource. Getenv therefore decides
// whether and which exporter runs, the sampler and the resource; the process
// environment decides how OTLP connects. In a service Getenv is os.Getenv, so
// the two always agree.
//
// Metrics can also be pulled: OTEL_METRICS_EXPORTER=prometheus serves the
// meter provider's metrics as Prometheus text at /metrics on
// OTEL_EXPORTER_PROMETHEUS_HOST:OTEL_EXPORTER_PROMETHEUS_PORT (the
// specification's names and defaults, localhost:9464), read through Getenv.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The standard variables Setup reads through Options.Getenv.
const (
	envServiceName        = "OTEL_SERVICE_NAME"
	envResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
	envTracesExporter     = "OTEL_TRACES_EXPORTER"
	envMetricsExporter    = "OTEL_METRICS_EXPORTER"
	envOTLPEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTLPTraces         = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envOTLPMetrics        = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	envTracesSampler      = "OTEL_TRACES_SAMPLER"
	envTracesSamplerArg   = "OTEL_TRACES_SAMPLER_ARG"
	envPrometheusHost     = "OTEL_EXPORTER_PROMETHEUS_HOST"
	envPrometheusPort     = "OTEL_EXPORTER_PROMETHEUS_PORT"
)

// The specification's defaults for the Prometheus exporter's address.
const (
	defaultPrometheusHost = "localhost"
	defaultPrometheusPort = "9464"
)

// MetricsPath is where the Prometheus exporter serves.
const MetricsPath = "/metrics"

// Options configures Setup. The zero value is valid apart from the service
// name, which must come from ServiceName or OTEL_SERVICE_NAME.
type Options struct {
	// ServiceName becomes the resource's service.name; OTEL_SERVICE_NAME wins
	// when set, so operators can rename a deployment without a rebuild.
	ServiceName string
	// Getenv is how the OTEL_* variables are read; a service passes os.Getenv.
	// Nil means an empty environment (no exporters, default sampler).
	Getenv func(string) string
	// SpanProcessors are added to the tracer provider after the exporter's,
	// for example a test's in-memory exporter.
	SpanProcessors []sdktrace.SpanProcessor
	// Console is where the "console" exporters write; nil means os.Stdout.
	Console io.Writer
	// Logger, when set, receives the errors OpenTelemetry reports in the
	// background (an unreachable collector, dropped spans) instead of the
	// default unstructured line on stderr. It is installed globally.
	Logger *slog.Logger
	// MetricsListener, when set, is where the Prometheus exporter serves
	// instead of OTEL_EXPORTER_PROMETHEUS_HOST/_PORT; tests pass one bound to
	// 127.0.0.1:0, which avoids racing for a free port. Setup owns it from
	// then on and closes it on Shutdown, or at once when it fails. Passing one
	// while OTEL_METRICS_EXPORTER is not prometheus is an error.
	MetricsListener net.Listener
}

// Telemetry holds the providers Setup installed. Keep it to call Shutdown on
// exit: spans and metrics are batched, and anything not flushed is lost.
type Telemetry struct {
	// TracerProvider is also the global one; use it directly where passing a
	// provider beats reaching for otel.GetTracerProvider.
	TracerProvider *sdktrace.TracerProvider
	// MeterProvider is also the global one. It has no reader unless an
	// exporter is configured, so instruments cost almost nothing.
	MeterProvider *sdkmetric.MeterProvider
	// Propagator is the global W3C tracecontext + baggage propagator, for
	// carriers such as NATS headers.
	Propagator propagation.TextMapPropagator
	// Resource describes this process on every span and metric.
	Resource *resource.Resource
	// MetricsAddr is where Prometheus scrapes MetricsPath when
	// OTEL_METRICS_EXPORTER is prometheus, and nil otherwise.
	MetricsAddr net.Addr

	spanExporter  sdktrace.SpanExporter // nil when spans are not exported
	metricReader  sdkmetric.Reader      // nil when metrics are not exported
	metricsServer *http.Server          // nil unless metrics are scraped

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup builds the tracer and meter providers and registers them, with a
// W3C tracecontext + baggage propagator, as the OpenTelemetry globals.
//
// A real SDK tracer provider is installed even when nothing is exported, so
// trace ids exist, reach the logs and propagate to other services. Exporters:
//   - OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER "console" writes to
//     Options.Console, "none" exports nothing;
//   - "otlp", or no value but OTEL_EXPORTER_OTLP_ENDPOINT (or the signal's
//     own _ENDPOINT) set, builds an OTLP exporter through autoexport;
//   - OTEL_METRICS_EXPORTER "prometheus" serves /metrics over HTTP (see the
//     package documentation); the listener is bound here, so a taken port
//     fails Setup;
//   - nothing set exports nothing;
//   - anything else is an error, so a typo fails at start.
//
// Spans are sampled by OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG,
// parentbased_traceidratio with ratio 1 by default.
func Setup(ctx context.Context, opt Options) (*Telemetry, error) {
	getenv := opt.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	console := opt.Console
	if console == nil {
		console = os.Stdout
	}

	res, err := newResource(ctx, opt.ServiceName, getenv)
	if err != nil {
		return nil, closeListener(opt.MetricsListener, err)
	}
	sampler, err := newSampler(getenv)
	if err != nil {
		return nil, closeListener(opt.MetricsListener, err)
	}
	exp, err := newSpanExporter(ctx, getenv, console)
	if err != nil {
		return nil, closeListener(opt.MetricsListener, err)
	}
	reader, scrape, err := newMetricReader(ctx, getenv, console, opt.MetricsListener)
	if err != nil {
		if exp != nil {
			err = errors.Join(err, exp.Shutdown(ctx))
		}
		return nil, err
	}

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	}
	if exp != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	for _, sp := range opt.SpanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if reader != nil {
		mpOpts = append(mpOpts, sdkmetric.WithReader(reader))
	}

	t := &Telemetry{
		TracerProvider: sdktrace.NewTracerProvider(tpOpts...),
		MeterProvider:  sdkmetric.NewMeterProvider(mpOpts...),
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Resource:       res,
		spanExporter:   exp,
		metricReader:   reader,
	}
	if opt.Logger != nil {
		logger := opt.Logger
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			logger.Warn("opentelemetry", "err", err)
		}))
	}
	if scrape != nil {
		t.MetricsAddr = scrape.lis.Addr()
		t.metricsServer = scrape.serve(opt.Logger)
	}
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(t.MeterProvider)
	otel.SetTextMapPropagator(t.Propagator)
	return t, nil
}

// Shutdown flushes and stops both providers: queued spans are exported and
// the metric reader takes a final collection. It is safe to call more than
// once; later calls return the first result. The globals keep pointing at
// the stopped providers, which then drop everything, so call it last.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		if t.metricsServer != nil {
			if err := t.metricsServer.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop metrics server: %w", errors.Join(err, t.metricsServer.Close())))
			}
		}
		if err := t.TracerProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down tracer provider: %w", err))
		}
		if err := t.MeterProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down meter provider: %w", err))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}

// newResource describes the process: service.name (OTEL_SERVICE_NAME first),
// service.version from the build, host.name, the SDK, and
// OTEL_RESOURCE_ATTRIBUTES read through getenv.
func newResource(ctx context.Context, serviceName string, getenv func(string) string) (*resource.Resource, error) {
	if name := strings.TrimSpace(getenv(envServiceName)); name != "" {
		serviceName = name
	}
	if serviceName == "" {
		return nil, fmt.Errorf("service name is empty: set Options.ServiceName or %s", envServiceName)
	}
	fromEnv, err := parseResourceAttributes(getenv(envResourceAttributes))
	if err != nil {
		return nil, err
	}
	own := []attribute.KeyValue{semconv.ServiceName(serviceName)}
	if v := buildVersion(); v != "" {
		own = append(own, semconv.ServiceVersion(v))
	}
	// Later detectors win, so the service's own attributes override
	// OTEL_RESOURCE_ATTRIBUTES, as the specification orders them.
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(fromEnv...),
		resource.WithAttributes(own...),
	)
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	return res, nil
}

// parseResourceAttributes reads the key1=value1,key2=value2 format of
// OTEL_RESOURCE_ATTRIBUTES, with percent-encoded values.
func parseResourceAttributes(s string) ([]attribute.KeyValue, error) {
	var attrs []attribute.KeyValue
	for pair := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: entry %q is not key=value", envResourceAttributes, pair)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: value of %q: %w", envResourceAttributes, k, err)
		}
		attrs = append(attrs, attribute.String(k, val))
	}
	return attrs, nil
}

// buildVersion is the main module's version, or the VCS revision for a
// local build, or "" when the binary carries neither (as in tests).
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && modified == "true" {
		rev += "-dirty"
	}
	return rev
}

// newSpanExporter returns nil when spans should not leave the process.
func newSpanExporter(ctx context.Context, getenv func(string) string, console io.Writer) (sdktrace.SpanExporter, error) {
	switch name := strings.TrimSpace(getenv(envTracesExporter)); name {
	case "none":
		return nil, nil
	case "console":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(console))
		if err != nil {
			return nil, fmt.Errorf("create console span exporter: %w", err)
		}
		return exp, nil
	case "":
		if getenv(envOTLPEndpoint) == "" && getenv(envOTLPTraces) == "" {
			return nil, nil
		}
	case "otlp":
	default:
		return nil, fmt.Errorf("%s=%q: unsupported exporter (want otlp, console or none)", envTracesExporter, name)
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("create span exporter: %w", err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return nil, nil
	}
	return exp, nil
}

// newMetricReader returns nil when metrics should not leave the process,
// and the scrape endpoint to serve when they are pulled.
func newMetricReader(ctx context.Context, getenv func(string) string, console io.Writer, lis net.Listener) (sdkmetric.Reader, *scrapeEndpoint, error) {
	name := strings.TrimSpace(getenv(envMetricsExporter))
	if lis != nil && name != "prometheus" {
		return nil, nil, closeListener(lis, fmt.Errorf("a metrics listener was given but %s=%q, not prometheus", envMetricsExporter, name))
	}
	switch name {
	case "none":
		return nil, nil, nil
	case "console":
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(console))
		if err != nil {
			return nil, nil, fmt.Errorf("create console metric exporter: %w", err)
		}
		return sdkmetric.NewPeriodicReader(exp), nil, nil
	case "prometheus":
		return newPrometheusReader(getenv, lis)
	case "":
		if getenv(envOTLPEndpoint) == "" && getenv(envOTLPMetrics) == "" {
			return nil, nil, nil
		}
	case "otlp":
	default:
		return nil, nil, fmt.Errorf("%s=%q: unsupported exporter (want otlp, prometheus, console or none)", envMetricsExporter, name)
	}
	reader, err := autoexport.NewMetricReader(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("create metric reader: %w", err)
	}
	if autoexport.IsNoneMetricReader(reader) {
		return nil, nil, nil
	}
	return reader, nil, nil
}

// scrapeEndpoint is the Prometheus exporter's registry and the listener it
// will be served on.
type scrapeEndpoint struct {
	registry *prometheus.Registry
	lis      net.Listener
}

// newPrometheusReader builds a Prometheus exporter on a registry of its own
// (nothing else in the process registers there, so /metrics holds exactly
// what the meter provider collects) and binds its listener: lis when given,
// otherwise OTEL_EXPORTER_PROMETHEUS_HOST:OTEL_EXPORTER_PROMETHEUS_PORT.
//
// Names follow Prometheus conventions (dots become underscores, units and
// _total become suffixes: rpc.server.call.duration in seconds is
// rpc_server_call_duration_seconds), chosen explicitly because the
// exporter's default is due to change.
func newPrometheusReader(getenv func(string) string, lis net.Listener) (sdkmetric.Reader, *scrapeEndpoint, error) {
	if lis == nil {
		host := orDefault(strings.TrimSpace(getenv(envPrometheusHost)), defaultPrometheusHost)
		port := orDefault(strings.TrimSpace(getenv(envPrometheusPort)), defaultPrometheusPort)
		addr := net.JoinHostPort(host, port)
		var err error
		if lis, err = net.Listen("tcp", addr); err != nil {
			return nil, nil, fmt.Errorf("listen for Prometheus scrapes on %s (%s, %s): %w", addr, envPrometheusHost, envPrometheusPort, err)
		}
	}
	reg := prometheus.NewRegistry()
	exp, err := promexporter.New(
		promexporter.WithRegisterer(reg),
		promexporter.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		return nil, nil, closeListener(lis, fmt.Errorf("create Prometheus exporter: %w", err))
	}
	return exp, &scrapeEndpoint{registry: reg, lis: lis}, nil
}

// serve starts the HTTP server for MetricsPath. A scrape that fails half-way
// (one callback erring) still returns the rest, and the error reaches the
// logger.
func (e *scrapeEndpoint) serve(logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{
		ErrorLog:      errLog,
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       10 * time.Second,
	}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}
	go func() {
		if err := srv.Serve(e.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			otel.Handle(fmt.Errorf("metrics server on %s stopped: %w", e.lis.Addr(), err))
		}
	}()
	return srv
}

// closeListener closes lis, if any, and returns err with the close error.
func closeListener(lis net.Listener, err error) error {
	if lis == nil {
		return err
	}
	if cerr := lis.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		return errors.Join(err, cerr)
	}
	return err
}

// orDefault returns v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
