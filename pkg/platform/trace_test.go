package platform_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/platform/platformtest"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/pkg/telemetry"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
)

// testService writes an outbox event in the transaction of an RPC, the way
// every service's write path does.
type testService struct {
	testpb.UnimplementedTestServiceServer
	p *platform.Platform
}

func (s *testService) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		return events.Append(ctx, tx, events.NewEvent(events.SubjectUserCreated, &eventsv1.UserCreated{UserId: "u1"}))
	})
	if err != nil {
		return nil, err
	}
	return &testpb.Empty{}, nil
}

// TestOneTrace follows one request from the HTTP edge through a gRPC call,
// the transactional outbox, NATS and the consumer that handles the event, and
// checks that every hop is in the same trace.
func TestOneTrace(t *testing.T) {
	// Not parallel: telemetry.Setup installs the global tracer provider.
	exporter := tracetest.NewInMemoryExporter()
	cfg := testConfig(t)
	cfg.Telemetry = telemetry.Options{SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(exporter)}}
	p, err := platform.New(t.Context(), cfg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	testpb.RegisterTestServiceServer(p.Server.GRPC, &testService{p: p})

	handled := make(chan trace.SpanContext, 1)
	consumer := events.NewConsumer(p.Pool, p.JetStream, p.Logger, events.ConsumerConfig{
		Stream:         "ACCOUNT",
		Durable:        "trace-test",
		FilterSubjects: []string{events.SubjectUserCreated},
		MaxDeliver:     3,
		Handler: func(ctx context.Context, _ pgx.Tx, _ events.Message) error {
			handled <- trace.SpanContextFromContext(ctx)
			return nil
		},
	})
	p.Go("trace-test consumer", consumer.Run)

	srv := platformtest.Serve(t, p.Serve)
	conn, err := p.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	platformtest.WaitServing(t, conn)
	client := testpb.NewTestServiceClient(conn)

	edge := httptest.NewServer(otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := client.EmptyCall(r.Context(), &testpb.Empty{}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}), "gateway"))
	defer edge.Close()
	resp, err := http.Get(edge.URL + "/v1/anything")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("edge answered %d", resp.StatusCode)
	}

	var consumed trace.SpanContext
	select {
	case consumed = <-handled:
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer never handled the event")
	}
	// The consumer span ends just after its handler returns; read the spans
	// before shutdown, which empties the in-memory exporter.
	spans := waitSpans(t, exporter, trace.SpanKindConsumer)
	srv.Stop(t, cfg.ShutdownTimeout+5*time.Second)

	var edgeTrace trace.TraceID
	kinds := map[trace.SpanKind]int{}
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindServer && s.InstrumentationScope.Name == "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp" {
			edgeTrace = s.SpanContext.TraceID()
		}
	}
	if !edgeTrace.IsValid() {
		t.Fatalf("no HTTP server span among %d spans", len(spans))
	}
	for _, s := range spans {
		if s.SpanContext.TraceID() == edgeTrace {
			kinds[s.SpanKind]++
		}
	}
	if consumed.TraceID() != edgeTrace {
		t.Errorf("consumer ran in trace %s, the HTTP request in %s", consumed.TraceID(), edgeTrace)
	}
	// The HTTP server span and the gRPC server span, the gRPC client span,
	// and the consumer span all belong to the request's trace.
	if kinds[trace.SpanKindServer] < 2 || kinds[trace.SpanKindClient] < 1 || kinds[trace.SpanKindConsumer] < 1 {
		t.Errorf("spans in the request's trace by kind = %v, want ≥2 server, ≥1 client, ≥1 consumer", kinds)
	}
}

// TestServeStopsCleanly checks the shutdown order's contract: Serve returns
// nil after its context ends, and health says NOT_SERVING by then.
func TestServeStopsCleanly(t *testing.T) {
	cfg := testConfig(t)
	p, err := platform.New(t.Context(), cfg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	testpb.RegisterTestServiceServer(p.Server.GRPC, &testService{p: p})
	srv := platformtest.Serve(t, p.Serve)
	conn, err := p.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	platformtest.WaitServing(t, conn)

	// An internal RPC (no google.api.http annotation) is served with the
	// platform's service credential, and refused without one.
	if _, err = testpb.NewTestServiceClient(conn).EmptyCall(t.Context(), &testpb.Empty{}); err != nil {
		t.Errorf("internal RPC with a service credential: %v", err)
	}
	bare, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	_, err = testpb.NewTestServiceClient(bare).EmptyCall(t.Context(), &testpb.Empty{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("internal RPC without a service credential: %v, want Unauthenticated", err)
	}
	srv.Stop(t, cfg.ShutdownTimeout+5*time.Second)
}

func testConfig(t *testing.T) platform.Config {
	t.Helper()
	nats := eventstest.New(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	env := map[string]string{
		"DATABASE_URL":        postgrestest.NewDatabase(t),
		"NATS_URL":            nats.URL(),
		"ACCOUNT_ADDR":        "127.0.0.1:1",
		"SERVICE_AUTH_SECRET": hex.EncodeToString(secret),
		"SHUTDOWN_TIMEOUT":    "5s",
		"LOG_FORMAT":          "text",
	}
	cfg, err := platform.LoadConfig("platformtest", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.LogWriter = io.Discard
	cfg.Keys = func(context.Context) ([]authn.PublicKey, error) { return nil, nil }
	return cfg
}

// waitSpans polls the exporter until a span of kind has ended.
func waitSpans(t *testing.T, exp *tracetest.InMemoryExporter, kind trace.SpanKind) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans := exp.GetSpans()
		for _, s := range spans {
			if s.SpanKind == kind {
				return spans
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span of kind %v among %d", kind, len(spans))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
