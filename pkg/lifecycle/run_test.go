package lifecycle

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestRun_shutdown_gets_live_context_after_cancel(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "kept"))
	stopServe := make(chan struct{})
	shutdownEntered := make(chan struct{})
	releaseShutdown := make(chan struct{})
	var (
		shutdownErrAtStart error
		hasDeadline        bool
		left               time.Duration
		value              any
	)

	result := make(chan error, 1)
	go func() {
		result <- Run(parent, time.Minute,
			func() error { <-stopServe; return nil },
			func(ctx context.Context) error {
				shutdownErrAtStart = ctx.Err()
				var d time.Time
				d, hasDeadline = ctx.Deadline()
				left = time.Until(d)
				value = ctx.Value(ctxKey{})
				close(shutdownEntered)
				<-releaseShutdown
				close(stopServe)
				return nil
			})
	}()

	cancel()
	<-shutdownEntered
	select {
	case err := <-result:
		t.Fatalf("Run returned %v before shutdown finished", err)
	default:
	}
	close(releaseShutdown)
	if err := <-result; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}

	if shutdownErrAtStart != nil {
		t.Errorf("shutdown ctx already ended: %v", shutdownErrAtStart)
	}
	if !hasDeadline || left <= 0 || left > time.Minute {
		t.Errorf("shutdown ctx deadline in %s (set %v), want within the 1m timeout", left, hasDeadline)
	}
	if value != "kept" {
		t.Errorf("shutdown ctx value = %v, want the parent's values kept", value)
	}
}

func TestRun_serve_failure_still_shuts_down(t *testing.T) {
	t.Parallel()
	errServe := errors.New("listener closed")
	errShutdown := errors.New("flush failed")
	shutdownCalled := false
	err := Run(t.Context(), time.Minute,
		func() error { return errServe },
		func(ctx context.Context) error {
			shutdownCalled = true
			return errShutdown
		})
	if !shutdownCalled {
		t.Error("shutdown not called after serve failed")
	}
	if !errors.Is(err, errServe) || !errors.Is(err, errShutdown) {
		t.Errorf("Run = %v, want serve's and shutdown's errors joined", err)
	}
}

func TestRun_stopped_server_errors_are_not_failures(t *testing.T) {
	t.Parallel()
	for _, serveErr := range []error{http.ErrServerClosed, grpc.ErrServerStopped} {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		stop := make(chan struct{})
		err := Run(ctx, time.Minute,
			func() error { <-stop; return serveErr },
			func(context.Context) error { close(stop); return nil })
		if err != nil {
			t.Errorf("Run with serve returning %v = %v, want nil", serveErr, err)
		}
	}
}

func TestRun_reports_serve_that_outlives_shutdown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	err := Run(ctx, 50*time.Millisecond,
		func() error { <-stuck; return nil },
		func(context.Context) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want context.DeadlineExceeded for a serve that never returned", err)
	}
}

// TestRun_with_stack_and_grpc puts the pieces together as a service's app
// package does: resources pushed on a Stack, gRPC served on a real socket,
// and a cancelled context (the signal) draining everything in order.
func TestRun_with_stack_and_grpc(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	stack := NewStack(nil)
	var closed []string
	stack.Push("pool", func(context.Context) error { closed = append(closed, "pool"); return nil })
	stack.Push("grpc", func(ctx context.Context) error {
		closed = append(closed, "grpc")
		return StopGRPC(ctx, ts.srv, ts.hs)
	})

	ctx, cancel := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() {
		result <- Run(ctx, time.Minute, func() error { return ts.srv.Serve(ts.lis) }, stack.Close)
	}()

	resp, err := healthpb.NewHealthClient(ts.conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: testService})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before shutdown = %v, %v; want SERVING", resp.GetStatus(), err)
	}

	cancel()
	if err := <-result; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if diff := cmp.Diff([]string{"grpc", "pool"}, closed); diff != "" {
		t.Errorf("close order (-want +got):\n%s", diff)
	}
	if got := servingStatus(t, ts.hs, testService); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health after shutdown = %v, want NOT_SERVING", got)
	}
}

// TestRun_hard_stops_grpc_at_timeout shows the shutdown timeout bounding a
// stream that never ends: Run returns at the deadline, not never.
func TestRun_hard_stops_grpc_at_timeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() {
		result <- Run(ctx, 200*time.Millisecond,
			func() error { return ts.srv.Serve(ts.lis) },
			func(ctx context.Context) error { return StopGRPC(ctx, ts.srv, ts.hs) })
	}()
	ts.openStream(t) // reaching the handler also proves Serve is running

	cancel()
	if err := <-result; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want the hard stop's context.DeadlineExceeded", err)
	}
}
