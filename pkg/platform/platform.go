// Package platform assembles the plumbing every Photoshoot service starts
// with — telemetry and logs, its PostgreSQL pool and migrations, NATS
// JetStream with the outbox relay, the gRPC server with auth and health,
// clients to other services — and takes it down again in order. It holds no
// business rules: a service's internal/app builds its domain on top of it.
package platform

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/lifecycle"
	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/pkg/rpc"
	"github.com/connectengine/photoshoot/pkg/telemetry"
)

// Access tokens are issued by account for every other service.
const (
	TokenIssuer   = "photoshoot-account"
	TokenAudience = "photoshoot"
)

// ServiceMigrationsTable is the tern version table of a service's own
// migrations; the outbox and inbox tables keep theirs apart
// (events.MigrationsVersionTable), so the two sets never renumber each other.
const ServiceMigrationsTable = "schema_version"

// Options are what a service adds to the shared configuration.
type Options struct {
	// Migrations are the service's own embedded NNNN_name.sql files; nil
	// when it has no tables of its own yet.
	Migrations fs.FS
	// Unauthenticated lists public RPCs callable without a user (full
	// method names).
	Unauthenticated []string
}

// Platform is a running service's plumbing.
type Platform struct {
	Config    Config
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
	Pool      *pgxpool.Pool
	NATS      *nats.Conn
	JetStream jetstream.JetStream
	// Server is the gRPC server: register the service on Server.GRPC before
	// Serve.
	Server *rpc.Server
	// ServiceToken authenticates this service's calls to internal RPCs.
	ServiceToken *authn.ServiceTokenSource

	stack   *lifecycle.Stack
	workers []worker
}

type worker struct {
	name string
	run  func(ctx context.Context) error
}

// New starts the plumbing: on error everything started so far is closed.
func New(ctx context.Context, cfg Config, opt Options) (_ *Platform, err error) {
	w := cfg.LogWriter
	if w == nil {
		w = os.Stderr
	}
	logger := telemetry.NewLogger(w, cfg.Service, telemetry.LoggerOptions{JSON: cfg.LogJSON})
	p := &Platform{Config: cfg, Logger: logger, stack: lifecycle.NewStack(logger)}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
			defer cancel()
			err = errors.Join(err, p.stack.Close(cctx))
		}
	}()

	topt := cfg.Telemetry
	topt.ServiceName, topt.Getenv, topt.Logger = cfg.Service, cfg.Getenv, logger
	if p.Telemetry, err = telemetry.Setup(ctx, topt); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	p.stack.Push("telemetry", p.Telemetry.Shutdown)

	if p.Pool, err = postgres.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	p.stack.Push("postgres pool", func(context.Context) error { p.Pool.Close(); return nil })
	if err := migrate(ctx, p.Pool, opt.Migrations); err != nil {
		return nil, err
	}

	if p.NATS, err = events.Connect(cfg.NATSURL, cfg.Service, logger); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	p.stack.Push("nats", func(context.Context) error { return p.NATS.Drain() })
	if p.JetStream, err = jetstream.New(p.NATS); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	p.Go("jetstream streams", p.ensureStreams)
	relay := events.NewRelay(p.Pool, p.JetStream, logger, events.RelayOptions{MeterProvider: p.Telemetry.MeterProvider})
	p.Go("outbox relay", relay.Run)

	if p.ServiceToken, err = authn.NewServiceToken(cfg.ServiceAuthSecret, cfg.Service); err != nil {
		return nil, fmt.Errorf("service credential: %w", err)
	}
	services, err := authn.NewServiceVerifier(cfg.ServiceAuthSecret)
	if err != nil {
		return nil, fmt.Errorf("service verifier: %w", err)
	}
	keys := cfg.Keys
	if keys == nil {
		conn, err := p.Dial(cfg.AccountAddr, accountv1.AccountService_GetSigningKeys_FullMethodName)
		if err != nil {
			return nil, fmt.Errorf("account client: %w", err)
		}
		keys = AccountKeys(accountv1.NewAccountServiceClient(conn))
	}
	verifier, err := authn.NewVerifier(keys, authn.VerifierOptions{Issuer: TokenIssuer, Audience: TokenAudience})
	if err != nil {
		return nil, fmt.Errorf("token verifier: %w", err)
	}
	p.Server = rpc.NewServer(rpc.ServerOptions{
		Logger:          logger,
		Users:           verifier,
		Services:        services,
		Unauthenticated: opt.Unauthenticated,
		MeterProvider:   p.Telemetry.MeterProvider,
	})
	if addr := p.Telemetry.MetricsAddr; addr != nil {
		logger.InfoContext(ctx, "metrics", "url", "http://"+addr.String()+telemetry.MetricsPath)
	}
	return p, nil
}

