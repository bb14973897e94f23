package api

import (
	"context"
	"errors"

	"github.com/connectengine/photoshoot/pkg/apperr"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

// CreateLook saves the caller's Look.
func (s *Server) CreateLook(ctx context.Context, req *generationv1.CreateLookRequest) (*generationv1.CreateLookResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetLook() == nil {
		return nil, apperr.Invalid("a look is required", apperr.Violation{Field: "look", Description: "required"})
	}
	l, err := s.looks.Create(ctx, user, lookFromProto(req.GetLook()))
	if err != nil {
		return nil, prefixViolations(err, "look.")
	}
	return &generationv1.CreateLookResponse{Look: lookToProto(l)}, nil
}

// ListLooks pages through the caller's Looks, newest first.
func (s *Server) ListLooks(ctx context.Context, req *generationv1.ListLooksRequest) (*generationv1.ListLooksResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	after, err := s.lookTokens.decode(user, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	looks, next, err := s.looks.List(ctx, user, pageSize(req.GetPageSize()), after)
	if err != nil {
		return nil, err
	}
	resp := &generationv1.ListLooksResponse{NextPageToken: s.lookTokens.encode(user, next)}
	for _, l := range looks {
		resp.Looks = append(resp.Looks, lookToProto(l))
	}
	return resp, nil
}

// GetLook returns the caller's Look.
func (s *Server) GetLook(ctx context.Context, req *generationv1.GetLookRequest) (*generationv1.GetLookResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	l, err := s.looks.Get(ctx, user, req.GetLookId())
	if err != nil {
		return nil, err
	}
	return &generationv1.GetLookResponse{Look: lookToProto(l)}, nil
}

// UpdateLook changes the fields of the caller's Look that update_mask
// names. The mask is required over gRPC; over REST the gateway derives it
// from the fields present in the JSON body when it is absent, as for
// account's UpdateMe.
func (s *Server) UpdateLook(ctx context.Context, req *generationv1.UpdateLookRequest) (*generationv1.UpdateLookResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetLook().GetId() == "" {
		return nil, apperr.Invalid("the look's id is required", apperr.Violation{Field: "look.id", Description: "required"})
	}
	l, err := s.looks.Update(ctx, user, req.GetLook().GetId(), lookFromProto(req.GetLook()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, prefixViolations(err, "look.")
	}
	return &generationv1.UpdateLookResponse{Look: lookToProto(l)}, nil
}

// DeleteLook deletes the caller's Look; jobs made with it are kept.
func (s *Server) DeleteLook(ctx context.Context, req *generationv1.DeleteLookRequest) (*generationv1.DeleteLookResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.looks.Delete(ctx, user, req.GetLookId()); err != nil {
		return nil, err
	}
	return &generationv1.DeleteLookResponse{}, nil
}

// prefixViolations names an Invalid error's fields as fields of the request
// message they sit in ("look." + "scene_id"); update_mask is a field of the
// request itself and keeps its name. Other errors pass through.
func prefixViolations(err error, prefix string) error {
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Kind() != apperr.KindInvalid {
		return err
	}
	vs := ae.Violations()
	for i := range vs {
		if vs[i].Field != "update_mask" {
			vs[i].Field = prefix + vs[i].Field
		}
	}
	return apperr.Invalid(ae.Message(), vs...)
}

// resolveTemplate is Looks.Resolve for a batch's template: its violations
// name template fields.
func (s *Server) resolveTemplate(ctx context.Context, user string, spec job.Spec) (job.Spec, error) {
	spec, err := s.looks.Resolve(ctx, user, spec)
	if err != nil {
		return job.Spec{}, prefixViolations(err, "template.")
	}
	return spec, nil
}
