// Package rpc builds every gRPC server and client in the suite the same way:
// tracing, authentication decided from the proto descriptors, one error
// mapping with one log line per failed call, health, reflection and
// keepalive on servers; tracing, credential forwarding, default deadlines and
// retries of idempotent methods on clients.
package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
)

// ServerOptions configures NewServer.
type ServerOptions struct {
	Logger *slog.Logger
	// Users verifies `authorization: Bearer <access token>`. When nil, every
	// call that carries or needs a user token is refused.
	Users *authn.Verifier
	// Services verifies `x-service-authorization: Bearer <credential>`. When
	// nil, every call that carries or needs one (every internal method) is
	// refused.
	Services *authn.ServiceVerifier
	// Unauthenticated lists the full names of public methods callable without
	// a user, e.g. "/photoshoot.account.v1.AccountService/CreateMagicLink".
	// A token sent to them anyway is still verified. Entries that are not
	// public methods (typos, internal methods) are ignored with a warning.
	Unauthenticated []string
	// Files holds the descriptors that decide whether a method is public;
	// protoregistry.GlobalFiles when nil. Tests pass their own.
	Files *protoregistry.Files
	// MeterProvider records otelgrpc's rpc.server.call.duration (by
	// rpc.method and rpc.response.status_code); the global one when nil.
	MeterProvider metric.MeterProvider
}

// Server is a configured gRPC server with its health service. Register
// services on GRPC, then flip Health to SERVING once dependencies are ready
// and back to NOT_SERVING when shutdown begins.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
}

// Keepalive settings shared by servers and clients. Clients ping no more
// often than the server's MinTime allows, or the server would close the
// connection with ENHANCE_YOUR_CALM.
const (
	keepaliveMinTime    = 15 * time.Second
	serverKeepaliveTime = time.Minute
	clientKeepaliveTime = 30 * time.Second
	keepaliveTimeout    = 20 * time.Second
	// maxConnectionAge makes clients reconnect now and then, so that new
	// replicas behind a Kubernetes Service get traffic. The grace period is
	// left infinite so long streams (job updates) are never cut.
	maxConnectionAge = 5 * time.Minute
)

// NewServer returns a server with, in order from the outside in: an
// otelgrpc stats handler, panic recovery, error mapping and logging, and
// authentication. extra options are applied last; extra interceptors run
// inside these.
//
// Error mapping sits outside authentication, unlike the order one might
// expect, so that rejected credentials also go through apperr.ToStatus and
// the single log line.
func NewServer(opt ServerOptions, extra ...grpc.ServerOption) *Server {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := newAuthorizer(opt)
	for _, m := range opt.Unauthenticated {
		if a.classify(m) != accessOpen {
			log.Warn("method listed as unauthenticated is not a public method; the listing is ignored", "method", m)
		}
	}
	opts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(meterProvider(opt.MeterProvider)...)),
		grpc.ChainUnaryInterceptor(recoverUnary(log), observeUnary(log), a.unary),
		grpc.ChainStreamInterceptor(recoverStream(log), observeStream(log), a.stream),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:             serverKeepaliveTime,
			Timeout:          keepaliveTimeout,
			MaxConnectionAge: maxConnectionAge,
		}),
	}
	s := grpc.NewServer(append(opts, extra...)...)

	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, h)

	files := opt.Files
	if files == nil {
		files = protoregistry.GlobalFiles
	}
	ro := reflection.ServerOptions{Services: s, DescriptorResolver: files}
	reflectionv1.RegisterServerReflectionServer(s, reflection.NewServerV1(ro))
	reflectionv1alpha.RegisterServerReflectionServer(s, reflection.NewServer(ro))

	return &Server{GRPC: s, Health: h}
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = recovered(ctx, log, info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = recovered(ss.Context(), log, info.FullMethod, r)
			}
		}()
		return handler(srv, ss)
	}
}

// recovered turns a handler panic into Internal and logs it with the stack.
// The panic unwound past the error-mapping interceptor, so this is the one
// log line for the call. Panics in goroutines the handler started are not
// caught here and still crash the process.
func recovered(ctx context.Context, log *slog.Logger, method string, r any) error {
	st, level := apperr.ToStatus(ctx, fmt.Errorf("panic: %v", r))
	log.LogAttrs(ctx, level, "rpc panic",
		slog.String("method", method),
		slog.String("code", st.Code().String()),
		slog.Any("panic", r),
		slog.String("stack", string(debug.Stack())),
	)
	return st.Err()
}

func observeUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, failed(ctx, log, info.FullMethod, start, err)
		}
		return resp, nil
	}
}

func observeStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		if err := handler(srv, ss); err != nil {
			return failed(ss.Context(), log, info.FullMethod, start, err)
		}
		return nil
	}
}

// failed maps err to its wire status and logs it once, at the level that
// apperr chose, with the full cause. The context lets the log handler add
// the trace ID.
func failed(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) error {
	st, level := apperr.ToStatus(ctx, err)
	log.LogAttrs(ctx, level, "rpc failed",
		slog.String("method", method),
		slog.String("code", st.Code().String()),
		slog.Duration("duration", time.Since(start)),
		slog.Any("error", err),
	)
	return st.Err()
}

// meterProvider is the otelgrpc option for mp, or none (the global provider)
// when mp is nil.
func meterProvider(mp metric.MeterProvider) []otelgrpc.Option {
	if mp == nil {
		return nil
	}
	return []otelgrpc.Option{otelgrpc.WithMeterProvider(mp)}
}
