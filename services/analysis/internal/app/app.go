// Package app wires the analysis service: its configuration, the shared
// platform (telemetry, Postgres, NATS, gRPC), the analyser, the media
// client, its API and consumers. It is the only package of the service that
// reads the environment.
package app

import (
	"context"
	"fmt"
	"net"

	"github.com/connectengine/photoshoot/pkg/platform"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/analysis/internal/analysis"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/claude"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/local"
	"github.com/connectengine/photoshoot/services/analysis/internal/api"
	"github.com/connectengine/photoshoot/services/analysis/internal/consumers"
	"github.com/connectengine/photoshoot/services/analysis/internal/media"
	"github.com/connectengine/photoshoot/services/analysis/internal/store"
)

// App is a running analysis service.
type App struct {
	platform *platform.Platform
}

// New starts the service's plumbing and registers its API and consumers.
func New(ctx context.Context, cfg Config) (*App, error) {
	an, err := newAnalyzer(cfg)
	if err != nil {
		return nil, err
	}
	p, err := platform.New(ctx, cfg.Config, platform.Options{Migrations: store.Migrations})
	if err != nil {
		return nil, err
	}
	conn, err := p.Dial(cfg.MediaAddr, mediav1.MediaService_FetchImage_FullMethodName)
	if err != nil {
		return nil, fmt.Errorf("media client: %w", err)
	}
	svc := analysis.NewService(store.New(p.Pool), media.New(mediav1.NewMediaServiceClient(conn)), an, p.Logger)
	analysisv1.RegisterAnalysisServiceServer(p.Server.GRPC, api.NewServer(svc))
	p.Go("consumer "+consumers.DurableImageUploaded, consumers.ImageUploaded(p.Pool, p.JetStream, p.Logger, svc).Run)
	p.Go("consumer "+consumers.DurableUserDeleted, consumers.UserDeleted(p.Pool, p.JetStream, p.Logger).Run)
	p.Go("consumer "+consumers.DurableImageDeleted, consumers.ImageDeleted(p.Pool, p.JetStream, p.Logger, svc).Run)
	p.Logger.InfoContext(ctx, "analyser", "provider", an.Provider().Name, "version", an.Provider().Version)
	return &App{platform: p}, nil
}

func newAnalyzer(cfg Config) (analyzer.Analyzer, error) {
	if cfg.Analyzer == AnalyzerClaude {
		a, err := claude.New(claude.Config{APIKey: cfg.AnthropicAPIKey, Model: cfg.AnthropicModel, BaseURL: cfg.AnthropicBaseURL})
		if err != nil {
			return nil, fmt.Errorf("claude analyser: %w", err)
		}
		return a, nil
	}
	return local.New(), nil
}

// Serve serves on lis until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	return a.platform.Serve(ctx, lis)
}

// Migrate applies the service's migrations and exits.
func Migrate(ctx context.Context, cfg Config) error {
	return platform.Migrate(ctx, cfg.Config, store.Migrations)
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
