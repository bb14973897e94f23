package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestMain replaces otel's delegating default globals with plain no-op ones,
// because the default tracer provider cannot be set back once replaced;
// keepGlobals can then restore exactly what it saw.
func TestMain(m *testing.M) {
	otel.SetTracerProvider(tracenoop.NewTracerProvider())
	otel.SetMeterProvider(metricnoop.NewMeterProvider())
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { os.Stderr.WriteString("otel: " + err.Error() + "\n") }))
	os.Exit(m.Run())
}

// keepGlobals restores the otel globals when the test ends. Tests that call
// Setup change process-wide state, so they must not run in parallel.
func keepGlobals(t *testing.T) {
	t.Helper()
	tp, mp, prop, eh := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator(), otel.GetErrorHandler()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
		otel.SetTextMapPropagator(prop)
		otel.SetErrorHandler(eh)
	})
}

// env is a Getenv over a fixed map.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// setup calls Setup and shuts the result down at the end of the test.
func setup(t *testing.T, opt Options) *Telemetry {
	t.Helper()
	keepGlobals(t)
	tel, err := Setup(t.Context(), opt)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

// syncBuffer is a bytes.Buffer safe for the exporters' goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSetup_no_env_exports_nothing_but_traces_exist(t *testing.T) {
	var console syncBuffer
	tel := setup(t, Options{ServiceName: "photoshoot-test", Console: &console})

	if tel.spanExporter != nil {
		t.Errorf("span exporter = %T, want none", tel.spanExporter)
	}
	if tel.metricReader != nil {
		t.Errorf("metric reader = %T, want none", tel.metricReader)
	}
	if otel.GetTracerProvider() != tel.TracerProvider {
		t.Error("global tracer provider is not the one Setup built")
	}

	_, span := otel.Tracer("test").Start(t.Context(), "op")
	sc := span.SpanContext()
	span.End()
	if !sc.TraceID().IsValid() || !sc.SpanID().IsValid() {
		t.Errorf("span context %v has invalid ids", sc)
	}
	if !sc.IsSampled() {
		t.Error("root span not sampled under the default sampler")
	}

	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if got := console.String(); got != "" {
		t.Errorf("console output with no exporter configured: %q", got)
	}
}

func TestSetup_console_exporters(t *testing.T) {
	var console syncBuffer
	tel := setup(t, Options{
		ServiceName: "photoshoot-test",
		Getenv:      env(map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "console"}),
		Console:     &console,
	})

	_, span := otel.Tracer("test").Start(t.Context(), "console-span")
	want := span.SpanContext().TraceID().String()
	span.End()
	counter, err := otel.Meter("test").Int64Counter("photoshoot.test.counter")
	if err != nil {
		t.Fatalf("Int64Counter: %v", err)
	}
	counter.Add(t.Context(), 3)

	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	dec := json.NewDecoder(strings.NewReader(console.String()))
	var gotSpan, gotMetric bool
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode console output: %v\n%s", err, console.String())
		}
		if doc["Name"] == "console-span" {
			gotSpan = true
			sc, _ := doc["SpanContext"].(map[string]any)
			if sc["TraceID"] != want {
				t.Errorf("exported TraceID = %v, want %s", sc["TraceID"], want)
			}
			if !strings.Contains(console.String(), `"service.name"`) {
				t.Error("exported span has no service.name resource attribute")
			}
		}
		if _, ok := doc["ScopeMetrics"]; ok && strings.Contains(console.String(), "photoshoot.test.counter") {
			gotMetric = true
		}
	}
	if !gotSpan {
		t.Errorf("console output has no span named console-span:\n%s", console.String())
	}
	if !gotMetric {
		t.Errorf("console output has no photoshoot.test.counter metric:\n%s", console.String())
	}
}

// keepAfterShutdown stops the in-memory exporter from clearing what it
// collected when the provider shuts it down.
type keepAfterShutdown struct{ *tracetest.InMemoryExporter }

func (keepAfterShutdown) Shutdown(context.Context) error { return nil }

