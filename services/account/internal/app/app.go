// Package app wires the account service: its configuration, the shared
// platform (telemetry, Postgres, NATS, gRPC), the signing keys, the mail
// provider, the consumers and the API. It is the only package of the
// service that reads the environment.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/account/internal/api"
	"github.com/connectengine/photoshoot/services/account/internal/consumers"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
	"github.com/connectengine/photoshoot/services/account/internal/keyring"
	"github.com/connectengine/photoshoot/services/account/internal/mail"
	"github.com/connectengine/photoshoot/services/account/internal/password"
	"github.com/connectengine/photoshoot/services/account/internal/privacy"
	"github.com/connectengine/photoshoot/services/account/internal/store"
)

// App is a running account service.
type App struct {
	platform *platform.Platform
}

// New starts the service's plumbing and registers its API and workers.
func New(ctx context.Context, cfg Config) (*App, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	sender, mailbox, err := newSender(cfg)
	if err != nil {
		return nil, err
	}
	renderer, err := mail.NewRenderer(cfg.MailFrom)
	if err != nil {
		return nil, err
	}
	hasher, err := password.NewHasher(password.DefaultParams, cfg.HashConcurrency)
	if err != nil {
		return nil, err
	}

	// Account verifies its own access tokens from its key store. The ring
	// needs the platform's pool, so the source is bound once it exists;
	// no request is verified before New returns.
	var ring atomic.Pointer[keyring.Ring]
	cfg.Keys = func(ctx context.Context) ([]authn.PublicKey, error) {
		r := ring.Load()
		if r == nil {
			return nil, errors.New("signing keys not loaded yet")
		}
		return r.KeySource()(ctx)
	}
	p, err := platform.New(ctx, cfg.Config, platform.Options{
		Migrations: store.Migrations,
		Unauthenticated: []string{
			accountv1.AccountService_CreateMagicLink_FullMethodName,
			accountv1.AccountService_CreateSession_FullMethodName,
			accountv1.AccountService_CreatePasswordSession_FullMethodName,
			accountv1.AccountService_CreateContactMessage_FullMethodName,
		},
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*App, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		return nil, errors.Join(fmt.Errorf("account: %w", err), p.Close(cctx))
	}
	st, err := store.New(p.Pool, derive(cfg.ServiceAuthSecret, "photoshoot account signing keys at rest"))
	if err != nil {
		return fail(err)
	}
	r, err := keyring.New(st, keyring.Options{
		Issuer: platform.TokenIssuer, Audience: platform.TokenAudience, Now: now, Logger: p.Logger,
	})
	if err != nil {
		return fail(err)
	}
	if err := r.Rotate(ctx); err != nil {
		return fail(err)
	}
	ring.Store(r)
	p.Go("signing key rotation", r.Run)

	svc := identity.NewService(st, hasher, p.Logger, identity.Config{
		PublicURL: cfg.PublicURL, SupportEmail: cfg.SupportEmail, AdminEmails: cfg.AdminEmails,
	}, now)

	var peers privacy.Peers
	for _, d := range []struct {
		addr string
		set  func(conn *grpc.ClientConn)
	}{
		{cfg.BillingAddr, func(c *grpc.ClientConn) { peers.Billing = billingv1.NewBillingServiceClient(c) }},
		{cfg.MediaAddr, func(c *grpc.ClientConn) { peers.Media = mediav1.NewMediaServiceClient(c) }},
		{cfg.AnalysisAddr, func(c *grpc.ClientConn) { peers.Analysis = analysisv1.NewAnalysisServiceClient(c) }},
		{cfg.GenerationAddr, func(c *grpc.ClientConn) { peers.Generation = generationv1.NewGenerationServiceClient(c) }},
	} {
		conn, err := p.Dial(d.addr)
		if err != nil {
			return fail(err)
		}
		d.set(conn)
	}

	mailer := &consumers.Mailer{Sender: sender, Renderer: renderer, SupportEmail: cfg.SupportEmail, Now: now}
	exporter := &consumers.Exporter{
		Store: st, PublicURL: cfg.PublicURL, Logger: p.Logger, Now: now,
		Builder: privacy.NewExporter(peers, func(ctx context.Context, userID string) (proto.Message, error) {
			d, err := svc.UserData(ctx, userID)
			if err != nil {
				return nil, err
			}
			return api.UserDataToProto(d), nil
		}, p.Logger),
	}
	expirer := &privacy.Expirer{Store: st, Media: peers.Media, Signer: r.Signer, Logger: p.Logger, Now: now, Every: cfg.ExportSweepEvery}
	p.Go("export expiry", expirer.Run)
	purges := &consumers.Purges{Now: now, Logger: p.Logger}
	for _, c := range append([]events.ConsumerConfig{mailer.Config(), exporter.Config()}, purges.Configs()...) {
		p.Go("consumer "+c.Durable, events.NewConsumer(p.Pool, p.JetStream, p.Logger, c).Run)
	}

	accountv1.RegisterAccountServiceServer(p.Server.GRPC, api.New(api.Deps{
		Identity: svc, Keys: r, Billing: peers.Billing, Generation: peers.Generation, Mailbox: mailbox, DevMode: cfg.DevMode,
		PublicURL: cfg.PublicURL, PageKey: derive(cfg.ServiceAuthSecret, "photoshoot account page tokens"),
	}))
	return &App{platform: p}, nil
}

// newSender picks the mail provider: Resend when its key is set, else SMTP
// when SMTP_URL is set, else (dev mode only, checked by LoadConfig) the dev
// mailbox, which is then also returned for ListDevMail.
func newSender(cfg Config) (mail.Sender, *mail.Mailbox, error) {
	switch {
	case cfg.ResendAPIKey != "":
		s, err := mail.NewResend(cfg.ResendAPIKey, cfg.ResendBaseURL, nil)
		return s, nil, err
	case cfg.SMTPURL != "":
		s, err := mail.NewSMTP(cfg.SMTPURL, nil)
		return s, nil, err
	case cfg.DevMode:
		b, err := mail.NewMailbox(cfg.MailDir)
		return b, b, err
	default:
		return nil, nil, errors.New("no mail provider: set RESEND_API_KEY or SMTP_URL, or DEV_MODE for the dev mailbox")
	}
}

// derive makes a purpose-specific key from the service secret.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Serve serves on lis until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	return a.platform.Serve(ctx, lis)
}

// Migrate applies the service's migrations and exits.
func Migrate(ctx context.Context, cfg Config) error {
	if err := platform.Migrate(ctx, cfg.Config, store.Migrations); err != nil {
		return fmt.Errorf("migrate account: %w", err)
	}
	return nil
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