// Migrate applies the outbox/inbox migrations and the service's own; it is
// the `migrate` subcommand (a Kubernetes Job) and runs on every start too.
func Migrate(ctx context.Context, cfg Config, migrations fs.FS) error {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	return migrate(ctx, pool, migrations)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, migrations fs.FS) error {
	if err := postgres.Migrate(ctx, pool, events.Migrations, events.MigrationsVersionTable); err != nil {
		return fmt.Errorf("migrate outbox: %w", err)
	}
	if migrations == nil {
		return nil
	}
	if err := postgres.Migrate(ctx, pool, migrations, ServiceMigrationsTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Dial connects to another service with the service credential attached;
// retry lists its idempotent methods. The connection closes at shutdown.
func (p *Platform) Dial(target string, retry ...string) (*grpc.ClientConn, error) {
	conn, err := rpc.Dial(target, rpc.ClientOptions{
		Service: p.ServiceToken, RetryMethods: retry, MeterProvider: p.Telemetry.MeterProvider,
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	p.stack.Push("client "+target, func(context.Context) error { return conn.Close() })
	return conn, nil
}

// Go registers a background worker (relay, consumer, sweeper) that runs
// while the service serves. Its context ends at shutdown, after the gRPC
// server stopped taking requests; a worker that fails before that stops the
// service, so the orchestrator restarts it rather than it limping on.
func (p *Platform) Go(name string, run func(ctx context.Context) error) {
	p.workers = append(p.workers, worker{name: name, run: run})
}

// Close releases everything New started, for a service whose own set-up
// fails after New succeeded (Serve closes it all on its own).
func (p *Platform) Close(ctx context.Context) error {
	return p.stack.Close(ctx)
}

// Push adds a cleanup step that runs at shutdown, before the steps pushed
// earlier (the pool, NATS, telemetry).
func (p *Platform) Push(name string, fn func(ctx context.Context) error) {
	p.stack.Push(name, fn)
}

// Serve runs the gRPC server on lis and the workers until ctx ends (a
// signal) or something fails, then shuts down in order under a fresh
// timeout: health NOT_SERVING, GracefulStop (Stop at the deadline), drain
// the workers, NATS, the pool, flush telemetry. It returns when all of that
// is done.
func (p *Platform) Serve(ctx context.Context, lis net.Listener) error {
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Go(func() {
			err := w.run(workCtx)
			if err != nil && workCtx.Err() == nil {
				p.Logger.ErrorContext(ctx, "worker stopped", "worker", w.name, "error", err)
				fail(fmt.Errorf("%s: %w", w.name, err))
			}
		})
	}
	for name := range p.Server.GRPC.GetServiceInfo() {
		p.Server.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	p.Server.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	p.Logger.InfoContext(ctx, "serving", "addr", lis.Addr().String())

	serve := func() error {
		errc := make(chan error, 1)
		go func() { errc <- p.Server.GRPC.Serve(lis) }()
		select {
		case err := <-errc:
			return err
		case <-runCtx.Done():
			if cause := context.Cause(runCtx); !errors.Is(cause, ctx.Err()) {
				return cause
			}
			return nil
		}
	}
	shutdown := func(sctx context.Context) error {
		p.Logger.InfoContext(sctx, "shutting down")
		err := lifecycle.StopGRPC(sctx, p.Server.GRPC, p.Server.Health)
		stopWork()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-sctx.Done():
			err = errors.Join(err, fmt.Errorf("workers did not drain: %w", sctx.Err()))
		}
		return errors.Join(err, p.stack.Close(sctx))
	}
	return lifecycle.Run(runCtx, p.Config.ShutdownTimeout, serve, shutdown)
}

// ensureStreams creates or updates the JetStream streams, retrying while
// NATS is unreachable: a service starts and serves while NATS is down, and
// the outbox holds its events until the streams exist.
func (p *Platform) ensureStreams(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := events.EnsureStreams(actx, p.JetStream, p.Config.StreamReplicas)
		cancel()
		if err == nil {
			return nil
		}
		p.Logger.WarnContext(ctx, "jetstream streams not ready; retrying", "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// AccountKeys is the key source every service but account uses: account's
// GetSigningKeys over gRPC.
func AccountKeys(client accountv1.AccountServiceClient) authn.KeySource {
	return func(ctx context.Context) ([]authn.PublicKey, error) {
		resp, err := client.GetSigningKeys(ctx, &accountv1.GetSigningKeysRequest{})
		if err != nil {
			return nil, fmt.Errorf("get signing keys: %w", err)
		}
		keys := make([]authn.PublicKey, 0, len(resp.GetKeys()))
		for _, k := range resp.GetKeys() {
			keys = append(keys, authn.PublicKey{KID: k.GetKid(), Key: k.GetPublicKey()})
		}
		return keys, nil
	}
}
