// Package api translates the account service's gRPC calls into its domain
// (internal/identity) and back. Handlers return apperr kinds; the rpc
// interceptor maps them to statuses.
package api

import (
	"context"
	"net"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
	"github.com/connectengine/photoshoot/services/account/internal/keyring"
	"github.com/connectengine/photoshoot/services/account/internal/mail"
)

// Metadata the gateway sets on every call it forwards.
const (
	// HeaderRealIP is the browser's address as the gateway saw it.
	HeaderRealIP = "x-real-ip"
	// HeaderUserAgent is the browser's User-Agent.
	HeaderUserAgent = "x-forwarded-user-agent"
	// HeaderIdempotencyKey, when present, makes an admin grant idempotent.
	HeaderIdempotencyKey = "idempotency-key"
)

// Paging bounds.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// Deps are what the server needs.
type Deps struct {
	Identity *identity.Service
	Keys     *keyring.Ring
	Billing  billingv1.BillingServiceClient
	// Generation answers the admin's job lookups (its ExportUserData).
	Generation generationv1.GenerationServiceClient
	// Mailbox is the dev mailbox, nil unless it is the configured sender.
	Mailbox *mail.Mailbox
	DevMode bool
	// PublicURL is where browsers reach the gateway.
	PublicURL string
	// PageKey signs page tokens.
	PageKey []byte
}

// Server implements accountv1.AccountServiceServer.
type Server struct {
	accountv1.UnimplementedAccountServiceServer
	d     Deps
	pages pageCodec
}

// New returns the server.
func New(d Deps) *Server {
	d.PublicURL = strings.TrimRight(d.PublicURL, "/")
	return &Server{d: d, pages: pageCodec{key: d.PageKey}}
}

// caller is the signed-in user of a public RPC; the rpc interceptor has
// already refused calls without one.
func caller(ctx context.Context) (authn.Caller, error) {
	c, ok := authn.CallerFrom(ctx)
	if !ok || c.UserID == "" {
		return authn.Caller{}, apperr.Unauthenticated("sign-in required")
	}
	return c, nil
}

// client reads where the request came from: the gateway's x-real-ip and
// x-forwarded-user-agent, else the peer address.
func client(ctx context.Context) identity.Client {
	var c identity.Client
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(HeaderRealIP); len(v) > 0 {
		if ip := net.ParseIP(strings.TrimSpace(v[0])); ip != nil {
			c.IP = ip.String()
		}
	}
	if c.IP == "" {
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			host, _, err := net.SplitHostPort(p.Addr.String())
			if err != nil {
				host = p.Addr.String()
			}
			c.IP = host
		}
	}
	if v := md.Get(HeaderUserAgent); len(v) > 0 {
		c.UserAgent = truncate(v[0], 512)
	}
	return c
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, apperr.Invalid("invalid page size", apperr.Violation{Field: "page_size", Description: "must not be negative"})
	case n == 0:
		return defaultPageSize, nil
	default:
		return min(int(n), maxPageSize), nil
	}
}
