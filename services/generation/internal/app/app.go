// Package app wires the generation service: its configuration, the shared
// platform (telemetry, Postgres, NATS, gRPC), its store, its billing client
// and its API. It is the only package of the service that reads the
// environment.
package app

import (
	"context"
	"errors"
	"net"

	"github.com/connectengine/photoshoot/pkg/platform"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/api"
	"github.com/connectengine/photoshoot/services/generation/internal/billing"
	"github.com/connectengine/photoshoot/services/generation/internal/consumers"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/store"
)

// App is a running generation service.
type App struct {
	platform *platform.Platform
}

// New starts the service's plumbing and registers its API.
func New(ctx context.Context, cfg Config) (*App, error) {
	p, err := platform.New(ctx, cfg.Config, platform.Options{
		Migrations: store.Migrations,
		Unauthenticated: []string{
			generationv1.GenerationService_ListScenes_FullMethodName,
		},
	})
	if err != nil {
		return nil, err
	}
	// Reserve (by job id), Capture and Release (by hold id) are idempotent,
	// so the client may retry them.
	conn, err := p.Dial(cfg.BillingAddr,
		billingv1.BillingService_Reserve_FullMethodName,
		billingv1.BillingService_Capture_FullMethodName,
		billingv1.BillingService_Release_FullMethodName)
	if err != nil {
		return nil, errors.Join(err, p.Close(ctx))
	}
	credits, st := billing.New(billingv1.NewBillingServiceClient(conn)), store.New(p.Pool)
	jobs := job.NewService(st, credits, p.Logger)
	generationv1.RegisterGenerationServiceServer(p.Server.GRPC, api.NewServer(jobs, job.NewLooks(st), cfg.ServiceAuthSecret))
	p.Go("consumer "+consumers.DurableUserDeleted, consumers.UserDeleted(p.Pool, p.JetStream, p.Logger, credits).Run)
	p.Go("consumer "+consumers.DurableNotify, consumers.Notify(p.Pool, p.JetStream, p.Logger, notifier(ctx, cfg, p.Logger)).Run)
	return &App{platform: p}, nil
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
