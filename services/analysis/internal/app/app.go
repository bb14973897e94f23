// Package app wires the analysis service: its configuration, the shared
// platform (telemetry, Postgres, NATS, gRPC) and its API. It is the only
// package of the service that reads the environment.
package app

import (
	"context"
	"net"

	"github.com/connectengine/photoshoot/pkg/platform"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	"github.com/connectengine/photoshoot/services/analysis/internal/api"
)

// Config is the analysis service's configuration.
type Config struct {
	platform.Config
}

// LoadConfig reads the configuration from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	pc, err := platform.LoadConfig("analysis", getenv)
	return Config{Config: pc}, err
}

// App is a running analysis service.
type App struct {
	platform *platform.Platform
}

// New starts the service's plumbing and registers its API.
func New(ctx context.Context, cfg Config) (*App, error) {
	p, err := platform.New(ctx, cfg.Config, platform.Options{})
	if err != nil {
		return nil, err
	}
	analysisv1.RegisterAnalysisServiceServer(p.Server.GRPC, &api.Server{})
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
