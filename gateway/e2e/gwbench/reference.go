package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

// A reference is a yardstick for the gateway's cost, in front of the same
// gRPC server. It runs as its own process, a re-execution of this binary,
// so its CPU time is measured the way the gateway's is. Callers send the
// access token themselves (no API-key exchange). Two kinds:
//
//   - "plain": the plain grpc-gateway proxy — grpc-gateway's mux
//     with its defaults (which forward Authorization as "authorization"
//     metadata), a plain grpc-go client connection, net/http's server, and
//     nothing else: no telemetry, no middleware;
//   - "bare": no grpc-gateway either — one net/http handler that makes the
//     gRPC call and writes protojson, the least any REST-to-gRPC proxy built
//     on net/http, grpc-go and protojson does per request.
const (
	// referenceEnv, set to the account service's address, makes this
	// binary a reference proxy instead of the benchmark.
	referenceEnv = "GWBENCH_REFERENCE_UPSTREAM"
	// referenceKindEnv says which kind.
	referenceKindEnv = "GWBENCH_REFERENCE_KIND"
)

// serveReference runs a reference proxy on a free loopback port, prints its
// address on the first line of standard output, and serves until SIGTERM or
// SIGINT.
func serveReference(upstream, kind string) error {
	conn, err := grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	client := accountv1.NewAccountServiceClient(conn)
	var h http.Handler
	switch kind {
	case "plain":
		mux := runtime.NewServeMux()
		if err := accountv1.RegisterAccountServiceHandlerClient(ctx, mux, client); err != nil {
			return err
		}
		h = mux
	case "bare":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != "/v1/api-keys" {
				http.NotFound(w, r)
				return
			}
			ctx := metadata.AppendToOutgoingContext(r.Context(), "authorization", r.Header.Get("Authorization"))
			resp, err := client.ListApiKeys(ctx, &accountv1.ListApiKeysRequest{})
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			b, err := protojson.Marshal(resp)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
	default:
		return fmt.Errorf("unknown reference kind %q", kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Println(ln.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// reference is a running reference proxy.
type reference struct {
	kind string
	addr string
	pid  int
	cmd  *exec.Cmd
}

// startReference starts a reference proxy of kind in front of upstream and
// waits for its address.
func startReference(upstream, kind string) (*reference, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	// With the gateway's garbage-collection target (it sets GOGC=400), so
	// the comparison is of the code on the request path, not of the
	// collector's settings.
	cmd.Env = append(os.Environ(), referenceEnv+"="+upstream, referenceKindEnv+"="+kind, "GOGC=400")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("reference proxy: no address: %w", err)
	}
	return &reference{kind: kind, addr: strings.TrimSpace(line), pid: cmd.Process.Pid, cmd: cmd}, nil
}

func (r *reference) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}
