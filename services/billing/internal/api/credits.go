package api

import (
	"context"

	"github.com/connectengine/photoshoot/pkg/apperr"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
)

// GetBalance returns the caller's balance.
func (s *Server) GetBalance(ctx context.Context, _ *billingv1.GetBalanceRequest) (*billingv1.GetBalanceResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.ledger.Balance(ctx, user)
	if err != nil {
		return nil, err
	}
	return &billingv1.GetBalanceResponse{Available: b.Available, Held: b.Held}, nil
}

// ListTransactions pages through the caller's history, newest first.
func (s *Server) ListTransactions(ctx context.Context, req *billingv1.ListTransactionsRequest) (*billingv1.ListTransactionsResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, apperr.Invalid("page size must not be negative", apperr.Violation{Field: "page_size", Description: "must be ≥ 0"})
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	var after *ledger.Cursor
	if req.GetPageToken() != "" {
		c, err := s.tokens.decode(user, req.GetPageToken())
		if err != nil {
			return nil, err
		}
		after = &c
	}
	txs, next, err := s.ledger.Transactions(ctx, user, after, size)
	if err != nil {
		return nil, err
	}
	resp := &billingv1.ListTransactionsResponse{Transactions: transactionsToProto(txs)}
	if next != nil {
		resp.NextPageToken = s.tokens.encode(user, *next)
	}
	return resp, nil
}

// Grant grants credits (internal).
func (s *Server) Grant(ctx context.Context, req *billingv1.GrantRequest) (*billingv1.GrantResponse, error) {
	reason, ok := reasonFromProto[req.GetReason()]
	if !ok {
		return nil, apperr.Invalid("unknown grant reason", apperr.Violation{Field: "reason", Description: "must be set"})
	}
	t, err := s.ledger.Grant(ctx, ledger.GrantRequest{
		UserID: req.GetUserId(), Amount: req.GetAmount(), Reason: reason,
		IdempotencyKey: req.GetIdempotencyKey(), Description: req.GetDescription(),
	})
	if err != nil {
		return nil, err
	}
	return &billingv1.GrantResponse{Transaction: transactionToProto(t)}, nil
}

// Reserve holds credits for a job (internal). When the calling service
// forwards a user token, the hold must be for that user.
func (s *Server) Reserve(ctx context.Context, req *billingv1.ReserveRequest) (*billingv1.ReserveResponse, error) {
	if u := scope(ctx); u != "" && u != req.GetUserId() {
		return nil, apperr.Invalid("user_id must be the signed-in user", apperr.Violation{Field: "user_id", Description: "must match the forwarded user token"})
	}
	r := ledger.ReserveRequest{UserID: req.GetUserId(), JobID: req.GetJobId(), Amount: req.GetAmount()}
	if req.GetExpireTime() != nil {
		if err := req.GetExpireTime().CheckValid(); err != nil {
			return nil, apperr.Invalid("invalid expiry", apperr.Violation{Field: "expire_time", Description: "must be a valid timestamp"})
		}
		r.ExpireTime = req.GetExpireTime().AsTime()
	}
	h, err := s.ledger.Reserve(ctx, r)
	if err != nil {
		return nil, err
	}
	return &billingv1.ReserveResponse{Hold: holdToProto(h)}, nil
}

// Capture consumes part or all of a hold (internal).
func (s *Server) Capture(ctx context.Context, req *billingv1.CaptureRequest) (*billingv1.CaptureResponse, error) {
	h, err := s.ledger.Capture(ctx, req.GetHoldId(), scope(ctx), req.GetAmount())
	if err != nil {
		return nil, err
	}
	return &billingv1.CaptureResponse{Hold: holdToProto(h)}, nil
}

// Release returns a hold (internal).
func (s *Server) Release(ctx context.Context, req *billingv1.ReleaseRequest) (*billingv1.ReleaseResponse, error) {
	h, err := s.ledger.Release(ctx, req.GetHoldId(), scope(ctx))
	if err != nil {
		return nil, err
	}
	return &billingv1.ReleaseResponse{Hold: holdToProto(h)}, nil
}

// ExportUserData returns what billing holds about a user (internal).
func (s *Server) ExportUserData(ctx context.Context, req *billingv1.ExportUserDataRequest) (*billingv1.ExportUserDataResponse, error) {
	user := req.GetUserId()
	if user == "" {
		return nil, apperr.Invalid("user_id is required", apperr.Violation{Field: "user_id", Description: "must not be empty"})
	}
	if u := scope(ctx); u != "" && u != user {
		return nil, apperr.Invalid("user_id must be the signed-in user", apperr.Violation{Field: "user_id", Description: "must match the forwarded user token"})
	}
	txs, err := s.store.AllTransactions(ctx, user)
	if err != nil {
		return nil, err
	}
	ps, err := s.checkout.Purchases(ctx, user)
	if err != nil {
		return nil, err
	}
	d, err := s.checkout.Details(ctx, user)
	if err != nil {
		return nil, err
	}
	return &billingv1.ExportUserDataResponse{
		Transactions: transactionsToProto(txs),
		Purchases:    purchasesToProto(ps),
		Details:      detailsToProto(d),
	}, nil
}
