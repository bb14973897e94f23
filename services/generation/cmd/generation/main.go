// Command generation runs the generation service. `generation` serves gRPC on GRPC_ADDR;
// `generation migrate` applies the database migrations and exits.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/connectengine/photoshoot/services/generation/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "generation:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := app.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		if args[0] != "migrate" || len(args) > 1 {
			return fmt.Errorf("usage: generation [migrate]")
		}
		return app.Migrate(ctx, cfg)
	}
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	return a.Serve(ctx, lis)
}
