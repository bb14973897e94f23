package api

import (
	"context"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

// ExportMe implements accountv1.AccountServiceServer.
func (s *Server) ExportMe(ctx context.Context, _ *accountv1.ExportMeRequest) (*accountv1.ExportMeResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.d.Identity.StartExport(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	return &accountv1.ExportMeResponse{Export: exportToProto(e, s.d.PublicURL)}, nil
}

// GetExport implements accountv1.AccountServiceServer.
func (s *Server) GetExport(ctx context.Context, req *accountv1.GetExportRequest) (*accountv1.GetExportResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.d.Identity.Export(ctx, c.UserID, req.GetExportId())
	if err != nil {
		return nil, err
	}
	return &accountv1.GetExportResponse{Export: exportToProto(e, s.d.PublicURL)}, nil
}

// DeleteMe implements accountv1.AccountServiceServer.
func (s *Server) DeleteMe(ctx context.Context, req *accountv1.DeleteMeRequest) (*accountv1.DeleteMeResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.d.Identity.DeleteAccount(ctx, c.UserID, req.GetConfirmation())
	if err != nil {
		return nil, err
	}
	return &accountv1.DeleteMeResponse{User: userToProto(u)}, nil
}
