package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

// userCols lists the columns scanUser reads, each prefixed with alias.
func userCols(alias string) string {
	return fmt.Sprintf(`%[1]sid, coalesce(%[1]semail, ''), %[1]sdisplay_name, %[1]sstate, coalesce(%[1]spassword_hash, ''),
	%[1]sdefault_scene_id, %[1]sdefault_aspect_ratio, %[1]sdefault_size, %[1]semail_notifications,
	%[1]sanalytics_consent, %[1]screated_at`, alias)
}

var userColumns = userCols("")

func scanUser(row pgx.Row) (identity.User, error) {
	var u identity.User
	var id uuid.UUID
	var state string
	p := &u.Preferences
	err := row.Scan(&id, &u.Email, &u.DisplayName, &state, &u.PasswordHash,
		&p.DefaultSceneID, &p.DefaultAspectRatio, &p.DefaultSize, &p.EmailNotifications, &p.AnalyticsConsent, &u.CreateTime)
	u.ID, u.State = id.String(), identity.State(state)
	return u, err
}

func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil
}

// RequestMagicLink implements identity.Store.
func (s *Store) RequestMagicLink(ctx context.Context, l identity.MagicLink, limits []identity.Limit, m identity.Mail) error {
	return s.withTx(ctx, func(tx pgx.Tx) error {
		if err := hit(ctx, tx, l.CreateTime, limits...); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO magic_links (token_hash, email, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			l.TokenHash, l.Email, l.CreateTime, l.ExpireTime); err != nil {
			return fmt.Errorf("insert magic link: %w", err)
		}
		// Expired links are useless; each request sweeps a few, so the
		// table stays small without a separate job.
		if _, err := tx.Exec(ctx, `DELETE FROM magic_links WHERE token_hash IN (
			SELECT token_hash FROM magic_links WHERE expires_at < $1 LIMIT 20)`, l.CreateTime.Add(-time.Hour)); err != nil {
			return fmt.Errorf("sweep magic links: %w", err)
		}
		return appendMails(ctx, tx, m)
	})
}

// RedeemMagicLink implements identity.Store. The link is consumed by one
// UPDATE … WHERE used_at IS NULL AND expires_at > now RETURNING: of any
// number of concurrent redemptions exactly one gets the row.
func (s *Store) RedeemMagicLink(ctx context.Context, tokenHash []byte, ns identity.NewSession, welcome identity.Mail) (identity.User, identity.Session, error) {
	var u identity.User
	var sess identity.Session
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var email string
		err := tx.QueryRow(ctx, `UPDATE magic_links SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING email`, tokenHash, ns.Now).Scan(&email)
		if errors.Is(err, pgx.ErrNoRows) {
			return identity.ErrLinkInvalid
		}
		if err != nil {
			return fmt.Errorf("consume magic link: %w", err)
		}
		newID := identity.NewID()
		u, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users (id, email, created_at, updated_at) VALUES ($1, $2, $3, $3)
			ON CONFLICT (email) DO NOTHING RETURNING `+userColumns, newID, email, ns.Now))
		switch {
		case err == nil:
			welcome.To = email
			ev := events.Event{ID: identity.NewID(), Subject: events.SubjectUserCreated,
				Payload: &eventsv1.UserCreated{UserId: u.ID, CreateTime: ts(u.CreateTime)}}
			if err := events.Append(ctx, tx, ev); err != nil {
				return err
			}
			if err := appendMails(ctx, tx, welcome); err != nil {
				return err
			}
		case errors.Is(err, pgx.ErrNoRows):
			u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1 FOR UPDATE`, email))
			if err != nil {
				return fmt.Errorf("load user: %w", err)
			}
		default:
			return fmt.Errorf("create user: %w", err)
		}
		if u.State != identity.StateActive {
			return identity.ErrAccountDeleting
		}
		sess, err = insertSession(ctx, tx, u.ID, ns)
		return err
	})
	return u, sess, err
}

