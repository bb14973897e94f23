// Command billing runs the billing service. `billing` serves gRPC on
// GRPC_ADDR; `billing migrate` applies the migrations; `billing reconcile`
// checks every ledger invariant and exits non-zero on any break.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/connectengine/photoshoot/services/billing/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "billing:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := app.LoadConfig(os.Getenv)
	switch cmd := strings.Join(args, " "); {
	case err != nil:
		return err
	case cmd == "migrate":
		return app.Migrate(ctx, cfg)
	case cmd == "reconcile":
		return app.Reconcile(ctx, cfg, os.Stdout)
	case cmd != "":
		return fmt.Errorf("usage: billing [migrate|reconcile]")
	}
	return app.Run(ctx, cfg)
}
