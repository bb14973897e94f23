package lifecycle

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// StopGRPC drains srv and stops it, within ctx.
//
// It first marks every service in hs NOT_SERVING (hs may be nil), so health
// checks and watchers see the instance leaving before its connections go
// away, then calls GracefulStop: listeners close, clients get GOAWAY, and
// in-flight RPCs, streams included, run to completion. If ctx ends first,
// Stop cancels whatever is still running and StopGRPC returns ctx's error.
// Either way the server is fully stopped when StopGRPC returns.
//
// A stream that never ends by itself, such as a health Watch, always takes
// the hard-stop path, so give ctx a deadline.
func StopGRPC(ctx context.Context, srv *grpc.Server, hs *health.Server) error {
	if hs != nil {
		hs.Shutdown()
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		srv.Stop()
		<-stopped // Stop makes GracefulStop return.
		return fmt.Errorf("stop grpc server: graceful stop cut short: %w", ctx.Err())
	}
}
