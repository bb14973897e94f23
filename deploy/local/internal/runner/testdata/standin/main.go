// Command standin plays any of the six binaries in the runner's tests: it
// serves gRPC health on GRPC_ADDR and, given HTTP_ADDR, /readyz. Setting
// STANDIN_EXIT to its OTEL_SERVICE_NAME makes it exit with status 3 at once,
// and STANDIN_STOP_EXIT to it makes it exit with status 4 when stopped.
package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	name := os.Getenv("OTEL_SERVICE_NAME")
	if os.Getenv("STANDIN_EXIT") == name {
		os.Exit(3)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if addr := os.Getenv("HTTP_ADDR"); addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
		srv := &http.Server{Addr: addr, Handler: mux}
		go srv.ListenAndServe()
		defer srv.Close()
	} else {
		l, err := net.Listen("tcp", os.Getenv("GRPC_ADDR"))
		if err != nil {
			os.Exit(2)
		}
		gs := grpc.NewServer()
		healthpb.RegisterHealthServer(gs, health.NewServer())
		go gs.Serve(l)
		defer gs.Stop()
	}
	<-ctx.Done()
	if os.Getenv("STANDIN_STOP_EXIT") == name {
		os.Exit(4)
	}
}
