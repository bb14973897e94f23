package api

import (
	"context"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

// ExportUserData returns every job (with its outputs) and every Look of a
// user, for account's data export. It is internal: the caller is a
// service, so the user comes from the request.
func (s *Server) ExportUserData(ctx context.Context, req *generationv1.ExportUserDataRequest) (*generationv1.ExportUserDataResponse, error) {
	user := req.GetUserId()
	if user == "" {
		return nil, apperr.Invalid("user_id is required", apperr.Violation{Field: "user_id", Description: "required"})
	}
	if c, ok := authn.CallerFrom(ctx); ok && c.UserID != "" && c.UserID != user {
		// A service acting for a signed-in user exports only that user.
		return nil, apperr.Invalid("user_id must be the signed-in user", apperr.Violation{Field: "user_id", Description: "must match the forwarded user token"})
	}
	resp := &generationv1.ExportUserDataResponse{}
	for after := (*job.Cursor)(nil); ; {
		jobs, next, err := s.jobs.List(ctx, user, maxPageSize, after)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			resp.Jobs = append(resp.Jobs, jobToProto(j))
		}
		if after = next; after == nil {
			break
		}
	}
	for after := (*job.Cursor)(nil); ; {
		looks, next, err := s.looks.List(ctx, user, maxPageSize, after)
		if err != nil {
			return nil, err
		}
		for _, l := range looks {
			resp.Looks = append(resp.Looks, lookToProto(l))
		}
		if after = next; after == nil {
			break
		}
	}
	return resp, nil
}
