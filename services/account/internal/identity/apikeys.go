package identity

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// APIKeyPrefix starts every API key secret, so scanners and the gateway can
// tell keys from session tokens.
const APIKeyPrefix = "ps_"

// prefixLen is how much of the secret is kept in clear to recognise a key:
// "ps_" and 8 characters, 48 of its 256 random bits.
const prefixLen = len(APIKeyPrefix) + 8

const maxKeysPerUser = 50

// CreateAPIKey makes a key; the returned secret is never shown again.
func (s *Service) CreateAPIKey(ctx context.Context, userID, name string) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return APIKey{}, "", apperr.Invalid("invalid key name", apperr.Violation{Field: "name", Description: "required"})
	case utf8.RuneCountInString(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return APIKey{}, "", apperr.Invalid("invalid key name", apperr.Violation{Field: "name", Description: "at most 100 printable characters"})
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return APIKey{}, "", err
	}
	if u.State != StateActive {
		return APIKey{}, "", ErrAccountDeleting
	}
	existing, err := s.store.ListAPIKeys(ctx, userID, nil, maxKeysPerUser)
	if err != nil {
		return APIKey{}, "", err
	}
	if len(existing) >= maxKeysPerUser {
		return APIKey{}, "", apperr.Precondition("TOO_MANY_API_KEYS", fmt.Sprintf("at most %d API keys; revoke one first", maxKeysPerUser))
	}
	sec := NewSecret(APIKeyPrefix)
	k := APIKey{ID: NewID(), UserID: userID, Name: name, Prefix: sec.Token[:prefixLen], CreateTime: s.now()}
	if err := s.store.CreateAPIKey(ctx, k, sec.Hash); err != nil {
		return APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	return k, sec.Token, nil
}

// ListAPIKeys pages through the user's keys, newest first.
func (s *Service) ListAPIKeys(ctx context.Context, userID string, after *Cursor, limit int) ([]APIKey, error) {
	return s.store.ListAPIKeys(ctx, userID, after, limit)
}

// RevokeAPIKey deletes one of the user's keys.
func (s *Service) RevokeAPIKey(ctx context.Context, userID, keyID string) error {
	return s.store.DeleteAPIKey(ctx, userID, keyID)
}
