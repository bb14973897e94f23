package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

// maxAdminGrant bounds one admin grant, against typos.
const maxAdminGrant = 100_000

// AdminGetUser implements accountv1.AccountServiceServer.
func (s *Server) AdminGetUser(ctx context.Context, req *accountv1.AdminGetUserRequest) (*accountv1.AdminGetUserResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if (req.GetUserId() == "") == (req.GetEmail() == "") {
		return nil, apperr.Invalid("name a user", apperr.Violation{Field: "user_id", Description: "set exactly one of user_id and email"})
	}
	e := identity.AuditEntry{Action: "AdminGetUser", TargetUserID: req.GetUserId(), TraceID: traceID(ctx), Details: map[string]string{}}
	if req.GetEmail() != "" {
		e.Details["email_sha256"] = identity.HashForAudit(strings.ToLower(strings.TrimSpace(req.GetEmail())))
	}
	if err := s.d.Identity.RequireAdmin(ctx, c.UserID, e); err != nil {
		return nil, err
	}
	u, err := s.d.Identity.AdminLookup(ctx, req.GetUserId(), req.GetEmail())
	if err != nil {
		return nil, err
	}
	return &accountv1.AdminGetUserResponse{User: userToProto(u)}, nil
}

// AdminGrantCredits implements accountv1.AccountServiceServer. The grant
// goes through billing's internal Grant with reason ADMIN; the idempotency
// key comes from the request's idempotency-key metadata (the gateway
// forwards the Idempotency-Key header), so a retried request grants once.
// Without one, every call is a new grant.
func (s *Server) AdminGrantCredits(ctx context.Context, req *accountv1.AdminGrantCreditsRequest) (*accountv1.AdminGrantCreditsResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.GetReason())
	key := identity.NewID()
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(HeaderIdempotencyKey)) > 0 {
		if k := strings.TrimSpace(md.Get(HeaderIdempotencyKey)[0]); k != "" && len(k) <= 100 {
			key = k
		}
	}
	key = "admin:" + c.UserID + ":" + key
	e := identity.AuditEntry{Action: "AdminGrantCredits", TargetUserID: req.GetUserId(), TraceID: traceID(ctx), Details: map[string]string{
		"credits": strconv.FormatInt(req.GetCredits(), 10), "reason": truncate(reason, 2000), "idempotency_key": key,
	}}
	if err := s.d.Identity.RequireAdmin(ctx, c.UserID, e); err != nil {
		return nil, err
	}
	var vs []apperr.Violation
	if req.GetUserId() == "" {
		vs = append(vs, apperr.Violation{Field: "user_id", Description: "required"})
	}
	if n := req.GetCredits(); n <= 0 || n > maxAdminGrant {
		vs = append(vs, apperr.Violation{Field: "credits", Description: fmt.Sprintf("must be 1 to %d", maxAdminGrant)})
	}
	if reason == "" || utf8.RuneCountInString(reason) > 500 {
		vs = append(vs, apperr.Violation{Field: "reason", Description: "required, at most 500 characters"})
	}
	if len(vs) > 0 {
		return nil, apperr.Invalid("invalid grant", vs...)
	}
	u, err := s.d.Identity.AdminLookup(ctx, req.GetUserId(), "")
	if err != nil {
		return nil, err
	}
	if u.State != identity.StateActive {
		return nil, identity.ErrAccountDeleting
	}
	// Billing is told who to credit by the request, on account's service
	// credential; the admin's own token is not forwarded.
	bctx := authn.WithCaller(ctx, authn.Caller{})
	resp, err := s.d.Billing.Grant(bctx, &billingv1.GrantRequest{
		UserId: u.ID, Amount: req.GetCredits(), Reason: billingv1.GrantReason_GRANT_REASON_ADMIN,
		IdempotencyKey: key, Description: reason,
	})
	if err != nil {
		return nil, fmt.Errorf("billing grant: %w", apperr.FromStatus(err))
	}
	return &accountv1.AdminGrantCreditsResponse{TransactionId: resp.GetTransaction().GetId()}, nil
}

// AdminListUserJobs implements accountv1.AccountServiceServer: the user's
// jobs as generation exports them, asked on account's service credential.
func (s *Server) AdminListUserJobs(ctx context.Context, req *accountv1.AdminListUserJobsRequest) (*accountv1.AdminListUserJobsResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	e := identity.AuditEntry{Action: "AdminListUserJobs", TargetUserID: req.GetUserId(), TraceID: traceID(ctx), Details: map[string]string{}}
	if err := s.d.Identity.RequireAdmin(ctx, c.UserID, e); err != nil {
		return nil, err
	}
	if req.GetUserId() == "" {
		return nil, apperr.Invalid("name a user", apperr.Violation{Field: "user_id", Description: "required"})
	}
	u, err := s.d.Identity.AdminLookup(ctx, req.GetUserId(), "")
	if err != nil {
		return nil, err
	}
	resp, err := s.d.Generation.ExportUserData(authn.WithCaller(ctx, authn.Caller{}), &generationv1.ExportUserDataRequest{UserId: u.ID})
	if err != nil {
		return nil, fmt.Errorf("generation export: %w", apperr.FromStatus(err))
	}
	jobs := resp.GetJobs()
	slices.SortFunc(jobs, func(a, b *generationv1.Job) int {
		return b.GetCreateTime().AsTime().Compare(a.GetCreateTime().AsTime())
	})
	return &accountv1.AdminListUserJobsResponse{Jobs: jobs}, nil
}
