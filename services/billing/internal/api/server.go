// Package api translates the billing service's gRPC calls into its domain:
// the ledger (balances, history, holds, grants) and checkout (packs,
// purchases, Stripe webhooks). It holds no rules of its own.
package api

import (
	"context"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/checkout"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/store"
)

// Page sizes of ListTransactions.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// Server implements billingv1.BillingServiceServer. Public RPCs act for the
// signed-in caller; internal RPCs are called by services with a service
// credential and name the user explicitly.
type Server struct {
	billingv1.UnimplementedBillingServiceServer
	ledger   *ledger.Service
	checkout *checkout.Service
	store    *store.Store
	tokens   *pageTokens
}

// NewServer returns the API over the ledger and checkout use cases; the
// store serves the data export. secret keys the page tokens.
func NewServer(l *ledger.Service, c *checkout.Service, s *store.Store, secret []byte) *Server {
	return &Server{ledger: l, checkout: c, store: s, tokens: newPageTokens(secret)}
}

// caller is the signed-in user of a public RPC.
func caller(ctx context.Context) (string, error) {
	c, ok := authn.CallerFrom(ctx)
	if !ok || c.UserID == "" {
		return "", apperr.Unauthenticated("sign in required")
	}
	return c.UserID, nil
}

// scope is the user an internal RPC is limited to: the forwarded user
// token's user when the calling service sent one, else "" (the service
// acts for whoever its request names).
func scope(ctx context.Context) string {
	c, _ := authn.CallerFrom(ctx)
	return c.UserID
}
