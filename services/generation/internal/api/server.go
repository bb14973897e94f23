// Package api translates the generation service's gRPC calls into its domain:
// jobs through job.Service, scenes from the studio renderer. Handlers return
// domain errors; the rpc interceptor maps them to statuses.
package api

import (
	"context"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

// Server implements generationv1.GenerationServiceServer.
type Server struct {
	generationv1.UnimplementedGenerationServiceServer
	jobs       *job.Service
	looks      *job.Looks
	tokens     pageTokens
	lookTokens pageTokens
	scenes     *scenePreviews
	watcher    Watcher
}

// NewServer returns the API over the job and Look services; secret keys
// page tokens and watcher wakes WatchGeneration streams.
func NewServer(jobs *job.Service, looks *job.Looks, secret []byte, watcher Watcher) *Server {
	return &Server{
		jobs: jobs, looks: looks, scenes: &scenePreviews{}, watcher: watcher,
		tokens: newPageTokens(secret), lookTokens: newPageTokensFor(secret, "looks"),
	}
}

func caller(ctx context.Context) (string, error) {
	c, ok := authn.CallerFrom(ctx)
	if !ok || c.UserID == "" {
		return "", apperr.Unauthenticated("sign in to manage generations")
	}
	return c.UserID, nil
}

// CreateGeneration holds the credits and queues the job. With look_id the
// Look's settings fill the fields the request leaves unset.
func (s *Server) CreateGeneration(ctx context.Context, req *generationv1.CreateGenerationRequest) (*generationv1.CreateGenerationResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	spec, err := s.looks.Resolve(ctx, user, specFromProto(req))
	if err != nil {
		return nil, err
	}
	j, err := s.jobs.Create(ctx, user, req.GetRequestId(), spec)
	if err != nil {
		return nil, err
	}
	return &generationv1.CreateGenerationResponse{Job: jobToProto(j)}, nil
}

// GetGeneration returns the caller's job.
func (s *Server) GetGeneration(ctx context.Context, req *generationv1.GetGenerationRequest) (*generationv1.GetGenerationResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := s.jobs.Get(ctx, user, req.GetJobId())
	if err != nil {
		return nil, err
	}
	return &generationv1.GetGenerationResponse{Job: jobToProto(j)}, nil
}

// ListGenerations pages through the caller's jobs, newest first.
func (s *Server) ListGenerations(ctx context.Context, req *generationv1.ListGenerationsRequest) (*generationv1.ListGenerationsResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	after, err := s.tokens.decode(user, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	jobs, next, err := s.jobs.List(ctx, user, pageSize(req.GetPageSize()), after)
	if err != nil {
		return nil, err
	}
	resp := &generationv1.ListGenerationsResponse{NextPageToken: s.tokens.encode(user, next)}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, jobToProto(j))
	}
	return resp, nil
}

// CancelGeneration cancels the caller's job and releases its credits.
func (s *Server) CancelGeneration(ctx context.Context, req *generationv1.CancelGenerationRequest) (*generationv1.CancelGenerationResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := s.jobs.Cancel(ctx, user, req.GetJobId())
	if err != nil {
		return nil, err
	}
	return &generationv1.CancelGenerationResponse{Job: jobToProto(j)}, nil
}

// ListScenes lists the scene presets with previews.
func (s *Server) ListScenes(context.Context, *generationv1.ListScenesRequest) (*generationv1.ListScenesResponse, error) {
	scenes, err := s.scenes.get()
	if err != nil {
		return nil, err
	}
	return &generationv1.ListScenesResponse{Scenes: scenes}, nil
}
