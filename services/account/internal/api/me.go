package api

import (
	"context"
	"time"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

func cursorOf(t time.Time, id string) identity.Cursor { return identity.Cursor{Time: t, ID: id} }

// GetMe implements accountv1.AccountServiceServer.
func (s *Server) GetMe(ctx context.Context, _ *accountv1.GetMeRequest) (*accountv1.GetMeResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.d.Identity.Profile(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	return &accountv1.GetMeResponse{User: userToProto(u)}, nil
}

// UpdateMe implements accountv1.AccountServiceServer.
func (s *Server) UpdateMe(ctx context.Context, req *accountv1.UpdateMeRequest) (*accountv1.UpdateMeResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.d.Identity.UpdateProfile(ctx, c.UserID, userFromProto(req.GetUser()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return &accountv1.UpdateMeResponse{User: userToProto(u)}, nil
}

// SetPassword implements accountv1.AccountServiceServer.
func (s *Server) SetPassword(ctx context.Context, req *accountv1.SetPasswordRequest) (*accountv1.SetPasswordResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.d.Identity.SetPassword(ctx, c.UserID, c.SessionID, req.GetCurrentPassword(), req.GetNewPassword()); err != nil {
		return nil, err
	}
	return &accountv1.SetPasswordResponse{}, nil
}

// ListApiKeys implements accountv1.AccountServiceServer.
func (s *Server) ListApiKeys(ctx context.Context, req *accountv1.ListApiKeysRequest) (*accountv1.ListApiKeysResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	n, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := s.pages.decode("api_keys", c.UserID, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	keys, err := s.d.Identity.ListAPIKeys(ctx, c.UserID, after, n+1)
	if err != nil {
		return nil, err
	}
	resp := &accountv1.ListApiKeysResponse{}
	if len(keys) > n {
		keys = keys[:n]
		last := keys[n-1]
		resp.NextPageToken = s.pages.encode("api_keys", c.UserID, cursorOf(last.CreateTime, last.ID))
	}
	for _, k := range keys {
		resp.ApiKeys = append(resp.ApiKeys, apiKeyToProto(k))
	}
	return resp, nil
}

// CreateApiKey implements accountv1.AccountServiceServer.
func (s *Server) CreateApiKey(ctx context.Context, req *accountv1.CreateApiKeyRequest) (*accountv1.CreateApiKeyResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	k, secret, err := s.d.Identity.CreateAPIKey(ctx, c.UserID, req.GetName())
	if err != nil {
		return nil, err
	}
	return &accountv1.CreateApiKeyResponse{ApiKey: apiKeyToProto(k), Secret: secret}, nil
}

// RevokeApiKey implements accountv1.AccountServiceServer.
func (s *Server) RevokeApiKey(ctx context.Context, req *accountv1.RevokeApiKeyRequest) (*accountv1.RevokeApiKeyResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.d.Identity.RevokeAPIKey(ctx, c.UserID, req.GetApiKeyId()); err != nil {
		return nil, err
	}
	return &accountv1.RevokeApiKeyResponse{}, nil
}

// CreateContactMessage implements accountv1.AccountServiceServer; the
// caller is optional.
func (s *Server) CreateContactMessage(ctx context.Context, req *accountv1.CreateContactMessageRequest) (*accountv1.CreateContactMessageResponse, error) {
	r := identity.ContactRequest{Name: req.GetName(), Email: req.GetEmail(), Message: req.GetMessage(), Website: req.GetWebsite()}
	if c, err := caller(ctx); err == nil {
		r.UserID = c.UserID
	}
	if err := s.d.Identity.Contact(ctx, r, client(ctx)); err != nil {
		return nil, err
	}
	return &accountv1.CreateContactMessageResponse{}, nil
}
