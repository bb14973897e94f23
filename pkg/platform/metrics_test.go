package platform_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/platform/platformtest"
	"github.com/connectengine/photoshoot/pkg/telemetry/telemetrytest"
)

// TestMetrics runs a platform with OTEL_METRICS_EXPORTER=prometheus, does
// real work through it (RPCs that write outbox events, a consumer that
// handles them, a refused call) and scrapes /metrics over HTTP: per-method
// RPC counts by status on the server and the client, the outbox drained to
// zero by the relay, and the consumer's deliveries.
func TestMetrics(t *testing.T) {
	// Not parallel: telemetry.Setup installs the global providers.
	cfg := testConfig(t)
	getenv := cfg.Getenv
	cfg.Getenv = func(k string) string {
		if k == "OTEL_METRICS_EXPORTER" {
			return "prometheus"
		}
		return getenv(k)
	}
	metricsLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Telemetry.MetricsListener = metricsLis
	scrapeAddr := metricsLis.Addr().String()

	p, err := platform.New(t.Context(), cfg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	testpb.RegisterTestServiceServer(p.Server.GRPC, &testService{p: p})
	const durable = "platform-metrics-test"
	p.Go("metrics-test consumer", events.NewConsumer(p.Pool, p.JetStream, p.Logger, events.ConsumerConfig{
		Stream: events.StreamAccount, Durable: durable, FilterSubjects: []string{events.SubjectUserCreated},
		MeterProvider: p.Telemetry.MeterProvider,
		Handler:       func(context.Context, pgx.Tx, events.Message) error { return nil },
	}).Run)

	srv := platformtest.Serve(t, p.Serve)
	conn, err := p.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	platformtest.WaitServing(t, conn)

	client := testpb.NewTestServiceClient(conn)
	const calls = 3
	for range calls {
		if _, err := client.EmptyCall(t.Context(), &testpb.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	bare, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if _, err := testpb.NewTestServiceClient(bare).EmptyCall(t.Context(), &testpb.Empty{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("call without a service credential: %v, want Unauthenticated", err)
	}

	const method = "grpc.testing.TestService/EmptyCall"
	want := []struct {
		name  string
		match []string
		value float64
	}{
		{"rpc_server_call_duration_seconds_count", []string{"rpc_method", method, "rpc_response_status_code", "OK"}, calls},
		{"rpc_server_call_duration_seconds_count", []string{"rpc_method", method, "rpc_response_status_code", "UNAUTHENTICATED"}, 1},
		{"rpc_client_call_duration_seconds_count", []string{"rpc_method", method, "rpc_response_status_code", "OK"}, calls},
		{"photoshoot_consumer_messages_total", []string{"consumer", durable, "outcome", "handled"}, calls},
		{"photoshoot_outbox_depth", nil, 0},
		{"photoshoot_outbox_age_seconds", nil, 0},
		{"target_info", []string{"service_name", "platformtest"}, 1},
	}
	telemetrytest.WaitFor(t, scrapeAddr, func(m telemetrytest.Metrics) error {
		for _, w := range want {
			if got, ok := m.Value(w.name, w.match...); !ok || got != w.value {
				return fmt.Errorf("%s%v = %v (present %v), want %v", w.name, w.match, got, ok, w.value)
			}
		}
		return nil
	})

	srv.Stop(t, cfg.ShutdownTimeout+5*time.Second)
}
