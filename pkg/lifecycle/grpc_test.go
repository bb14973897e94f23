package lifecycle

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

const testService = "grpc.testing.TestService"

// echoServer answers every message on a FullDuplexCall stream with its own
// payload and ends the stream when the client closes its side.
type echoServer struct {
	testgrpc.UnimplementedTestServiceServer
}

func (echoServer) FullDuplexCall(stream grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// testServer is a real gRPC server on a loopback port, with health.
type testServer struct {
	srv    *grpc.Server
	hs     *health.Server
	lis    net.Listener
	conn   *grpc.ClientConn
	served chan error // Serve's result, when serving started in startServer
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	testgrpc.RegisterTestServiceServer(srv, echoServer{})
	hs.SetServingStatus(testService, healthpb.HealthCheckResponse_SERVING)
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &testServer{srv: srv, hs: hs, lis: lis, conn: conn}
}

// startServer starts serving in the background.
func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := newTestServer(t)
	ts.served = make(chan error, 1)
	go func() { ts.served <- ts.srv.Serve(ts.lis) }()
	return ts
}

// openStream opens a FullDuplexCall and proves it reached the handler.
func (ts *testServer) openStream(t *testing.T) grpc.BidiStreamingClient[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse] {
	t.Helper()
	stream, err := testgrpc.NewTestServiceClient(ts.conn).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatalf("FullDuplexCall: %v", err)
	}
	echo(t, stream, "hello")
	return stream
}

func echo(t *testing.T, stream grpc.BidiStreamingClient[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse], body string) {
	t.Helper()
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte(body)}}); err != nil {
		t.Fatalf("send %q: %v", body, err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv echo of %q: %v", body, err)
	}
	if got := string(resp.GetPayload().GetBody()); got != body {
		t.Fatalf("echo = %q, want %q", got, body)
	}
}

// servingStatus asks the health server in-process, which still answers after
// its gRPC server has stopped taking calls.
func servingStatus(t *testing.T, hs *health.Server, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := hs.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health Check(%q): %v", service, err)
	}
	return resp.GetStatus()
}

func TestStopGRPC_drains_in_flight_stream(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	stream := ts.openStream(t)

	stopped := make(chan error, 1)
	go func() { stopped <- StopGRPC(t.Context(), ts.srv, ts.hs) }()

	for _, svc := range []string{"", testService} {
		eventually(t, "health reports NOT_SERVING for "+svc, func() bool {
			return servingStatus(t, ts.hs, svc) == healthpb.HealthCheckResponse_NOT_SERVING
		})
	}
	// New calls are refused once the graceful stop has begun…
	eventually(t, "new calls are refused", func() bool {
		_, err := healthpb.NewHealthClient(ts.conn).Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(false))
		return status.Code(err) == codes.Unavailable
	})
	// …while the stream already in flight keeps working.
	echo(t, stream, "during shutdown")
	select {
	case err := <-stopped:
		t.Fatalf("StopGRPC returned %v while a stream was in flight", err)
	default:
	}

	if err := stream.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream ended with %v, want a clean end (io.EOF)", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("StopGRPC = %v, want nil after a graceful drain", err)
	}
	if err := <-ts.served; err != nil {
		t.Errorf("Serve = %v, want nil after GracefulStop", err)
	}
}

func TestStopGRPC_hard_stops_when_ctx_ends(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	watch, err := healthpb.NewHealthClient(ts.conn).Watch(t.Context(), &healthpb.HealthCheckRequest{Service: testService})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch status = %v, %v; want SERVING", resp.GetStatus(), err)
	}
	stream := ts.openStream(t) // never closed by the client

	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- StopGRPC(ctx, ts.srv, ts.hs) }()

	// Watchers hear NOT_SERVING over the wire before the connection goes.
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch status during shutdown = %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	echo(t, stream, "still draining")
	select {
	case err := <-stopped:
		t.Fatalf("StopGRPC returned %v before its ctx ended", err)
	default:
	}

	cancel()
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Errorf("StopGRPC = %v, want context.Canceled after a hard stop", err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("in-flight stream ended with %v, want Unavailable", err)
	}
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("Watch ended with %v, want Unavailable", err)
	}
}

func TestStopGRPC_hard_stops_at_deadline(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	stream := ts.openStream(t)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := StopGRPC(ctx, ts.srv, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("StopGRPC = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Errorf("StopGRPC returned after %s, before its deadline", elapsed)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("in-flight stream ended with %v, want Unavailable", err)
	}
}
