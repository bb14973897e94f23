// Package authn verifies who is calling: end users through short-lived
// EdDSA access tokens issued by the account service, and services through a
// separate HS256 credential signed with a shared secret.
//
// The two paths never share an algorithm or an audience, so a token of one
// kind can never be accepted as the other (no algorithm confusion). The rpc
// package reads both from gRPC metadata and puts the verified identities in
// the context with WithCaller and WithService.
package authn

import (
	"context"
	"time"
)

// MaxTokenTTL caps the lifetime of any token this package issues or accepts.
// Access tokens are not revocable, so a short life is what bounds the damage
// of a stolen one; sessions are revoked at refresh time by the account service.
const MaxTokenTTL = 5 * time.Minute

// Caller is the end user on whose behalf a request runs.
type Caller struct {
	UserID    string
	SessionID string
	Admin     bool
	// Token is the raw access token, kept so that calls to other services
	// can forward it (rpc.Dial does) and those services verify it themselves.
	Token  string
	Expiry time.Time
}

type callerKey struct{}

type serviceKey struct{}

// WithCaller returns a context carrying the verified caller.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the verified caller, if the request has one.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// WithService returns a context carrying the name of the verified calling
// service.
func WithService(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, serviceKey{}, name)
}

// ServiceFrom returns the name of the verified calling service, if any.
func ServiceFrom(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(serviceKey{}).(string)
	return s, ok
}
