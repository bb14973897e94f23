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
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
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
)

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

	spanExporter sdktrace.SpanExporter // nil when spans are not exported
	metricReader sdkmetric.Reader      // nil when metrics are not exported

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
//   - nothing set exports nothing;
//   - anything else (including "prometheus", until metrics get their own
//     scrape endpoint) is an error, so a typo fails at start.
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
		return nil, err
	}
	sampler, err := newSampler(getenv)
	if err != nil {
		return nil, err
	}
	exp, err := newSpanExporter(ctx, getenv, console)
	if err != nil {
		return nil, err
	}
	reader, err := newMetricReader(ctx, getenv, console)
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

// newMetricReader returns nil when metrics should not leave the process.
func newMetricReader(ctx context.Context, getenv func(string) string, console io.Writer) (sdkmetric.Reader, error) {
	switch name := strings.TrimSpace(getenv(envMetricsExporter)); name {
	case "none":
		return nil, nil
	case "console":
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(console))
		if err != nil {
			return nil, fmt.Errorf("create console metric exporter: %w", err)
		}
		return sdkmetric.NewPeriodicReader(exp), nil
	case "":
		if getenv(envOTLPEndpoint) == "" && getenv(envOTLPMetrics) == "" {
			return nil, nil
		}
	case "otlp":
	default:
		return nil, fmt.Errorf("%s=%q: unsupported exporter (want otlp, console or none)", envMetricsExporter, name)
	}
	reader, err := autoexport.NewMetricReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("create metric reader: %w", err)
	}
	if autoexport.IsNoneMetricReader(reader) {
		return nil, nil
	}
	return reader, nil
}