func insertSession(ctx context.Context, tx pgx.Tx, userID string, ns identity.NewSession) (identity.Session, error) {
	sess := identity.Session{
		ID: ns.ID, UserID: userID, CreateTime: ns.Now, LastSeenTime: ns.Now,
		ExpireTime: ns.Now.Add(identity.SessionAbsolute), UserAgent: ns.Client.UserAgent, IPAddress: ns.Client.IP,
	}
	_, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, user_agent, ip_address)
		VALUES ($1, $2, $3, $4, $4, $5, $6, $7)`, sess.ID, userID, ns.TokenHash, ns.Now, sess.ExpireTime, sess.UserAgent, sess.IPAddress)
	if err != nil {
		return identity.Session{}, fmt.Errorf("insert session: %w", err)
	}
	return sess, nil
}

// UserByEmail implements identity.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (identity.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	return u, notFound(err, "user")
}

// User implements identity.Store.
func (s *Store) User(ctx context.Context, userID string) (identity.User, error) {
	if !validID(userID) {
		return identity.User{}, apperr.NotFound("user not found")
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
	return u, notFound(err, "user")
}

// UpdateUser implements identity.Store (the update-function pattern).
func (s *Store) UpdateUser(ctx context.Context, userID string, fn func(u *identity.User) error) (identity.User, error) {
	if !validID(userID) {
		return identity.User{}, apperr.NotFound("user not found")
	}
	var u identity.User
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, userID))
		if err != nil {
			return notFound(err, "user")
		}
		if err := fn(&u); err != nil {
			return err
		}
		p := u.Preferences
		_, err = tx.Exec(ctx, `UPDATE users SET display_name = $2, default_scene_id = $3, default_aspect_ratio = $4,
			default_size = $5, email_notifications = $6, analytics_consent = $7, updated_at = now() WHERE id = $1`,
			userID, u.DisplayName, p.DefaultSceneID, p.DefaultAspectRatio, p.DefaultSize, p.EmailNotifications, p.AnalyticsConsent)
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		return nil
	})
	return u, err
}

// PasswordAttempt implements identity.Store: it counts the attempt before
// the password is checked, so parallel guesses cannot slip past the limit
// while their hashes run; a success clears the bucket.
func (s *Store) PasswordAttempt(ctx context.Context, bucket string, now time.Time) error {
	const window = 15 * time.Minute
	const free = 10
	return s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", bucket); err != nil {
			return fmt.Errorf("lock attempt bucket: %w", err)
		}
		var n int
		var last *time.Time
		if err := tx.QueryRow(ctx, `SELECT count(*), max(at) FROM rate_hits WHERE bucket = $1 AND at > $2`,
			bucket, now.Add(-window)).Scan(&n, &last); err != nil {
			return fmt.Errorf("count attempts: %w", err)
		}
		if d := identity.FailureDelay(n, free); d > 0 && last != nil && now.Before(last.Add(d)) {
			return apperr.TooMany("too many failed sign-ins; try again later", roundUp(last.Add(d).Sub(now)))
		}
		if _, err := tx.Exec(ctx, "INSERT INTO rate_hits (bucket, at) VALUES ($1, $2)", bucket, now); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		return nil
	})
}

// ClearAttempts implements identity.Store.
func (s *Store) ClearAttempts(ctx context.Context, bucket string) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM rate_hits WHERE bucket = $1", bucket)
	return err
}

// OpenSession implements identity.Store.
func (s *Store) OpenSession(ctx context.Context, userID string, ns identity.NewSession, rehash string) (identity.Session, error) {
	var sess identity.Session
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, "SELECT state FROM users WHERE id = $1 FOR UPDATE", userID).Scan(&state); err != nil {
			return notFound(err, "user")
		}
		if identity.State(state) != identity.StateActive {
			return identity.ErrAccountDeleting
		}
		if rehash != "" {
			if _, err := tx.Exec(ctx, "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1", userID, rehash, ns.Now); err != nil {
				return fmt.Errorf("store rehashed password: %w", err)
			}
		}
		var err error
		sess, err = insertSession(ctx, tx, userID, ns)
		return err
	})
	return sess, err
}

// SetPassword implements identity.Store.
func (s *Store) SetPassword(ctx context.Context, userID, hash, keepSessionID string, now time.Time) error {
	return s.withTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1 AND state = 'active'", userID, hash, now)
		if err != nil {
			return fmt.Errorf("update password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return apperr.NotFound("user not found")
		}
		keep := uuid.Nil
		if k, err := uuid.Parse(keepSessionID); err == nil {
			keep = k
		}
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1 AND id <> $2", userID, keep); err != nil {
			return fmt.Errorf("revoke other sessions: %w", err)
		}
		return nil
	})
}

// SessionByToken implements identity.Store: one statement checks both
// timeouts and the user's state and restarts the idle clock.
func (s *Store) SessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (identity.User, identity.Session, error) {
	var sess identity.Session
	var sid uuid.UUID
	// The idle clock is restarted at most once a minute, so most calls are
	// read-only and cost no commit flush.
	row := s.pool.QueryRow(ctx, `WITH live AS (
			SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.user_agent, s.ip_address
			FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.state = 'active'),
		touch AS (
			UPDATE sessions SET last_seen_at = $2
			WHERE id IN (SELECT id FROM live) AND last_seen_at < $2 - interval '1 minute')
		SELECT live.id, live.created_at, live.last_seen_at, live.expires_at, live.user_agent, live.ip_address,
		       `+userCols("u.")+`
		FROM live JOIN users u ON u.id = live.user_id`, tokenHash, now, now.Add(-identity.SessionIdle))
	var u identity.User
	var uid uuid.UUID
	var state string
	p := &u.Preferences
	err := row.Scan(&sid, &sess.CreateTime, &sess.LastSeenTime, &sess.ExpireTime, &sess.UserAgent, &sess.IPAddress,
		&uid, &u.Email, &u.DisplayName, &state, &u.PasswordHash,
		&p.DefaultSceneID, &p.DefaultAspectRatio, &p.DefaultSize, &p.EmailNotifications, &p.AnalyticsConsent, &u.CreateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.User{}, identity.Session{}, identity.ErrInvalidCredential
	}
	if err != nil {
		return identity.User{}, identity.Session{}, fmt.Errorf("find session: %w", err)
	}
	u.ID, u.State = uid.String(), identity.State(state)
	sess.ID, sess.UserID = sid.String(), u.ID
	return u, sess, nil
}

// APIKeyBySecret implements identity.Store.
func (s *Store) APIKeyBySecret(ctx context.Context, secretHash []byte, now time.Time) (identity.User, identity.APIKey, error) {
	var k identity.APIKey
	var kid uuid.UUID
	var u identity.User
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE secret_hash = $1
			RETURNING id, user_id, name, prefix, created_at`, secretHash, now).Scan(&kid, &k.UserID, &k.Name, &k.Prefix, &k.CreateTime)
		if errors.Is(err, pgx.ErrNoRows) {
			return identity.ErrInvalidCredential
		}
		if err != nil {
			return fmt.Errorf("find api key: %w", err)
		}
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, k.UserID))
		if err != nil {
			return fmt.Errorf("load key owner: %w", err)
		}
		if u.State != identity.StateActive {
			return identity.ErrInvalidCredential
		}
		return nil
	})
	k.ID, k.LastUsedTime = kid.String(), now
	return u, k, err
}

