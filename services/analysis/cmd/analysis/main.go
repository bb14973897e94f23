// Command analysis runs the analysis service. `analysis` serves gRPC on GRPC_ADDR;
// `analysis migrate` applies the database migrations and exits.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/connectengine/photoshoot/services/analysis/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "analysis:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := app.LoadConfig(os.Getenv)
	switch {
	case err != nil:
		return err
	case len(args) == 1 && args[0] == "migrate":
		return app.Migrate(ctx, cfg)
	case len(args) > 0:
		return fmt.Errorf("usage: analysis [migrate]")
	}
	return app.Run(ctx, cfg)
}
