package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/account/internal/password"
)

// Password length bounds (NIST 800-63B: at least 8, allow long passphrases).
const (
	minPasswordLen = 8
	maxPasswordLen = 256
)

// RequestMagicLink mails a sign-in link to email. It does the same work
// whether or not the email has an account: always one link row, always one
// mail (for a new email the link signs up, since the first sign-in creates
// the account), so neither the answer nor its timing tells them apart.
func (s *Service) RequestMagicLink(ctx context.Context, email string, c Client) error {
	email, err := NormalizeEmail("email", email)
	if err != nil {
		return err
	}
	now := s.now()
	sec := NewSecret("")
	link := MagicLink{TokenHash: sec.Hash, Email: email, CreateTime: now, ExpireTime: now.Add(LinkTTL)}
	limits := []Limit{
		{Bucket: emailBucket("link", email), Max: s.cfg.LinksPerEmail, Window: s.cfg.RateWindow},
		{Bucket: ipBucket("link", c.IP), Max: s.cfg.LinksPerIP, Window: s.cfg.RateWindow},
	}
	m := Mail{ID: NewID(), Template: TemplateSignInLink, To: email, Data: map[string]string{
		// A fragment never reaches servers or their logs; the confirm
		// page posts it to POST /v1/auth/sessions. A GET on this URL
		// therefore never consumes the token.
		"link":           s.cfg.PublicURL + "/auth/confirm#token=" + sec.Token,
		"expire_minutes": fmt.Sprint(int(LinkTTL.Minutes())),
	}}
	if err := s.store.RequestMagicLink(ctx, link, limits, m); err != nil {
		return fmt.Errorf("request magic link: %w", err)
	}
	return nil
}

// RedeemMagicLink consumes a link token and opens a session. Exactly one
// of any number of concurrent redemptions of a token succeeds; the others,
// like every unknown, used, expired or malformed token, get ErrLinkInvalid.
func (s *Service) RedeemMagicLink(ctx context.Context, token string, c Client) (User, Session, string, error) {
	if token == "" || len(token) > 64 {
		return User{}, Session{}, "", ErrLinkInvalid
	}
	sec := NewSecret("")
	ns := NewSession{ID: NewID(), TokenHash: sec.Hash, Now: s.now(), Client: c}
	welcome := Mail{ID: NewID(), Template: TemplateWelcome, Data: map[string]string{"app_url": s.cfg.PublicURL + "/"}}
	u, sess, err := s.store.RedeemMagicLink(ctx, HashSecret(token), ns, welcome)
	if err != nil {
		return User{}, Session{}, "", fmt.Errorf("redeem magic link: %w", err)
	}
	return s.withAdmin(u), sess, sec.Token, nil
}

// PasswordSignIn opens a session for email and password. Every failure that
// is the caller's (unknown email, no password, wrong password) is the same
// ErrBadCredentials after the same hashing work. Attempts are limited per
// email, known or not: FailedPasswords per RateWindow, then FailureDelay
// between attempts; a success clears the count. There is no lock-out: old
// failures age out of the window.
func (s *Service) PasswordSignIn(ctx context.Context, email, pw string, c Client) (User, Session, string, error) {
	email, err := NormalizeEmail("email", email)
	if err != nil {
		return User{}, Session{}, "", err
	}
	if pw == "" || len(pw) > maxPasswordLen {
		return User{}, Session{}, "", ErrBadCredentials
	}
	bucket := emailBucket("password", email)
	if err := s.store.PasswordAttempt(ctx, bucket, s.now()); err != nil {
		return User{}, Session{}, "", err
	}
	u, err := s.store.UserByEmail(ctx, email)
	if apperr.KindOf(err) == apperr.KindNotFound || (err == nil && !u.HasPassword()) {
		if err := s.hasher.Burn(ctx, pw); err != nil {
			return User{}, Session{}, "", fmt.Errorf("password sign-in: %w", err)
		}
		return User{}, Session{}, "", ErrBadCredentials
	}
	if err != nil {
		return User{}, Session{}, "", fmt.Errorf("password sign-in: %w", err)
	}
	rehash, err := s.hasher.Verify(ctx, u.PasswordHash, pw)
	if errors.Is(err, password.ErrMismatch) {
		return User{}, Session{}, "", ErrBadCredentials
	}
	if err != nil {
		return User{}, Session{}, "", fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	if u.State != StateActive {
		return User{}, Session{}, "", ErrAccountDeleting
	}
	if err := s.store.ClearAttempts(ctx, bucket); err != nil {
		return User{}, Session{}, "", fmt.Errorf("clear password attempts: %w", err)
	}
	var newHash string
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, pw); err != nil {
			return User{}, Session{}, "", fmt.Errorf("rehash password of %s: %w", u.ID, err)
		}
	}
	sec := NewSecret("")
	sess, err := s.store.OpenSession(ctx, u.ID, NewSession{ID: NewID(), TokenHash: sec.Hash, Now: s.now(), Client: c}, newHash)
	if err != nil {
		return User{}, Session{}, "", fmt.Errorf("open session for %s: %w", u.ID, err)
	}
	return s.withAdmin(u), sess, sec.Token, nil
}

