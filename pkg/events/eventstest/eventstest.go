// Package eventstest runs an embedded NATS server with JetStream for tests,
// one per test, and lets a test take it down and bring it back to see how
// clients ride out an outage.
package eventstest

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds server start-up; the server is usually ready in well
// under 100 ms.
const readyTimeout = 10 * time.Second

// Server is an embedded NATS server with JetStream, listening on 127.0.0.1.
// Its store lives in the test's temporary directory and every write is
// synced, as in the single-node dev setup.
type Server struct {
	mu   sync.Mutex
	opts server.Options
	srv  *server.Server
}

// New starts a server on a random port and shuts it down when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{opts: server.Options{
		ServerName: "eventstest",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		SyncAlways: true,
		NoLog:      true,
		NoSigs:     true,
		// Small limits: many of these servers run side by side in one
		// test process and JetStream otherwise reserves a share of the
		// machine's memory and disk for each.
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
	}}
	s.start(t)
	// Keep the port so Restart comes back where clients expect it.
	s.opts.Port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

// URL is the client URL, nats://127.0.0.1:<port>. It stays the same across
// Stop and Restart.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "nats://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
}

// Stop shuts the server down; connected clients see a disconnect and start
// reconnecting. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart starts the server again on the same port and store directory, so
// streams, consumers and stored messages survive. It stops it first if it
// is running.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	srv, err := server.NewServer(s.opts.Clone()) // the server keeps and mutates its options
	if err != nil {
		t.Fatalf("eventstest: configure nats server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		t.Fatalf("eventstest: nats server not ready within %s", readyTimeout)
	}
	s.srv = srv
}
