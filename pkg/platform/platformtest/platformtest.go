// Package platformtest starts a service's gRPC server in a component test
// the way every service's tests do: on a loopback listener, stopped when
// the test ends, and used once its health reports SERVING.
package platformtest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Serving is a server a test started with Serve.
type Serving struct {
	// Addr is the loopback address it listens on.
	Addr string

	stop context.CancelFunc
	done chan error
	once sync.Once
	err  error
}

// Serve runs serve (an app's or the platform's Serve) on a new loopback
// listener until the test ends or Stop is called. When the test ends
// without a Stop, an error from serve fails it.
func Serve(t testing.TB, serve func(context.Context, net.Listener) error) *Serving {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Serving{Addr: lis.Addr().String(), stop: stop, done: make(chan error, 1)}
	go func() { s.done <- serve(ctx, lis) }()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("serve %s: %v", s.Addr, err)
		}
	})
	return s
}

// Stop ends Serve's context, waits for it to return and returns its error.
// Later calls return the same error.
func (s *Serving) Stop() error {
	s.once.Do(func() {
		s.stop()
		s.err = <-s.done
	})
	return s.err
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
