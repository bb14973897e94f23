// Package rest is the REST half of the gateway: a grpc-gateway mux with the
// handlers of every public RPC (those with a google.api.http annotation;
// internal RPCs have none, so they are unreachable from here by
// construction), plus the few HTTP-only behaviours grpc-gateway needs told:
// the session cookie, 202 for sign-in links, Retry-After on 429.
package rest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/gateway/internal/edge"
	"github.com/connectengine/photoshoot/gateway/internal/session"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// Upstreams are the connections to the five services.
type Upstreams struct {
	Account, Billing, Media, Analysis, Generation *grpc.ClientConn
}

// sessionLifetime is the cookie's lifetime: account's absolute session
// timeout. Account enforces it (and the idle timeout) whatever the browser
// keeps.
const sessionLifetime = 30 * 24 * time.Hour

// Marshaler is protojson with lowerCamelCase names (the OpenAPI document
// agrees); zero values are written out so clients see `"held": "0"` rather
// than a missing field; unknown request fields are an error (400), not
// silently dropped.
var Marshaler = &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
}

// NewMux registers every public service's REST handlers. Errors are
// google.rpc.Status JSON with the HTTP code mapped from the gRPC code.
func NewMux(ctx context.Context, up Upstreams, auth *session.Authenticator) (*runtime.ServeMux, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, Marshaler),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMetadata(session.Metadata),
		runtime.WithForwardResponseOption(sessionCookies(auth)),
		runtime.WithForwardResponseRewriter(hideSessionToken),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithMiddlewares(routeName),
	)
	regs := []struct {
		name string
		err  error
	}{
		{"account", accountv1.RegisterAccountServiceHandlerClient(ctx, mux, accountv1.NewAccountServiceClient(up.Account))},
		{"billing", billingv1.RegisterBillingServiceHandlerClient(ctx, mux, billingv1.NewBillingServiceClient(up.Billing))},
		{"media", mediav1.RegisterMediaServiceHandlerClient(ctx, mux, mediav1.NewMediaServiceClient(up.Media))},
		{"analysis", analysisv1.RegisterAnalysisServiceHandlerClient(ctx, mux, analysisv1.NewAnalysisServiceClient(up.Analysis))},
		{"generation", generationv1.RegisterGenerationServiceHandlerClient(ctx, mux, generationv1.NewGenerationServiceClient(up.Generation))},
	}
	for _, r := range regs {
		if r.err != nil {
			return nil, fmt.Errorf("register %s handlers: %w", r.name, r.err)
		}
	}
	return mux, nil
}

// sessionCookies moves a new session's token into the cookie, clears the
// cookie when the session ends, and answers 202 for a sign-in link (the
// mail is on its way, nothing was created the caller can see).
func sessionCookies(auth *session.Authenticator) func(context.Context, http.ResponseWriter, proto.Message) error {
	return func(ctx context.Context, w http.ResponseWriter, msg proto.Message) error {
		switch m := msg.(type) {
		case interface{ GetSessionToken() string }:
			if t := m.GetSessionToken(); t != "" {
				auth.SetCookie(w, t, time.Now().Add(sessionLifetime))
			}
		case *accountv1.DeleteCurrentSessionResponse, *accountv1.RevokeAllSessionsResponse, *accountv1.DeleteMeResponse:
			auth.ClearCookie(w)
		case *accountv1.CreateMagicLinkResponse:
			w.WriteHeader(http.StatusAccepted)
		}
		return nil
	}
}

// hideSessionToken keeps the session token out of the JSON body: it lives
// only in the HttpOnly cookie, out of reach of page scripts.
func hideSessionToken(_ context.Context, msg proto.Message) (any, error) {
	switch m := msg.(type) {
	case *accountv1.CreateSessionResponse:
		c := proto.CloneOf(m)
		c.SessionToken = ""
		return c, nil
	case *accountv1.CreatePasswordSessionResponse:
		c := proto.CloneOf(m)
		c.SessionToken = ""
		return c, nil
	}
	return msg, nil
}

// errorHandler is grpc-gateway's, plus Retry-After from a RetryInfo detail
// (rate limits, overload).
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
				secs := int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			}
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// incomingHeader forwards only Idempotency-Key (retried admin grants and
// other non-idempotent calls); everything the services need from the
// request — the access token, client address, browser, request id — comes
// from session.Metadata. Notably grpc-gateway's default would forward any
// `Grpc-Metadata-*` header, letting a caller inject x-service-authorization.
func incomingHeader(key string) (string, bool) {
	if textproto.CanonicalMIMEHeaderKey(key) == "Idempotency-Key" {
		return "idempotency-key", true
	}
	return "", false
}

// routeName names the REST route by the google.api.http template that
// matched ("/v1/images/{image_id}:analyze"), more specific than the "/v1/"
// the gateway's ServeMux matched (see edge.SetRoute).
func routeName(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if p, ok := runtime.HTTPPattern(r.Context()); ok {
			edge.SetRoute(r, strings.ReplaceAll(p.String(), "=*}", "}"))
		}
		next(w, r, params)
	}
}
