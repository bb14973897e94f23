package api

import (
	"context"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

// CreateMagicLink implements accountv1.AccountServiceServer. The response
// is the same empty message for every email.
func (s *Server) CreateMagicLink(ctx context.Context, req *accountv1.CreateMagicLinkRequest) (*accountv1.CreateMagicLinkResponse, error) {
	if err := s.d.Identity.RequestMagicLink(ctx, req.GetEmail(), client(ctx)); err != nil {
		return nil, err
	}
	return &accountv1.CreateMagicLinkResponse{}, nil
}

// CreateSession implements accountv1.AccountServiceServer.
func (s *Server) CreateSession(ctx context.Context, req *accountv1.CreateSessionRequest) (*accountv1.CreateSessionResponse, error) {
	u, sess, token, err := s.d.Identity.RedeemMagicLink(ctx, req.GetToken(), client(ctx))
	if err != nil {
		return nil, err
	}
	return &accountv1.CreateSessionResponse{User: userToProto(u), Session: sessionToProto(sess, sess.ID), SessionToken: token}, nil
}

// CreatePasswordSession implements accountv1.AccountServiceServer.
func (s *Server) CreatePasswordSession(ctx context.Context, req *accountv1.CreatePasswordSessionRequest) (*accountv1.CreatePasswordSessionResponse, error) {
	u, sess, token, err := s.d.Identity.PasswordSignIn(ctx, req.GetEmail(), req.GetPassword(), client(ctx))
	if err != nil {
		return nil, err
	}
	return &accountv1.CreatePasswordSessionResponse{User: userToProto(u), Session: sessionToProto(sess, sess.ID), SessionToken: token}, nil
}

// DeleteCurrentSession implements accountv1.AccountServiceServer: the
// current session is the one the caller's access token came from.
func (s *Server) DeleteCurrentSession(ctx context.Context, _ *accountv1.DeleteCurrentSessionRequest) (*accountv1.DeleteCurrentSessionResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.d.Identity.SignOut(ctx, c.UserID, c.SessionID); err != nil {
		return nil, err
	}
	return &accountv1.DeleteCurrentSessionResponse{}, nil
}

// ListSessions implements accountv1.AccountServiceServer.
func (s *Server) ListSessions(ctx context.Context, req *accountv1.ListSessionsRequest) (*accountv1.ListSessionsResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	n, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := s.pages.decode("sessions", c.UserID, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	list, err := s.d.Identity.ListSessions(ctx, c.UserID, after, n+1)
	if err != nil {
		return nil, err
	}
	resp := &accountv1.ListSessionsResponse{}
	if len(list) > n {
		list = list[:n]
		last := list[n-1]
		resp.NextPageToken = s.pages.encode("sessions", c.UserID, cursorOf(last.CreateTime, last.ID))
	}
	for _, sess := range list {
		resp.Sessions = append(resp.Sessions, sessionToProto(sess, c.SessionID))
	}
	return resp, nil
}

// RevokeAllSessions implements accountv1.AccountServiceServer.
func (s *Server) RevokeAllSessions(ctx context.Context, _ *accountv1.RevokeAllSessionsRequest) (*accountv1.RevokeAllSessionsResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.d.Identity.SignOutEverywhere(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	return &accountv1.RevokeAllSessionsResponse{RevokedCount: int32(n)}, nil
}

// RevokeSession implements accountv1.AccountServiceServer.
func (s *Server) RevokeSession(ctx context.Context, req *accountv1.RevokeSessionRequest) (*accountv1.RevokeSessionResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.d.Identity.SignOut(ctx, c.UserID, req.GetSessionId()); err != nil {
		return nil, err
	}
	return &accountv1.RevokeSessionResponse{}, nil
}
