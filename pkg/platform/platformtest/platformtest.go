// Package platformtest starts a service's gRPC server in a component test
// the way every service's tests do: on a loopback listener, stopped when
// the test ends, and used once its health reports SERVING.
package platformtest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Serving is a server a test started with Serve.
type Serving struct {
	// Addr is the loopback address it listens on.
	Addr string

	cancel   context.CancelFunc
	finished chan struct{} // closed when serve has returned
	err      error         // what serve returned, once finished
}

// stopBound is how long a server may take to stop before the test fails.
const stopBound = 30 * time.Second

// Serve runs serve (an app's or the platform's Serve) on a new loopback
// listener until the test ends or Stop is called. When the test ends, a
// server that returns an error or does not stop within 30 s fails it.
func Serve(t testing.TB, serve func(context.Context, net.Listener) error) *Serving {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Serving{Addr: lis.Addr().String(), cancel: cancel, finished: make(chan struct{})}
	go func() {
		s.err = serve(ctx, lis)
		close(s.finished)
	}()
	t.Cleanup(func() {
		if err := s.stop(stopBound); err != nil {
			t.Errorf("serve %s: %v", s.Addr, err)
		}
	})
	return s
}

// Stop ends Serve's context and fails the test unless serve returns
// without an error within d. Stopping again is harmless.
func (s *Serving) Stop(t testing.TB, d time.Duration) {
	t.Helper()
	if err := s.stop(d); err != nil {
		t.Fatalf("serve %s: %v", s.Addr, err)
	}
}

func (s *Serving) stop(d time.Duration) error {
	s.cancel()
	select {
	case <-s.finished:
		return s.err
	case <-time.After(d):
		return fmt.Errorf("still serving %s after shutdown began", d)
	}
}

// WaitServing follows the standard health service on conn until it reports
// SERVING, failing the test after a minute. The server may not be listening
// yet (a process still starting): the call waits for the connection.
func WaitServing(t testing.TB, conn grpc.ClientConnInterface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	for {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("health never SERVING: %v", err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
	}
}
