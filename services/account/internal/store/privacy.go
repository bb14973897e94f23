package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

const exportColumns = `id, user_id, state, created_at, completed_at, image_id, size_bytes, failure_reason`

func scanExport(row pgx.Row) (identity.Export, error) {
	var e identity.Export
	var id, uid uuid.UUID
	var state string
	var done *time.Time
	err := row.Scan(&id, &uid, &state, &e.CreateTime, &done, &e.ImageID, &e.SizeBytes, &e.FailureReason)
	e.ID, e.UserID, e.State = id.String(), uid.String(), identity.ExportState(state)
	if done != nil {
		e.CompleteTime = *done
	}
	return e, err
}

// CreateExport implements identity.Store: a pending or running export of
// the user is returned as is; otherwise a new one is stored together with
// its ExportRequested event.
func (s *Store) CreateExport(ctx context.Context, userID string, now time.Time) (identity.Export, error) {
	var e identity.Export
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", userID); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		var err error
		e, err = scanExport(tx.QueryRow(ctx, `SELECT `+exportColumns+` FROM exports
			WHERE user_id = $1 AND state IN ('pending', 'running') ORDER BY created_at DESC LIMIT 1`, userID))
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		e = identity.Export{ID: identity.NewID(), UserID: userID, State: identity.ExportPending, CreateTime: now}
		if _, err := tx.Exec(ctx, `INSERT INTO exports (id, user_id, state, created_at) VALUES ($1, $2, $3, $4)`,
			e.ID, userID, e.State, now); err != nil {
			return fmt.Errorf("insert export: %w", err)
		}
		return events.Append(ctx, tx, events.Event{ID: e.ID, Subject: events.SubjectExportRequested,
			Payload: &eventsv1.ExportRequested{ExportId: e.ID, UserId: userID}})
	})
	return e, err
}

// Export implements identity.Store.
func (s *Store) Export(ctx context.Context, userID, exportID string) (identity.Export, error) {
	if !validID(userID) || !validID(exportID) {
		return identity.Export{}, apperr.NotFound("export not found")
	}
	e, err := scanExport(s.pool.QueryRow(ctx, `SELECT `+exportColumns+` FROM exports WHERE id = $1 AND user_id = $2`, exportID, userID))
	return e, notFound(err, "export")
}

// MarkExportRunning moves a pending export to running, outside the
// exporter's transaction so that GetExport shows the progress. It reports
// false when the export has already finished (a redelivery).
func (s *Store) MarkExportRunning(ctx context.Context, exportID string) (identity.Export, bool, error) {
	e, err := scanExport(s.pool.QueryRow(ctx, `UPDATE exports SET state = 'running'
		WHERE id = $1 AND state IN ('pending', 'running') RETURNING `+exportColumns, exportID))
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.Export{}, false, nil
	}
	if err != nil {
		return identity.Export{}, false, fmt.Errorf("mark export %s running: %w", exportID, err)
	}
	return e, true, nil
}

// FinishExport records the export's outcome in tx, the exporter's
// transaction, and queues the mail that announces a success.
func FinishExport(ctx context.Context, tx pgx.Tx, e identity.Export, m *identity.Mail) error {
	if _, err := tx.Exec(ctx, `UPDATE exports SET state = $2, completed_at = $3, image_id = $4, size_bytes = $5, failure_reason = $6
		WHERE id = $1 AND state IN ('pending', 'running')`,
		e.ID, e.State, e.CompleteTime, e.ImageID, e.SizeBytes, e.FailureReason); err != nil {
		return fmt.Errorf("finish export %s: %w", e.ID, err)
	}
	if m == nil {
		return nil
	}
	var email string
	if err := tx.QueryRow(ctx, "SELECT coalesce(email, '') FROM users WHERE id = $1", e.UserID).Scan(&email); err != nil {
		return fmt.Errorf("export owner: %w", err)
	}
	if email == "" {
		return nil
	}
	m.To = email
	return appendMails(ctx, tx, *m)
}

// StartDeletion implements identity.Store: sessions and API keys go at once,
// the user is marked deleting and UserDeleted is emitted, in one
// transaction. A repeat finds the user deleting and changes nothing.
func (s *Store) StartDeletion(ctx context.Context, userID string, now time.Time) (identity.User, error) {
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
		if u.State != identity.StateActive {
			return nil
		}
		for _, q := range []string{"DELETE FROM sessions WHERE user_id = $1", "DELETE FROM api_keys WHERE user_id = $1"} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return fmt.Errorf("revoke credentials: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE users SET state = 'deleting', updated_at = $2 WHERE id = $1", userID, now); err != nil {
			return fmt.Errorf("mark deleting: %w", err)
		}
		deletionID := identity.NewID()
		if _, err := tx.Exec(ctx, "INSERT INTO deletions (id, user_id, requested_at) VALUES ($1, $2, $3)", deletionID, userID, now); err != nil {
			return fmt.Errorf("insert deletion: %w", err)
		}
		u.State = identity.StateDeleting
		return events.Append(ctx, tx, events.Event{ID: deletionID, Subject: events.SubjectUserDeleted,
			Payload: &eventsv1.UserDeleted{UserId: userID, DeletionId: deletionID, DeleteTime: ts(now)}})
	})
	return u, err
}

