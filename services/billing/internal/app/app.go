// Package app wires the billing service: its configuration, the shared
// platform (telemetry, Postgres, NATS, gRPC), the ledger and checkout use
// cases, the payment provider, the account-event consumers and the hold
// reaper. It is the only package of the service that reads the environment.
package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/api"
	"github.com/connectengine/photoshoot/services/billing/internal/checkout"
	"github.com/connectengine/photoshoot/services/billing/internal/consumers"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/payments"
	"github.com/connectengine/photoshoot/services/billing/internal/store"
)

// App is a running billing service.
type App struct {
	platform *platform.Platform
}

// New starts the service's plumbing and registers its API, consumers and
// reaper.
func New(ctx context.Context, cfg Config) (*App, error) {
	p, err := platform.New(ctx, cfg.Config, platform.Options{
		Migrations: store.Migrations,
		Unauthenticated: []string{
			billingv1.BillingService_ListPacks_FullMethodName,
		},
	})
	if err != nil {
		return nil, err
	}
	st := store.New(p.Pool, p.Telemetry.MeterProvider)
	led := ledger.NewService(st, p.Logger, cfg.HoldTTL, time.Now)
	var provider payments.Provider = payments.NewLocal(cfg.PublicURL)
	if !cfg.TestMode() {
		provider = payments.NewStripe(cfg.StripeSecretKey, cfg.StripeAPIBase, p.Logger)
	}
	co := checkout.NewService(st, provider, checkout.Config{
		Packs: cfg.Packs, PublicURL: cfg.PublicURL, TestMode: cfg.TestMode(), WebhookSecret: cfg.StripeWebhookSecret,
	}, p.Logger)
	billingv1.RegisterBillingServiceServer(p.Server.GRPC, api.NewServer(led, co, st, cfg.ServiceAuthSecret))

	p.Go("user-created consumer", events.NewConsumer(p.Pool, p.JetStream, p.Logger, events.ConsumerConfig{
		Stream: events.StreamAccount, Durable: consumers.DurableUserCreated,
		FilterSubjects: []string{events.SubjectUserCreated},
		Handler:        consumers.UserCreated(st, cfg.TrialCredits, time.Now),
		MeterProvider:  p.Telemetry.MeterProvider,
	}).Run)
	p.Go("user-deleted consumer", events.NewConsumer(p.Pool, p.JetStream, p.Logger, events.ConsumerConfig{
		Stream: events.StreamAccount, Durable: consumers.DurableUserDeleted,
		FilterSubjects: []string{events.SubjectUserDeleted},
		Handler:        consumers.UserDeleted(st, time.Now),
		MeterProvider:  p.Telemetry.MeterProvider,
	}).Run)
	p.Go("hold reaper", func(ctx context.Context) error { return led.RunReaper(ctx, cfg.ReapInterval) })
	if cfg.TestMode() {
		p.Logger.WarnContext(ctx, "payments in test mode: no Stripe key, checkout completes without charging a card")
	}
	return &App{platform: p}, nil
}

// Serve serves on lis until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	return a.platform.Serve(ctx, lis)
}

// Run listens on GRPC_ADDR and serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.GRPCAddr, err)
	}
	a, err := New(ctx, cfg)
	if err != nil {
		lis.Close()
		return err
	}
	return a.Serve(ctx, lis)
}

// Migrate applies the service's migrations and exits.
func Migrate(ctx context.Context, cfg Config) error {
	return platform.Migrate(ctx, cfg.Config, store.Migrations)
}

// Reconcile checks every ledger invariant on the live database, prints each
// broken one to w, and fails when any is broken.
func Reconcile(ctx context.Context, cfg Config, w io.Writer) error {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	violations, err := store.New(pool, nil).Reconcile(ctx)
	if err != nil {
		return err
	}
	for _, v := range violations {
		fmt.Fprintln(w, v)
	}
	if len(violations) > 0 {
		return fmt.Errorf("reconcile: %d invariant violations", len(violations))
	}
	fmt.Fprintln(w, "reconcile: every ledger invariant holds")
	return nil
}
