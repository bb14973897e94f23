// Command generation runs the generation service. `generation` serves gRPC on GRPC_ADDR
// with job workers beside the API; `generation worker` runs only workers (gRPC health on
// GRPC_ADDR), a Deployment of its own that scales with the queue; `generation migrate`
// applies the database migrations and exits.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/connectengine/photoshoot/services/generation/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "generation:", err)
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
	case len(args) == 1 && args[0] == "worker":
		return app.Run(ctx, cfg, app.ModeWorker)
	case len(args) > 0:
		return fmt.Errorf("usage: generation [migrate | worker]")
	}
	return app.Run(ctx, cfg, app.ModeServe)
}