// ListSessions implements identity.Store.
func (s *Store) ListSessions(ctx context.Context, userID string, after *identity.Cursor, limit int, now time.Time) ([]identity.Session, error) {
	if !validID(userID) {
		return nil, nil
	}
	at, id := cursorArgs(after)
	rows, err := s.pool.Query(ctx, `SELECT id, created_at, last_seen_at, expires_at, user_agent, ip_address FROM sessions
		WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3 AND (created_at, id) < ($4, $5)
		ORDER BY created_at DESC, id DESC LIMIT $6`, userID, now, now.Add(-identity.SessionIdle), at, id, limit)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.Session, error) {
		var s identity.Session
		var id uuid.UUID
		err := r.Scan(&id, &s.CreateTime, &s.LastSeenTime, &s.ExpireTime, &s.UserAgent, &s.IPAddress)
		s.ID, s.UserID = id.String(), userID
		return s, err
	})
}

// cursorArgs turns an optional cursor into a keyset bound that every row
// is below when there is none.
func cursorArgs(c *identity.Cursor) (time.Time, uuid.UUID) {
	if c == nil {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), uuid.Max
	}
	id, err := uuid.Parse(c.ID)
	if err != nil {
		id = uuid.Max
	}
	return c.Time, id
}

// DeleteSession implements identity.Store.
func (s *Store) DeleteSession(ctx context.Context, userID, sessionID string) error {
	if !validID(userID) || !validID(sessionID) {
		return apperr.NotFound("session not found")
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE id = $1 AND user_id = $2", sessionID, userID)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFound("session not found")
	}
	return nil
}