// FailureDelay is how long after the last failed password attempt the next
// one must wait, given n failures in the window: nothing for the first
// `free`, then 1 s doubling per further failure, capped at 15 minutes.
func FailureDelay(n, free int) time.Duration {
	if n < free {
		return 0
	}
	shift := min(n-free, 10)
	return min(time.Second<<shift, 15*time.Minute)
}

// SetPassword sets or changes the caller's password and signs out every
// other session (keepSessionID is the caller's; empty for an API key).
func (s *Service) SetPassword(ctx context.Context, userID, keepSessionID, current, next string) error {
	if n := utf8.RuneCountInString(next); n < minPasswordLen || len(next) > maxPasswordLen {
		return apperr.Invalid("invalid password", apperr.Violation{Field: "new_password",
			Description: fmt.Sprintf("must be %d to %d characters", minPasswordLen, maxPasswordLen)})
	}
	if strings.TrimSpace(next) == "" {
		return apperr.Invalid("invalid password", apperr.Violation{Field: "new_password", Description: "must not be blank"})
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.State != StateActive {
		return ErrAccountDeleting
	}
	if u.HasPassword() {
		if current == "" {
			return apperr.Precondition(ReasonPasswordRequired, "the current password is required to change it")
		}
		bucket := emailBucket("password", u.Email)
		if err := s.store.PasswordAttempt(ctx, bucket, s.now()); err != nil {
			return err
		}
		if _, err := s.hasher.Verify(ctx, u.PasswordHash, current); errors.Is(err, password.ErrMismatch) {
			return ErrBadCredentials
		} else if err != nil {
			return fmt.Errorf("verify password of %s: %w", u.ID, err)
		}
		if err := s.store.ClearAttempts(ctx, bucket); err != nil {
			return fmt.Errorf("clear password attempts: %w", err)
		}
	}
	h, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	if err := s.store.SetPassword(ctx, userID, h, keepSessionID, s.now()); err != nil {
		return fmt.Errorf("set password of %s: %w", userID, err)
	}
	return nil
}

// Principal is who an Authenticate credential stands for.
type Principal struct {
	User      User
	SessionID string
}

// AuthenticateSession resolves a session token; the session's idle clock
// restarts.
func (s *Service) AuthenticateSession(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > 128 {
		return Principal{}, ErrInvalidCredential
	}
	u, sess, err := s.store.SessionByToken(ctx, HashSecret(token), s.now())
	if err != nil {
		return Principal{}, err
	}
	return Principal{User: s.withAdmin(u), SessionID: sess.ID}, nil
}

// AuthenticateAPIKey resolves an API key secret ("ps_…").
func (s *Service) AuthenticateAPIKey(ctx context.Context, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, APIKeyPrefix) || len(secret) > 128 {
		return Principal{}, ErrInvalidCredential
	}
	u, _, err := s.store.APIKeyBySecret(ctx, HashSecret(secret), s.now())
	if err != nil {
		return Principal{}, err
	}
	return Principal{User: s.withAdmin(u)}, nil
}

// SignOut ends one of the user's sessions.
func (s *Service) SignOut(ctx context.Context, userID, sessionID string) error {
	if sessionID == "" {
		return apperr.Precondition("NO_SESSION", "the credential is not a session")
	}
	return s.store.DeleteSession(ctx, userID, sessionID)
}

// SignOutEverywhere ends every session of the user, the caller's included.
func (s *Service) SignOutEverywhere(ctx context.Context, userID string) (int, error) {
	return s.store.DeleteSessions(ctx, userID)
}

// ListSessions pages through the user's live sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, userID string, after *Cursor, limit int) ([]Session, error) {
	return s.store.ListSessions(ctx, userID, after, limit, s.now())
}
