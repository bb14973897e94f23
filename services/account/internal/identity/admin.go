package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// AuditEntry is one row of the append-only admin audit log.
type AuditEntry struct {
	AdminUserID  string
	Action       string
	TargetUserID string
	Details      map[string]string
	TraceID      string
	Time         time.Time
}

// RequireAdmin checks that the caller is an active admin by the current
// configuration (not only by the token's claim, which may be minutes old)
// and writes the audit row for the call, allowed or not. Only then may the
// admin action run: an action without its audit row cannot happen.
func (s *Service) RequireAdmin(ctx context.Context, callerID string, e AuditEntry) error {
	u, err := s.store.User(ctx, callerID)
	if err != nil && apperr.KindOf(err) != apperr.KindNotFound {
		return err
	}
	allowed := err == nil && s.withAdmin(u).Admin
	e.AdminUserID, e.Time = callerID, s.now()
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	if !allowed {
		e.Details["outcome"] = "permission_denied"
	}
	if err := s.store.Audit(ctx, e); err != nil {
		return fmt.Errorf("audit %s by %s: %w", e.Action, callerID, err)
	}
	if !allowed {
		return ErrNotAdmin
	}
	return nil
}

// AdminLookup finds a user by id or email for an admin; the status of a
// deleted user stays visible by id.
func (s *Service) AdminLookup(ctx context.Context, userID, email string) (User, error) {
	if userID != "" {
		u, err := s.store.User(ctx, userID)
		if err != nil {
			return User{}, err
		}
		return s.withAdmin(u), nil
	}
	email, err := NormalizeEmail("email", email)
	if err != nil {
		return User{}, err
	}
	u, err := s.store.UserByEmail(ctx, email)
	if err != nil {
		return User{}, err
	}
	return s.withAdmin(u), nil
}

// HashForAudit is how an email appears in the audit log, which can never be
// erased: a digest that matches the address without revealing it.
func HashForAudit(email string) string {
	h := sha256.Sum256([]byte(email))
	return hex.EncodeToString(h[:])
}
