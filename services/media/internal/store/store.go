// Package store keeps the media service's image records in PostgreSQL.
// Every query that serves a user filters on the user's id, so another
// user's row reads exactly like a missing one. Writes that emit events
// append them to the outbox in the same transaction.
package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
)

// Migrations creates the service's tables.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Store is the gallery.Repository on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

var _ gallery.Repository = (*Store)(nil)

const columns = `id::text, user_id, kind, parent_image_id, job_id, width, height, content_type, size_bytes,
	sha256, rendition_type, file_name, digital_source_type, create_time`

func scanImage(row pgx.Row) (gallery.Image, error) {
	var (
		img  gallery.Image
		kind int16
	)
	err := row.Scan(&img.ID, &img.UserID, &kind, &img.ParentID, &img.JobID, &img.Width, &img.Height,
		&img.ContentType, &img.Size, &img.SHA256, &img.RenditionType, &img.FileName, &img.DigitalSourceType,
		&img.CreateTime)
	img.Kind = gallery.Kind(kind)
	img.CreateTime = img.CreateTime.UTC()
	return img, err
}

// Insert stores a record and its events in one transaction.
//
// It holds the user's purge lock shared, so it either commits before a
// purge of the user starts (and the purge deletes the row and its blobs)
// or sees the purge's tombstone and is refused with ErrUserPurged (and the
// caller deletes the blobs it wrote).
func (s *Store) Insert(ctx context.Context, img gallery.Image, evs ...events.Event) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 7))`, img.UserID); err != nil {
			return fmt.Errorf("lock user %s: %w", img.UserID, err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO images (id, user_id, kind, parent_image_id, job_id, width, height,
			content_type, size_bytes, sha256, rendition_type, file_name, digital_source_type, create_time)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
			WHERE NOT EXISTS (SELECT 1 FROM purged_users WHERE user_hash = $15)`,
			img.ID, img.UserID, int16(img.Kind), img.ParentID, img.JobID, img.Width, img.Height,
			img.ContentType, img.Size, img.SHA256, img.RenditionType, img.FileName, img.DigitalSourceType,
			img.CreateTime, userHash(img.UserID))
		if err != nil {
			return fmt.Errorf("insert image %s: %w", img.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return ErrUserPurged
		}
		return events.Append(ctx, tx, evs...)
	})
}

// ErrUserPurged refuses an image for a user whose account was deleted.
var ErrUserPurged = apperr.Precondition("USER_DELETED", "the account was deleted")

func userHash(userID string) []byte {
	h := sha256.Sum256([]byte(userID))
	return h[:]
}

// Get reads the user's record.
func (s *Store) Get(ctx context.Context, userID, id string) (gallery.Image, error) {
	img, err := scanImage(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM images WHERE id = $1 AND user_id = $2`, id, userID))
	return img, notFound(err, id)
}

// GetByID reads a record whatever its owner.
func (s *Store) GetByID(ctx context.Context, id string) (gallery.Image, error) {
	img, err := scanImage(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM images WHERE id = $1`, id))
	return img, notFound(err, id)
}

// List reads a newest-first page of the user's images of kind; with
// KindUnspecified, of the gallery's kinds: uploads and generated images.
// Masks and export archives are the user's too (exported, deleted with the
// account) but are not photos to browse, so they are listed only by kind.
func (s *Store) List(ctx context.Context, userID string, kind gallery.Kind, after *gallery.Cursor, limit int) ([]gallery.Image, error) {
	q := `SELECT ` + columns + ` FROM images WHERE user_id = $1 AND ($2 = 0 AND kind IN ($3, $4) OR kind = $2)`
	args := []any{userID, int16(kind), int16(gallery.KindUpload), int16(gallery.KindGenerated)}
	if after != nil {
		q += ` AND (create_time, id) < ($5, $6::uuid)`
		args = append(args, after.CreateTime, after.ID)
	}
	q += fmt.Sprintf(` ORDER BY create_time DESC, id DESC LIMIT %d`, limit)
	return s.query(ctx, q, args...)
}

// ListAll reads every record of the user.
func (s *Store) ListAll(ctx context.Context, userID string) ([]gallery.Image, error) {
	return s.query(ctx, `SELECT `+columns+` FROM images WHERE user_id = $1 ORDER BY create_time DESC, id DESC`, userID)
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]gallery.Image, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	imgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gallery.Image, error) { return scanImage(r) })
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	return imgs, nil
}

