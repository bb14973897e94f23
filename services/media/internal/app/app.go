// Package app wires the media service: its configuration, the shared
// platform (telemetry, Postgres, NATS, gRPC), the blob store, the gallery,
// its API, the account-deletion consumer and the orphan sweeper. It is the
// only package of the service that reads the environment.
package app

import (
	"context"
	"net"

	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"

	"github.com/connectengine/photoshoot/pkg/platform"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/media/internal/api"
	"github.com/connectengine/photoshoot/services/media/internal/blobstore"
	"github.com/connectengine/photoshoot/services/media/internal/consumers"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
	"github.com/connectengine/photoshoot/services/media/internal/store"
)

// init gives gRPC's default buffer pool, which zeroes every buffer it
// hands out, size classes of 64 and 128 KiB besides its 256 B, 4, 16 and
// 32 KiB and 1 MiB: clients may send chunks of up to 64 KiB (65,540-byte
// messages), which would otherwise each be gathered in a zeroed 1 MiB
// buffer, sixteen times the data. It must run before any server or client
// is made, hence init.
func init() {
	pool, err := mem.NewBinaryTieredBufferPool(8, 12, 14, 15, 16, 17, 20)
	if err != nil {
		panic(err)
	}
	experimental.SetDefaultBufferPool(pool)
}

// App is a running media service.
type App struct {
	platform *platform.Platform
}

// New starts the service's plumbing and registers its API and workers.
func New(ctx context.Context, cfg Config) (*App, error) {
	blobs, err := newBlobStore(cfg)
	if err != nil {
		return nil, err
	}
	p, err := platform.New(ctx, cfg.Config, platform.Options{
		Migrations: store.Migrations,
		Unauthenticated: []string{
			mediav1.MediaService_ReadImage_FullMethodName,
		},
	})
	if err != nil {
		return nil, err
	}
	svc, err := gallery.NewService(store.New(p.Pool), blobs, p.Logger, gallery.Config{
		TempDir:      cfg.TempDir,
		SigningKey:   cfg.SigningKey,
		PublicURL:    cfg.PublicURL,
		DecodeMemory: cfg.DecodeMemory,
	})
	if err != nil {
		return nil, err
	}
	mediav1.RegisterMediaServiceServer(p.Server.GRPC, api.NewServer(svc, cfg.ServiceAuthSecret))
	p.Go("user-deleted consumer", consumers.UserDeleted(p.Pool, p.JetStream, p.Logger, svc).Run)
	p.Go("orphan sweeper", func(ctx context.Context) error {
		return svc.RunSweeper(ctx, cfg.SweepInterval, cfg.OrphanGrace)
	})
	return &App{platform: p}, nil
}

func newBlobStore(cfg Config) (blobstore.Store, error) {
	if cfg.S3Bucket != "" {
		return blobstore.NewS3(blobstore.S3Config{
			Endpoint:        cfg.S3Endpoint,
			Bucket:          cfg.S3Bucket,
			Region:          cfg.S3Region,
			AccessKeyID:     cfg.S3AccessKeyID,
			SecretAccessKey: cfg.S3SecretAccessKey,
			PathStyle:       cfg.S3Endpoint != "",
		})
	}
	return blobstore.NewDisk(cfg.MediaDir)
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
