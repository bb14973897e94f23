package api

import (
	"context"
	"fmt"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
	"github.com/connectengine/photoshoot/services/account/internal/mail"
)

// Authenticate implements accountv1.AccountServiceServer: a session token
// or API key becomes an access token signed with the current key.
func (s *Server) Authenticate(ctx context.Context, req *accountv1.AuthenticateRequest) (*accountv1.AuthenticateResponse, error) {
	var p identity.Principal
	var err error
	switch cred := req.GetCredential().(type) {
	case *accountv1.AuthenticateRequest_SessionToken:
		p, err = s.d.Identity.AuthenticateSession(ctx, cred.SessionToken)
	case *accountv1.AuthenticateRequest_ApiKey:
		p, err = s.d.Identity.AuthenticateAPIKey(ctx, cred.ApiKey)
	default:
		return nil, apperr.Invalid("credential required", apperr.Violation{Field: "credential", Description: "set session_token or api_key"})
	}
	if err != nil {
		return nil, err
	}
	signer, err := s.d.Keys.Signer(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	now := s.d.Identity.Now()
	tok, err := signer.Sign(authn.Caller{UserID: p.User.ID, SessionID: p.SessionID, Admin: p.User.Admin}, now)
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	return &accountv1.AuthenticateResponse{
		AccessToken: tok, ExpireTime: ts(now.Add(s.d.Keys.TokenTTL())), UserId: p.User.ID, SessionId: p.SessionID,
	}, nil
}

// GetSigningKeys implements accountv1.AccountServiceServer.
func (s *Server) GetSigningKeys(ctx context.Context, _ *accountv1.GetSigningKeysRequest) (*accountv1.GetSigningKeysResponse, error) {
	keys, err := s.d.Keys.PublicKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	resp := &accountv1.GetSigningKeysResponse{}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, &accountv1.SigningKey{Kid: k.KID, PublicKey: k.Key, CreateTime: ts(k.CreateTime), ExpireTime: ts(k.ExpireTime)})
	}
	return resp, nil
}

// ExportUserData implements accountv1.AccountServiceServer.
func (s *Server) ExportUserData(ctx context.Context, req *accountv1.ExportUserDataRequest) (*accountv1.ExportUserDataResponse, error) {
	d, err := s.d.Identity.UserData(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return UserDataToProto(d), nil
}

// ListDevMail implements accountv1.AccountServiceServer: only in dev mode,
// and only when the dev mailbox is the sender.
func (s *Server) ListDevMail(_ context.Context, req *accountv1.ListDevMailRequest) (*accountv1.ListDevMailResponse, error) {
	if !s.d.DevMode || s.d.Mailbox == nil {
		return nil, apperr.Precondition(identity.ReasonDevModeOnly, "the dev mailbox is served only in dev mode")
	}
	n, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	stored, err := s.d.Mailbox.List(n)
	if err != nil {
		return nil, err
	}
	resp := &accountv1.ListDevMailResponse{}
	for _, m := range stored {
		resp.Mails = append(resp.Mails, &accountv1.DevMail{
			Id: m.ID, To: m.To, Subject: m.Subject, TextBody: m.Text, HtmlBody: m.HTML,
			Links: mail.Links(m.Text), CreateTime: ts(m.CreateTime),
		})
	}
	return resp, nil
}