// DeleteSessions implements identity.Store.
func (s *Store) DeleteSessions(ctx context.Context, userID string) (int, error) {
	if !validID(userID) {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// CreateAPIKey implements identity.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k identity.APIKey, secretHash []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.UserID, k.Name, k.Prefix, secretHash, k.CreateTime)
	if err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

// ListAPIKeys implements identity.Store.
func (s *Store) ListAPIKeys(ctx context.Context, userID string, after *identity.Cursor, limit int) ([]identity.APIKey, error) {
	if !validID(userID) {
		return nil, nil
	}
	at, id := cursorArgs(after)
	rows, err := s.pool.Query(ctx, `SELECT id, name, prefix, created_at, last_used_at FROM api_keys
		WHERE user_id = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4`, userID, at, id, limit)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.APIKey, error) {
		var k identity.APIKey
		var id uuid.UUID
		var used *time.Time
		err := r.Scan(&id, &k.Name, &k.Prefix, &k.CreateTime, &used)
		k.ID, k.UserID = id.String(), userID
		if used != nil {
			k.LastUsedTime = *used
		}
		return k, err
	})
}

// DeleteAPIKey implements identity.Store.
func (s *Store) DeleteAPIKey(ctx context.Context, userID, keyID string) error {
	if !validID(userID) || !validID(keyID) {
		return apperr.NotFound("api key not found")
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM api_keys WHERE id = $1 AND user_id = $2", keyID, userID)
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFound("api key not found")
	}
	return nil
}

// CreateContactMessage implements identity.Store.
func (s *Store) CreateContactMessage(ctx context.Context, m identity.ContactMessage, limits []identity.Limit, mails []identity.Mail) error {
	return s.withTx(ctx, func(tx pgx.Tx) error {
		if err := hit(ctx, tx, m.CreateTime, limits...); err != nil {
			return err
		}
		var uid *string
		if validID(m.UserID) {
			uid = &m.UserID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO contact_messages (id, user_id, name, email, message, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, m.ID, uid, m.Name, m.Email, m.Message, m.CreateTime); err != nil {
			return fmt.Errorf("insert contact message: %w", err)
		}
		return appendMails(ctx, tx, mails...)
	})
}

// Audit implements identity.Store.
func (s *Store) Audit(ctx context.Context, e identity.AuditEntry) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO admin_audit (admin_user_id, action, target_user_id, details, trace_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.AdminUserID, e.Action, e.TargetUserID, e.Details, e.TraceID, e.Time)
	if err != nil {
		return fmt.Errorf("insert audit row: %w", err)
	}
	return nil
}