// ConfirmPurge records one service's purge confirmation in tx (the
// consumer's transaction). When every service has confirmed, the user's own
// rows are erased, leaving the tombstone user row (id, state, times) and the
// deletion record; the confirmation mail goes to the address as it was. It
// reports whether this confirmation completed the deletion.
func ConfirmPurge(ctx context.Context, tx pgx.Tx, deletionID, userID, service string, now time.Time, mail identity.Mail) (bool, error) {
	if !validID(deletionID) {
		return false, fmt.Errorf("deletion id %q is not a uuid", deletionID)
	}
	var dbUser uuid.UUID
	var completed *time.Time
	err := tx.QueryRow(ctx, "SELECT user_id, completed_at FROM deletions WHERE id = $1 FOR UPDATE", deletionID).Scan(&dbUser, &completed)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("unknown deletion %s", deletionID)
	}
	if err != nil {
		return false, fmt.Errorf("lock deletion %s: %w", deletionID, err)
	}
	if dbUser.String() != userID {
		return false, fmt.Errorf("deletion %s belongs to another user than %s", deletionID, userID)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO deletion_confirmations (deletion_id, service, confirmed_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, deletionID, service, now); err != nil {
		return false, fmt.Errorf("record confirmation: %w", err)
	}
	if completed != nil {
		return false, nil
	}
	rows, err := tx.Query(ctx, "SELECT service FROM deletion_confirmations WHERE deletion_id = $1", deletionID)
	if err != nil {
		return false, fmt.Errorf("read confirmations: %w", err)
	}
	confirmed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, fmt.Errorf("read confirmations: %w", err)
	}
	for _, svc := range identity.Services {
		if !slices.Contains(confirmed, svc) {
			return false, nil
		}
	}
	var email string
	if err := tx.QueryRow(ctx, "SELECT coalesce(email, '') FROM users WHERE id = $1 FOR UPDATE", userID).Scan(&email); err != nil {
		return false, fmt.Errorf("lock user: %w", err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"DELETE FROM sessions WHERE user_id = $1", []any{userID}},
		{"DELETE FROM api_keys WHERE user_id = $1", []any{userID}},
		{"DELETE FROM exports WHERE user_id = $1", []any{userID}},
		{"DELETE FROM contact_messages WHERE user_id = $1 OR email = $2", []any{userID, email}},
		{"DELETE FROM magic_links WHERE email = $1", []any{email}},
		{`UPDATE users SET email = NULL, display_name = '', password_hash = NULL, default_scene_id = '',
			default_aspect_ratio = '1:1', default_size = '1K', email_notifications = false, analytics_consent = false,
			state = 'deleted', deleted_at = $2, updated_at = $2 WHERE id = $1`, []any{userID, now}},
	} {
		if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
			return false, fmt.Errorf("erase user %s: %w", userID, err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE deletions SET completed_at = $2 WHERE id = $1", deletionID, now); err != nil {
		return false, fmt.Errorf("complete deletion: %w", err)
	}
	if email != "" {
		mail.To = email
		if err := appendMails(ctx, tx, mail); err != nil {
			return false, err
		}
	}
	return true, nil
}

// UserData implements identity.Store.
func (s *Store) UserData(ctx context.Context, userID string) (identity.UserData, error) {
	var d identity.UserData
	u, err := s.User(ctx, userID)
	if err != nil {
		return d, err
	}
	d.User = u
	if d.Sessions, err = s.ListSessions(ctx, userID, nil, 1000, time.Now()); err != nil {
		return d, err
	}
	if d.APIKeys, err = s.ListAPIKeys(ctx, userID, nil, 1000); err != nil {
		return d, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name, email, message, created_at FROM contact_messages
		WHERE user_id = $1 OR email = $2 ORDER BY created_at`, userID, u.Email)
	if err != nil {
		return d, fmt.Errorf("list contact messages: %w", err)
	}
	d.Contact, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.ContactMessage, error) {
		var m identity.ContactMessage
		var id uuid.UUID
		err := r.Scan(&id, &m.Name, &m.Email, &m.Message, &m.CreateTime)
		m.ID, m.UserID = id.String(), userID
		return m, err
	})
	return d, err
}

// RecordMailSent marks a mail as handed to its provider, in the mail
// consumer's transaction, and reports whether it was already marked.
func RecordMailSent(ctx context.Context, tx pgx.Tx, mailID, template string, now time.Time) (already bool, err error) {
	tag, err := tx.Exec(ctx, `INSERT INTO sent_mails (mail_id, template, sent_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		mailID, template, now)
	if err != nil {
		return false, fmt.Errorf("record sent mail %s: %w", mailID, err)
	}
	return tag.RowsAffected() == 0, nil
}

// ExportsToExpire returns up to limit succeeded exports completed before t.
func (s *Store) ExportsToExpire(ctx context.Context, t time.Time, limit int) ([]identity.Export, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+exportColumns+` FROM exports
		WHERE state = 'succeeded' AND completed_at < $1 ORDER BY completed_at LIMIT $2`, t, limit)
	if err != nil {
		return nil, fmt.Errorf("exports to expire: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.Export, error) { return scanExport(r) })
	if err != nil {
		return nil, fmt.Errorf("exports to expire: %w", err)
	}
	return out, nil
}

// MarkExportExpired records that the export's zip is gone.
func (s *Store) MarkExportExpired(ctx context.Context, exportID string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE exports SET state = 'expired', image_id = '' WHERE id = $1 AND state = 'succeeded'`, exportID); err != nil {
		return fmt.Errorf("expire export %s: %w", exportID, err)
	}
	return nil
}
