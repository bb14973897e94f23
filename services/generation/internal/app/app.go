// Package app wires the generation service: its configuration, the shared
// platform (telemetry, Postgres, NATS, gRPC), its store, its clients of
// billing, media and analysis, its API, its workers, the lease sweeper and
// the credit settler. It is the only package of the service that reads the
// environment.
package app

import (
	"context"
	"errors"
	"net"

	"github.com/connectengine/photoshoot/pkg/mediaclient"
	"github.com/connectengine/photoshoot/pkg/platform"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/analysis"
	"github.com/connectengine/photoshoot/services/generation/internal/api"
	"github.com/connectengine/photoshoot/services/generation/internal/billing"
	"github.com/connectengine/photoshoot/services/generation/internal/consumers"
	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/pipeline"
	"github.com/connectengine/photoshoot/services/generation/internal/store"
	"github.com/connectengine/photoshoot/services/generation/internal/watch"
	"github.com/connectengine/photoshoot/services/generation/internal/worker"
)

// Mode is what a process runs.
type Mode int

// The modes: the API with workers beside it (`generation`), or workers only
// (`generation worker`, a Deployment of its own that scales with the queue).
// Both run the lease sweeper and the credit settler; every replica may.
const (
	ModeServe Mode = iota
	ModeWorker
)

// App is a running generation service.
type App struct {
	platform *platform.Platform
}

// New starts the service's plumbing, registers its API (in ModeServe) and
// starts its workers, sweeper, settler and consumers.
func New(ctx context.Context, cfg Config, mode Mode) (*App, error) {
	p, err := platform.New(ctx, cfg.Config, platform.Options{
		Migrations: store.Migrations,
		Unauthenticated: []string{
			generationv1.GenerationService_ListScenes_FullMethodName,
		},
	})
	if err != nil {
		return nil, err
	}
	a := &App{platform: p}
	if err := a.wire(ctx, cfg, mode); err != nil {
		return nil, errors.Join(err, p.Close(ctx))
	}
	return a, nil
}

func (a *App) wire(ctx context.Context, cfg Config, mode Mode) error {
	p := a.platform
	// Reserve (by job id), Capture and Release (by hold id) are idempotent,
	// so the client may retry them.
	bconn, err := p.Dial(cfg.BillingAddr,
		billingv1.BillingService_Reserve_FullMethodName,
		billingv1.BillingService_Capture_FullMethodName,
		billingv1.BillingService_Release_FullMethodName)
	if err != nil {
		return err
	}
	mconn, err := p.Dial(cfg.MediaAddr,
		mediav1.MediaService_FetchImage_FullMethodName,
		mediav1.MediaService_SignImageUrl_FullMethodName,
		mediav1.MediaService_DiscardJobImages_FullMethodName)
	if err != nil {
		return err
	}
	aconn, err := p.Dial(cfg.AnalysisAddr, analysisv1.AnalysisService_FetchAnalysis_FullMethodName)
	if err != nil {
		return err
	}
	jobs := store.New(p.Pool)
	credits := billing.New(billingv1.NewBillingServiceClient(bconn))
	media := mediaclient.New(mediav1.NewMediaServiceClient(mconn))

	if mode == ModeServe {
		hub, err := watch.New(p.NATS)
		if err != nil {
			return err
		}
		p.Push("job watch hub", func(context.Context) error { return hub.Close() })
		svc := job.NewService(jobs, credits, p.Logger)
		generationv1.RegisterGenerationServiceServer(p.Server.GRPC, api.NewServer(svc, job.NewLooks(jobs), cfg.ServiceAuthSecret, hub))
	}

	model, remote, err := imageModel(cfg)
	if err != nil {
		return err
	}
	if n := cfg.workers(mode == ModeWorker); n > 0 {
		metrics, err := worker.NewMetrics(p.Telemetry.MeterProvider, p.JetStream, model.Name())
		if err != nil {
			return err
		}
		w := worker.New(worker.Config{Concurrency: n, Lease: cfg.WorkerLease, Grace: cfg.ShutdownTimeout / 2, SignSourceURLs: remote},
			p.JetStream, jobs, media, analysis.New(analysisv1.NewAnalysisServiceClient(aconn)),
			pipeline.New(model, cfg.FidelityThreshold), p.Logger, metrics)
		p.Logger.Info("generation workers", "worker", w.ID(), "concurrency", n, "model", model.Name())
		p.Go("workers", w.Run)
	}
	p.Go("lease sweeper", worker.NewSweeper(jobs, p.Logger).Run)
	p.Go("consumer "+worker.DurableSettle, worker.NewSettler(jobs, credits, media, p.Logger).Consumer(p.Pool, p.JetStream).Run)
	p.Go("consumer "+consumers.DurableUserDeleted, consumers.UserDeleted(p.Pool, p.JetStream, p.Logger, credits).Run)
	p.Go("consumer "+consumers.DurableNotify, consumers.Notify(p.Pool, p.JetStream, p.Logger, notifier(ctx, cfg, p.Logger)).Run)
	return nil
}

// imageModel is AIML's Nano Banana Pro when a key is set, else the local
// studio renderer; remote says the model fetches the source by URL.
func imageModel(cfg Config) (imagemodel.Model, bool, error) {
	if cfg.AIML.APIKey == "" {
		return imagemodel.NewLocal(), false, nil
	}
	m, err := imagemodel.NewAIML(cfg.AIML)
	return m, true, err
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
func Run(ctx context.Context, cfg Config, mode Mode) error {
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	a, err := New(ctx, cfg, mode)
	if err != nil {
		lis.Close()
		return err
	}
	return a.Serve(ctx, lis)
}
