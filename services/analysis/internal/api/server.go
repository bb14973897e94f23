// Package api translates the analysis service's gRPC calls into its domain.
package api

import (
	"context"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	"github.com/connectengine/photoshoot/services/analysis/internal/analysis"
)

// Server implements analysisv1.AnalysisServiceServer.
type Server struct {
	analysisv1.UnimplementedAnalysisServiceServer
	svc *analysis.Service
}

// NewServer returns the API over the domain service.
func NewServer(svc *analysis.Service) *Server { return &Server{svc: svc} }

// AnalyzeImage analyses the caller's image, or returns the cached analysis.
func (s *Server) AnalyzeImage(ctx context.Context, req *analysisv1.AnalyzeImageRequest) (*analysisv1.AnalyzeImageResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.Analyze(ctx, c.UserID, req.GetImageId())
	if err != nil {
		return nil, err
	}
	return &analysisv1.AnalyzeImageResponse{Analysis: toProto(a)}, nil
}

// GetAnalysis reads the caller's image's analysis.
func (s *Server) GetAnalysis(ctx context.Context, req *analysisv1.GetAnalysisRequest) (*analysisv1.GetAnalysisResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.Get(ctx, c.UserID, req.GetImageId())
	if err != nil {
		return nil, err
	}
	return &analysisv1.GetAnalysisResponse{Analysis: toProto(a)}, nil
}

// FetchAnalysis is the internal read for generation workers: it analyses
// when there is no analysis yet.
func (s *Server) FetchAnalysis(ctx context.Context, req *analysisv1.FetchAnalysisRequest) (*analysisv1.FetchAnalysisResponse, error) {
	if req.GetUserId() == "" {
		return nil, apperr.Invalid("user_id is required", apperr.Violation{Field: "user_id", Description: "required"})
	}
	a, err := s.svc.Analyze(ctx, req.GetUserId(), req.GetImageId())
	if err != nil {
		return nil, err
	}
	return &analysisv1.FetchAnalysisResponse{Analysis: toProto(a)}, nil
}

// ExportUserData returns every analysis of the user for the data export.
func (s *Server) ExportUserData(ctx context.Context, req *analysisv1.ExportUserDataRequest) (*analysisv1.ExportUserDataResponse, error) {
	as, err := s.svc.Export(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	out := &analysisv1.ExportUserDataResponse{Analyses: make([]*analysisv1.Analysis, 0, len(as))}
	for _, a := range as {
		out.Analyses = append(out.Analyses, toProto(a))
	}
	return out, nil
}

func caller(ctx context.Context) (authn.Caller, error) {
	c, ok := authn.CallerFrom(ctx)
	if !ok || c.UserID == "" {
		return authn.Caller{}, apperr.Unauthenticated("sign in to analyse images")
	}
	return c, nil
}
