// Package app wires the gateway: configuration, telemetry, connections to
// the five services, the REST mux, the OpenAPI document, health endpoints,
// and graceful shutdown.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/connectengine/photoshoot/gateway/internal/edge"
	"github.com/connectengine/photoshoot/gateway/internal/media"
	"github.com/connectengine/photoshoot/gateway/internal/rest"
	"github.com/connectengine/photoshoot/gateway/internal/session"
	"github.com/connectengine/photoshoot/gateway/internal/sse"
	"github.com/connectengine/photoshoot/gateway/internal/web"
	"github.com/connectengine/photoshoot/gateway/openapi"
	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/lifecycle"
	"github.com/connectengine/photoshoot/pkg/rpc"
	"github.com/connectengine/photoshoot/pkg/telemetry"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// defaultGCPercent is the gateway's GOGC unless the environment sets one.
const defaultGCPercent = 400

// App is a running gateway.
type App struct {
	cfg       Config
	logger    *slog.Logger
	stack     *lifecycle.Stack
	upstreams []upstream
	handler   http.Handler
	stopping  atomic.Bool
}

type upstream struct {
	name string
	conn *grpc.ClientConn
}

// New connects to the services and builds the HTTP handler.
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	w := cfg.LogWriter
	if w == nil {
		w = os.Stderr
	}
	logger := telemetry.NewLogger(w, "gateway", telemetry.LoggerOptions{JSON: cfg.LogJSON})
	a := &App{cfg: cfg, logger: logger, stack: lifecycle.NewStack(logger)}
	if cfg.Getenv("GOGC") == "" {
		// The gateway's live heap is small (a few MB) while every request
		// allocates ~35 KB of short-lived garbage, so at the default GOGC=100
		// it collects many times a second; 400 cut its CPU per request by
		// about a quarter in gwbench for a few MB more heap. GOGC, when set,
		// still decides.
		debug.SetGCPercent(defaultGCPercent)
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
			defer cancel()
			err = errors.Join(err, a.stack.Close(cctx))
		}
	}()
	tel, err := telemetry.Setup(ctx, telemetry.Options{
		ServiceName: "gateway", Getenv: cfg.Getenv, Logger: logger, MetricsListener: cfg.MetricsListener,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	a.stack.Push("telemetry", tel.Shutdown)
	if tel.MetricsAddr != nil {
		logger.InfoContext(ctx, "metrics", "url", "http://"+tel.MetricsAddr.String()+telemetry.MetricsPath)
	}

	token, err := authn.NewServiceToken(cfg.ServiceAuthSecret, "gateway")
	if err != nil {
		return nil, fmt.Errorf("service credential: %w", err)
	}
	var up rest.Upstreams
	for _, u := range []struct {
		name, addr string
		conn       **grpc.ClientConn
	}{
		{"account", cfg.AccountAddr, &up.Account},
		{"billing", cfg.BillingAddr, &up.Billing},
		{"media", cfg.MediaAddr, &up.Media},
		{"analysis", cfg.AnalysisAddr, &up.Analysis},
		{"generation", cfg.GenerationAddr, &up.Generation},
	} {
		conn, err := rpc.Dial(u.addr, rpc.ClientOptions{Service: token, MeterProvider: tel.MeterProvider})
		if err != nil {
			return nil, fmt.Errorf("dial %s at %s: %w", u.name, u.addr, err)
		}
		a.stack.Push(u.name+" client", func(context.Context) error { return conn.Close() })
		*u.conn = conn
		a.upstreams = append(a.upstreams, upstream{name: u.name, conn: conn})
	}
	auth := session.NewAuthenticator(accountv1.NewAccountServiceClient(up.Account), session.Options{
		Secure:         strings.HasPrefix(cfg.PublicURL, "https://"),
		TrustedProxies: cfg.TrustedProxies,
		Logger:         logger,
	})
	restMux, err := rest.NewMux(ctx, up, auth)
	if err != nil {
		return nil, err
	}
	compress, err := edge.NewCompressor()
	if err != nil {
		return nil, fmt.Errorf("compression: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openapi.Document)
	})
	limit := edge.RateLimit(edge.NewLimiter(60, 20), expensiveRoutes)
	mux.Handle("/v1/", edge.Chain(restMux, limit, edge.LimitBody(1<<20), edge.Timeout(30*time.Second)))
	// Image bytes stream through their own handlers (grpc-gateway would
	// buffer them as JSON): the upload with its 25 MB cap, the reads with
	// ETag, Range and signed URLs.
	images := media.NewHandler(mediav1.NewMediaServiceClient(up.Media), logger)
	images.Outgoing = session.Outgoing
	mux.Handle("POST /v1/images", limit(http.HandlerFunc(images.Upload)))
	mux.HandleFunc("GET /v1/images/{image_id}/content", images.Content)
	mux.HandleFunc("GET /v1/images/{image_id}/thumbnail", images.Content)
	// Job updates as server-sent events: no body cap, no request timeout
	// (the stream lives as long as the job), no compression.
	mux.Handle("GET /v1/generations/{job_id}/events",
		sse.NewHandler(generationv1.NewGenerationServiceClient(up.Generation), logger, session.Outgoing))
	mux.Handle("POST /webhooks/stripe", edge.LimitBody(1<<20)(stripeWebhook(billingv1.NewBillingServiceClient(up.Billing))))

	// Everything else is the web app: pages, static assets, the dev mailbox.
	webOpt := web.Options{
		DevMode: cfg.DevMode, PublicURL: cfg.PublicURL,
		GAMeasurementID: cfg.GAMeasurementID, GTMID: cfg.GTMID,
		Account: accountv1.NewAccountServiceClient(up.Account), Logger: logger,
	}
	pages, err := web.NewHandler(webOpt)
	if err != nil {
		return nil, fmt.Errorf("web app: %w", err)
	}
	mux.Handle("/", pages)

	// Browsers must not be tricked into state-changing requests from other
	// sites; Stripe's server-to-server webhook is the one exception (it is
	// authenticated by its signature instead).
	csrf := http.NewCrossOriginProtection()
	csrf.AddInsecureBypassPattern("POST /webhooks/stripe")

	security := edge.SecurityOptions{
		HSTS: !cfg.DevMode && strings.HasPrefix(cfg.PublicURL, "https://"),
		// Google's tag hosts, only when analytics is configured; the web app
		// loads them only after consent.
		ScriptHosts:  web.ScriptHosts(webOpt),
		ConnectHosts: web.ScriptHosts(webOpt),
	}
	handler := edge.Chain(edge.Routes(mux),
		edge.RequestID,
		edge.Security(security),
		csrf.Handler,
		compress,
		auth.Middleware,
	)
	// Spans start as "METHOD" and get their route once one matched
	// (edge.SetRoute), never the raw path: ids in paths would make every
	// span name unique. The server name is fixed to the public origin, so
	// the Host header a client sends cannot mint new metric series.
	a.handler = otelhttp.NewHandler(handler, "gateway",
		otelhttp.WithMeterProvider(tel.MeterProvider),
		otelhttp.WithServerName(serverName(cfg.PublicURL)),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
	return a, nil
}

// serverName is the public origin's host:port, the port made explicit.
func serverName(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Handler is the gateway's whole HTTP surface.
func (a *App) Handler() http.Handler { return a.handler }

// Serve serves HTTP on lis until ctx ends, then stops taking new requests
// (readiness fails first so load balancers drain), finishes the ones in
// flight within the shutdown timeout, and closes the upstream connections.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	debug, err := a.startPprof(ctx)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
		defer cancel()
		return errors.Join(err, a.stack.Close(cctx))
	}
	a.logger.InfoContext(ctx, "serving", "addr", lis.Addr().String())
	serve := func() error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(lis) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return nil
		}
	}
	shutdown := func(sctx context.Context) error {
		a.logger.InfoContext(sctx, "shutting down")
		a.stopping.Store(true)
		err := srv.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.Join(err, srv.Close())
		}
		if debug != nil {
			// A profile being taken is cut short rather than waited for.
			err = errors.Join(err, debug.Close())
		}
		return errors.Join(err, a.stack.Close(sctx))
	}
	return lifecycle.Run(ctx, a.cfg.ShutdownTimeout, serve, shutdown)
}

// startPprof serves net/http/pprof and expvar on cfg.PprofAddr, a listener of its own
// so profiles are never reachable through the public handler. It returns
// nil when no address is configured.
func (a *App) startPprof(ctx context.Context) (*http.Server, error) {
	if a.cfg.PprofAddr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", a.cfg.PprofAddr)
	if err != nil {
		return nil, fmt.Errorf("GATEWAY_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// expvar's memstats: allocation counters, far cheaper to read than a
	// heap profile (gwbench reads them around every round).
	mux.Handle("/debug/vars", expvar.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.logger.InfoContext(ctx, "serving pprof", "addr", lis.Addr().String())
	go func() { _ = srv.Serve(lis) }()
	return srv, nil
}

// readyz answers 200 when every upstream service reports SERVING, and 503
// (naming those that do not) otherwise or once shutdown has begun.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if a.stopping.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "stopping"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var (
		mu       sync.Mutex
		notReady = []string{}
		wg       sync.WaitGroup
	)
	for _, u := range a.upstreams {
		wg.Go(func() {
			resp, err := healthpb.NewHealthClient(u.conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				mu.Lock()
				notReady = append(notReady, u.name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(notReady) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "notReady": notReady})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