func TestShutdown_flushes_batched_span_processors(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	tel := setup(t, Options{
		ServiceName:    "photoshoot-test",
		SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewBatchSpanProcessor(keepAfterShutdown{mem})},
	})

	_, span := otel.Tracer("test").Start(t.Context(), "batched")
	span.End()

	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	spans := mem.GetSpans()
	if len(spans) != 1 || spans[0].Name != "batched" {
		t.Fatalf("exported spans = %v, want one named batched", spans)
	}
	name, ok := spans[0].Resource.Set().Value(semconv.ServiceNameKey)
	if !ok || name.AsString() != "photoshoot-test" {
		t.Errorf("service.name = %v, want photoshoot-test", name)
	}
}

func TestSetup_propagator_round_trips_traceparent_and_baggage(t *testing.T) {
	setup(t, Options{ServiceName: "photoshoot-test"})

	member, err := baggage.NewMember("user_id", "u-123")
	if err != nil {
		t.Fatalf("NewMember: %v", err)
	}
	bag, err := baggage.New(member)
	if err != nil {
		t.Fatalf("baggage.New: %v", err)
	}
	ctx := baggage.ContextWithBaggage(t.Context(), bag)
	ctx, span := otel.Tracer("test").Start(ctx, "client")
	defer span.End()

	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if carrier.Get("traceparent") == "" {
		t.Fatalf("no traceparent injected; carrier = %v", carrier)
	}

	remote := otel.GetTextMapPropagator().Extract(context.Background(), carrier)
	rsc := trace.SpanContextFromContext(remote)
	if !rsc.IsRemote() || rsc.TraceID() != span.SpanContext().TraceID() || rsc.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("extracted span context %v, want remote copy of %v", rsc, span.SpanContext())
	}
	if got := baggage.FromContext(remote).Member("user_id").Value(); got != "u-123" {
		t.Errorf("baggage user_id = %q, want u-123", got)
	}

	_, child := otel.Tracer("test").Start(remote, "server")
	defer child.End()
	if child.SpanContext().TraceID() != span.SpanContext().TraceID() {
		t.Error("server span did not join the caller's trace")
	}
}

func TestSetup_sampler_comes_from_getenv_not_process_env(t *testing.T) {
	// The SDK would read this itself; Setup must not let it.
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")

	setup(t, Options{ServiceName: "photoshoot-test"})
	_, span := otel.Tracer("test").Start(t.Context(), "op")
	span.End()
	if !span.SpanContext().IsSampled() {
		t.Error("process OTEL_TRACES_SAMPLER=always_off leaked into Setup")
	}
}

func TestSetup_parent_based_ratio_sampler(t *testing.T) {
	setup(t, Options{
		ServiceName: "photoshoot-test",
		Getenv:      env(map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}),
	})
	tracer := otel.Tracer("test")

	_, root := tracer.Start(t.Context(), "root")
	root.End()
	if root.SpanContext().IsSampled() || root.IsRecording() {
		t.Error("root span sampled at ratio 0")
	}
	if !root.SpanContext().TraceID().IsValid() {
		t.Error("unsampled root span has no trace id")
	}

	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1},
		SpanID:     trace.SpanID{2},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	_, child := tracer.Start(trace.ContextWithRemoteSpanContext(t.Context(), parent), "child")
	child.End()
	if !child.SpanContext().IsSampled() {
		t.Error("child of a sampled remote parent was not sampled")
	}
}

func TestSetup_service_name_and_resource(t *testing.T) {
	tests := []struct {
		name    string
		option  string
		env     map[string]string
		want    string
		wantKey string
		wantVal string
	}{
		{name: "option", option: "billing", want: "billing"},
		{name: "env_wins", option: "billing", env: map[string]string{"OTEL_SERVICE_NAME": "billing-canary"}, want: "billing-canary"},
		{
			name:   "resource_attributes_do_not_override_service_name",
			option: "billing",
			env: map[string]string{
				"OTEL_RESOURCE_ATTRIBUTES": "service.name=other,deployment.environment.name=prod%20eu",
			},
			want:    "billing",
			wantKey: "deployment.environment.name",
			wantVal: "prod eu",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := setup(t, Options{ServiceName: tt.option, Getenv: env(tt.env)})
			set := tel.Resource.Set()
			if got, _ := set.Value(semconv.ServiceNameKey); got.AsString() != tt.want {
				t.Errorf("service.name = %q, want %q", got.AsString(), tt.want)
			}
			if got, ok := set.Value(semconv.HostNameKey); !ok || got.AsString() == "" {
				t.Error("resource has no host.name")
			}
			if tt.wantKey != "" {
				if got, _ := set.Value(attribute.Key(tt.wantKey)); got.AsString() != tt.wantVal {
					t.Errorf("%s = %q, want %q", tt.wantKey, got.AsString(), tt.wantVal)
				}
			}
		})
	}
}

