package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc"
)

// Run runs serve until it returns or ctx ends (typically from
// signal.NotifyContext), then calls shutdown and waits for it.
//
// shutdown gets a fresh context with the given timeout, detached from ctx's
// cancellation: by the time shutdown runs, ctx is usually already cancelled,
// and draining under it would skip the drain. Values on ctx (a logger, say)
// stay visible. Keep timeout below Kubernetes' terminationGracePeriodSeconds.
//
// Run also calls shutdown when serve fails on its own, so resources pushed
// before serving are released either way. After shutdown it waits, within the
// same timeout, for serve to return. It returns serve's error, if serving
// failed, joined with shutdown's. The errors a server returns because it was
// stopped (http.ErrServerClosed, grpc.ErrServerStopped) are not failures.
func Run(ctx context.Context, timeout time.Duration, serve func() error, shutdown func(ctx context.Context) error) error {
	served := make(chan error, 1)
	go func() { served <- serve() }()

	var serveErr error
	serveDone := false
	select {
	case serveErr = <-served:
		serveDone = true
	case <-ctx.Done():
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	shutdownErr := shutdown(sctx)
	if shutdownErr != nil {
		shutdownErr = fmt.Errorf("shutdown: %w", shutdownErr)
	}

	if !serveDone {
		select {
		case serveErr = <-served:
		case <-sctx.Done():
			serveErr = fmt.Errorf("serve did not return after shutdown: %w", sctx.Err())
		}
	}
	if errors.Is(serveErr, http.ErrServerClosed) || errors.Is(serveErr, grpc.ErrServerStopped) {
		serveErr = nil
	}
	if serveErr != nil {
		serveErr = fmt.Errorf("serve: %w", serveErr)
	}
	return errors.Join(serveErr, shutdownErr)
}
