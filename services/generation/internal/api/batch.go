package api

import (
	"context"

	"github.com/connectengine/photoshoot/pkg/apperr"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
)

// BatchCreateGenerations starts one job per image with the template's
// settings (usually a Look), all or nothing: a batch the caller cannot pay
// for in full is refused with INSUFFICIENT_CREDITS and holds nothing.
func (s *Server) BatchCreateGenerations(ctx context.Context, req *generationv1.BatchCreateGenerationsRequest) (*generationv1.BatchCreateGenerationsResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetTemplate() == nil {
		return nil, apperr.Invalid("a template is required", apperr.Violation{Field: "template", Description: "required"})
	}
	spec, err := s.resolveTemplate(ctx, user, specFromProto(req.GetTemplate()))
	if err != nil {
		return nil, err
	}
	jobs, err := s.jobs.CreateBatch(ctx, user, req.GetTemplate().GetRequestId(), req.GetImageIds(), spec)
	if err != nil {
		return nil, err
	}
	resp := &generationv1.BatchCreateGenerationsResponse{Jobs: make([]*generationv1.Job, 0, len(jobs))}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, jobToProto(j))
	}
	return resp, nil
}