func TestSetup_rejects_bad_config(t *testing.T) {
	tests := []struct {
		name string
		svc  string
		env  map[string]string
	}{
		{name: "no_service_name"},
		{name: "unknown_sampler", svc: "s", env: map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}},
		{name: "ratio_not_a_number", svc: "s", env: map[string]string{"OTEL_TRACES_SAMPLER_ARG": "half"}},
		{name: "ratio_out_of_range", svc: "s", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}},
		{name: "unknown_traces_exporter", svc: "s", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}},
		{name: "unknown_metrics_exporter", svc: "s", env: map[string]string{"OTEL_METRICS_EXPORTER": "statsd"}},
		{name: "bad_resource_attributes", svc: "s", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "novalue"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keepGlobals(t)
			before := otel.GetTracerProvider()
			tel, err := Setup(t.Context(), Options{ServiceName: tt.svc, Getenv: env(tt.env)})
			if err == nil {
				_ = tel.Shutdown(t.Context())
				t.Fatal("Setup succeeded, want an error")
			}
			if otel.GetTracerProvider() != before {
				t.Error("failed Setup changed the global tracer provider")
			}
		})
	}
}

// TestSetup_exports_over_otlp sends spans to a real HTTP endpoint speaking
// OTLP/HTTP. autoexport reads its settings from the process environment, so
// this test sets them there and passes os.Getenv, as a service does.
func TestSetup_exports_over_otlp(t *testing.T) {
	var (
		mu    sync.Mutex
		names []string
		svcs  []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					svcs = append(svcs, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)

	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "photoshoot-otlp")

	tel := setup(t, Options{ServiceName: "ignored", Getenv: os.Getenv})
	if tel.spanExporter == nil {
		t.Fatal("no span exporter with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	_, span := otel.Tracer("test").Start(t.Context(), "over-otlp")
	span.End()
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(names) != 1 || names[0] != "over-otlp" {
		t.Errorf("collector received spans %v, want [over-otlp]", names)
	}
	if len(svcs) != 1 || svcs[0] != "photoshoot-otlp" {
		t.Errorf("collector received service.name %v, want [photoshoot-otlp]", svcs)
	}
}

func TestNewSampler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		sampler string
		arg     string
		want    string // Sampler.Description
	}{
		{name: "default", want: "ParentBased{root:TraceIDRatioBased{1},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"},
		{name: "default_with_ratio", arg: "0.25", want: "ParentBased{root:TraceIDRatioBased{0.25},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"},
		{name: "traceidratio", sampler: "traceidratio", arg: "0.5", want: "TraceIDRatioBased{0.5}"},
		{name: "always_on", sampler: "always_on", want: "AlwaysOnSampler"},
		{name: "always_off_ignores_case", sampler: "Always_Off", want: "AlwaysOffSampler"},
		{name: "parentbased_always_off", sampler: "parentbased_always_off", want: "ParentBased{root:AlwaysOffSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := newSampler(env(map[string]string{"OTEL_TRACES_SAMPLER": tt.sampler, "OTEL_TRACES_SAMPLER_ARG": tt.arg}))
			if err != nil {
				t.Fatalf("newSampler: %v", err)
			}
			if got := s.Description(); got != tt.want {
				t.Errorf("sampler = %s, want %s", got, tt.want)
			}
		})
	}
}

// failingWriter stands in for a console that cannot be written to.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSetup_routes_background_errors_to_logger(t *testing.T) {
	var logs syncBuffer
	tel := setup(t, Options{
		ServiceName: "photoshoot-test",
		Getenv:      env(map[string]string{"OTEL_TRACES_EXPORTER": "console"}),
		Console:     failingWriter{},
		Logger:      NewLogger(&logs, "photoshoot-test", LoggerOptions{JSON: true}),
	})
	_, span := otel.Tracer("test").Start(t.Context(), "lost")
	span.End()
	// The final export fails inside Shutdown's drain, where only the error
	// handler hears about it.
	_ = tel.Shutdown(t.Context())
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"opentelemetry"`) {
		t.Errorf("export error not logged; log = %q", logs.String())
	}
}