// Delete removes the user's record and, with it, the masks made from it
// (an analysis's segmentation of the photo is the photo's, not a picture
// of its own); deleted holds the image first, then its masks. Generated
// images outlive their upload: kept counts them. DELETE … RETURNING locks
// the row, so of two concurrent deletions of one image only one finds it
// and emits the events; the other reads NotFound.
func (s *Store) Delete(ctx context.Context, userID, id string, fn func(deleted []gallery.Image, kept int) []events.Event) ([]gallery.Image, int, error) {
	var (
		deleted []gallery.Image
		kept    int
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		img, err := scanImage(tx.QueryRow(ctx, `DELETE FROM images WHERE id = $1 AND user_id = $2 RETURNING `+columns, id, userID))
		if err != nil {
			return notFound(err, id)
		}
		rows, err := tx.Query(ctx, `DELETE FROM images WHERE user_id = $1 AND parent_image_id = $2 AND kind = $3 RETURNING `+columns,
			userID, id, int16(gallery.KindMask))
		if err != nil {
			return fmt.Errorf("delete masks of %s: %w", id, err)
		}
		masks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gallery.Image, error) { return scanImage(r) })
		if err != nil {
			return fmt.Errorf("delete masks of %s: %w", id, err)
		}
		deleted = append([]gallery.Image{img}, masks...)
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM images WHERE user_id = $1 AND parent_image_id = $2 AND kind = $3`,
			userID, id, int16(gallery.KindGenerated)).Scan(&kept); err != nil {
			return fmt.Errorf("count generated images of %s: %w", id, err)
		}
		return events.Append(ctx, tx, fn(deleted, kept)...)
	})
	if err != nil {
		return nil, 0, err
	}
	return deleted, kept, nil
}

// DeleteJobImages removes the user's generated images of a job but those in
// keep, with fn's events, in one transaction. DELETE … RETURNING locks the
// rows, so an image deleted concurrently (DeleteImage, another discard) is
// reported, and its event written, by one of them only.
func (s *Store) DeleteJobImages(ctx context.Context, userID, jobID string, keep []string, fn func(gallery.Image) []events.Event) ([]gallery.Image, error) {
	if keep == nil {
		keep = []string{} // NULL would make the NOT ANY below NULL and match nothing
	}
	var imgs []gallery.Image
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM images WHERE user_id = $1 AND job_id = $2 AND kind = $3
			AND NOT (id = ANY($4::uuid[])) RETURNING `+columns, userID, jobID, int16(gallery.KindGenerated), keep)
		if err != nil {
			return fmt.Errorf("delete images of job %s: %w", jobID, err)
		}
		imgs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (gallery.Image, error) { return scanImage(r) })
		if err != nil {
			return fmt.Errorf("delete images of job %s: %w", jobID, err)
		}
		var evs []events.Event
		for _, img := range imgs {
			evs = append(evs, fn(img)...)
		}
		return events.Append(ctx, tx, evs...)
	})
	if err != nil {
		return nil, err
	}
	return imgs, nil
}

// Existing reports which ids have a record.
func (s *Store) Existing(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM images WHERE id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("check images: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("check images: %w", err)
	}
	m := make(map[string]bool, len(found))
	for _, id := range found {
		m[id] = true
	}
	return m, nil
}

// DeleteUser deletes every record of a user inside tx (the consumer's
// inbox transaction) and returns how many there were.
func DeleteUser(ctx context.Context, tx pgx.Tx, userID string) (int64, error) {
	// Wait for inserts in flight for the user (they hold the lock shared),
	// then refuse later ones with the tombstone.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, userID); err != nil {
		return 0, fmt.Errorf("lock user %s: %w", userID, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO purged_users (user_hash, purged_at) VALUES ($1, now()) ON CONFLICT DO NOTHING`, userHash(userID)); err != nil {
		return 0, fmt.Errorf("tombstone user %s: %w", userID, err)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM images WHERE user_id = $1`, userID)
	if err != nil {
		return 0, fmt.Errorf("delete images of user %s: %w", userID, err)
	}
	return tag.RowsAffected(), nil
}

func notFound(err error, id string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.NotFound("image %s not found", id)
	}
	if err != nil {
		return fmt.Errorf("read image %s: %w", id, err)
	}
	return nil
}
