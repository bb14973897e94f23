package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/connectengine/photoshoot/pkg/authn"
)

// DefaultTimeout bounds a unary call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// ClientOptions configures Dial.
type ClientOptions struct {
	// Service, when set, attaches this service's credential to every call,
	// which internal methods require.
	Service *authn.ServiceTokenSource
	// DefaultTimeout applies to unary calls whose context has no deadline;
	// DefaultTimeout when zero. Streams are long-lived by design and get
	// none: their context bounds them.
	DefaultTimeout time.Duration
	// RetryMethods are the full names of idempotent methods, retried on
	// UNAVAILABLE (up to 4 attempts, backoff 0.1 s to 1 s). Others are never
	// retried once sent, because a retry could repeat a side effect.
	RetryMethods []string
	// MeterProvider records otelgrpc's rpc.client.call.duration; the global
	// one when nil.
	MeterProvider metric.MeterProvider
}

// Dial returns a client connection (grpc.NewClient: it connects lazily).
// Every call forwards the caller's access token from authn.CallerFrom as
// `authorization: Bearer`, so the callee scopes its work to the same user,
// and adds the service credential when configured.
//
// The transport is plaintext. Encryption and peer identity between pods are
// left to the platform (a service mesh or an encrypted CNI); until one is in
// place, tokens cross the cluster network in clear text.
func Dial(target string, opt ClientOptions, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	if opt.DefaultTimeout <= 0 {
		opt.DefaultTimeout = DefaultTimeout
	}
	cfg, err := serviceConfig(opt.RetryMethods)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	c := &clientInterceptor{service: opt.Service, timeout: opt.DefaultTimeout}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(meterProvider(opt.MeterProvider)...)),
		grpc.WithChainUnaryInterceptor(c.unary),
		grpc.WithChainStreamInterceptor(c.stream),
		grpc.WithDefaultServiceConfig(cfg),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    clientKeepaliveTime,
			Timeout: keepaliveTimeout,
		}),
	}
	conn, err := grpc.NewClient(target, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}

type clientInterceptor struct {
	service *authn.ServiceTokenSource
	timeout time.Duration
}

func (c *clientInterceptor) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return invoker(c.credentials(ctx), method, req, reply, cc, opts...)
}

func (c *clientInterceptor) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(c.credentials(ctx), desc, cc, method, opts...)
}

// credentials adds the caller's token, unless the call already set one, and
// this service's credential, replacing any other: a service only ever speaks
// for itself.
func (c *clientInterceptor) credentials(ctx context.Context) context.Context {
	// FromOutgoingContext already returns a copy, safe to modify.
	md, ok := metadata.FromOutgoingContext(ctx)
	if !ok {
		md = metadata.MD{}
	}
	if caller, ok := authn.CallerFrom(ctx); ok && caller.Token != "" && len(md.Get(UserAuthHeader)) == 0 {
		md.Set(UserAuthHeader, "Bearer "+caller.Token)
	}
	if c.service != nil {
		md.Set(ServiceAuthHeader, "Bearer "+c.service.Token(time.Now()))
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// The gRPC service config, as documented in grpc/service_config.proto.
type (
	svcConfig struct {
		LoadBalancingConfig []map[string]struct{} `json:"loadBalancingConfig"`
		MethodConfig        []methodConfig        `json:"methodConfig,omitempty"`
	}
	methodConfig struct {
		Name        []methodName `json:"name"`
		RetryPolicy retryPolicy  `json:"retryPolicy"`
	}
	methodName struct {
		Service string `json:"service"`
		Method  string `json:"method"`
	}
	retryPolicy struct {
		MaxAttempts          int      `json:"maxAttempts"`
		InitialBackoff       string   `json:"initialBackoff"`
		MaxBackoff           string   `json:"maxBackoff"`
		BackoffMultiplier    float64  `json:"backoffMultiplier"`
		RetryableStatusCodes []string `json:"retryableStatusCodes"`
	}
)

// serviceConfig builds the default service config: round_robin, which
// spreads calls over every address the resolver returns (a headless Service
// gives one per pod), and one retry policy covering retryMethods.
func serviceConfig(retryMethods []string) (string, error) {
	cfg := svcConfig{LoadBalancingConfig: []map[string]struct{}{{"round_robin": {}}}}
	if len(retryMethods) > 0 {
		mc := methodConfig{RetryPolicy: retryPolicy{
			MaxAttempts:          4,
			InitialBackoff:       "0.1s",
			MaxBackoff:           "1s",
			BackoffMultiplier:    2,
			RetryableStatusCodes: []string{"UNAVAILABLE"},
		}}
		for _, m := range retryMethods {
			svc, method, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
			if !strings.HasPrefix(m, "/") || !ok || svc == "" || method == "" || strings.Contains(method, "/") {
				return "", fmt.Errorf("retry method %q: want /package.Service/Method", m)
			}
			mc.Name = append(mc.Name, methodName{Service: svc, Method: method})
		}
		cfg.MethodConfig = []methodConfig{mc}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode service config: %w", err)
	}
	return string(b), nil
}
