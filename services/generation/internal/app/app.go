//go:build !wip

// Package app wires the generation service: its configuration, the shared
// platform (telemetry, Postgres, NATS, gRPC) and its API. It is the only
// package of the service that reads the environment.
package app

import (
	"context"
	"net"

	"github.com/connectengine/photoshoot/pkg/platform"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/api"
)

// Config is the generation service's configuration.
type Config struct {
	platform.Config
}

// LoadConfig reads the configuration from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	pc, err := platform.LoadConfig("generation", getenv)
	return Config{Config: pc}, err
}

// App is a running generation service.
type App struct {
	platform *platform.Platform
}

// New starts the service's plumbing and registers its API.
func New(ctx context.Context, cfg Config) (*App, error) {
	p, err := platform.New(ctx, cfg.Config, platform.Options{
		Unauthenticated: []string{
			generationv1.GenerationService_ListScenes_FullMethodName,
		},
	})
	if err != nil {
		return nil, err
	}
	generationv1.RegisterGenerationServiceServer(p.Server.GRPC, &api.Server{})
	return &App{platform: p}, nil
}

// Serve serves on lis until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	return a.platform.Serve(ctx, lis)
}

// Migrate applies the service's migrations and exits.
func Migrate(ctx context.Context, cfg Config) error {
	return platform.Migrate(ctx, cfg.Config, nil)
}

// Run listens on GRPC_ADDR and serves until ctx ends, then shuts down.
func Run(ctx context.Context, cfg Config) error {
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	a, err := New(ctx, cfg)
	if err != nil {
		lis.Close()
		return err
	}
	return a.Serve(ctx, lis)
}
