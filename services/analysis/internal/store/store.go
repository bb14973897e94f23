// Package store keeps the analysis service's rows in PostgreSQL. Every
// query is scoped to the user: another user's analysis reads as not found.
package store

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/services/analysis/internal/analysis"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
)

// Migrations are the service's schema, applied by platform.Migrate.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Store implements analysis.Store on a pool, or on the one connection of
// a Lock.
type Store struct {
	pool *pgxpool.Pool
	db   db
}

// db is what the queries need: a pool, or one of its connections.
type db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// New returns a store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, db: pool} }

// result is the stored form of an analyzer.Result without its pixels.
type result struct {
	Title      string                 `json:"title"`
	Category   string                 `json:"category"`
	Materials  []string               `json:"materials,omitempty"`
	Attributes []analyzer.Attribute   `json:"attributes,omitempty"`
	Palette    []analyzer.Color       `json:"palette,omitempty"`
	Texts      []analyzer.Text        `json:"texts,omitempty"`
	Background analyzer.Background    `json:"background"`
	Box        [4]int                 `json:"box"`
	Scenes     []analyzer.ScenePrompt `json:"scenes,omitempty"`
}

const columns = `id, user_id, image_id, provider, provider_version, state, result, mask_image_id, error, request_id, input_tokens, output_tokens, create_time`

// Find returns the user's analysis of the image by provider version p.
func (s *Store) Find(ctx context.Context, userID, imageID string, p analyzer.Provider) (analysis.Analysis, error) {
	return one(s.db.Query(ctx, `SELECT `+columns+` FROM analyses
		WHERE user_id = $1 AND image_id = $2 AND provider = $3 AND provider_version = $4`,
		userID, imageID, p.Name, p.Version))
}

// Latest returns the user's newest analysis of the image.
func (s *Store) Latest(ctx context.Context, userID, imageID string) (analysis.Analysis, error) {
	return one(s.db.Query(ctx, `SELECT `+columns+` FROM analyses
		WHERE user_id = $1 AND image_id = $2 ORDER BY create_time DESC, id DESC LIMIT 1`, userID, imageID))
}

// ListUser returns every analysis of the user, oldest first.
func (s *Store) ListUser(ctx context.Context, userID string) ([]analysis.Analysis, error) {
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM analyses WHERE user_id = $1 ORDER BY create_time, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list analyses: %w", err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("list analyses: %w", err)
	}
	return out, nil
}

// Lock makes analyses of one image by one provider version take turns,
// across replicas: it returns once no one else holds the image's lock
// (a session advisory lock on a connection of its own), and unlock lets
// the next one in. A canceled ctx stops the wait. The turn's reads and
// writes go through locked, on the lock's connection: a turn needs one
// connection however long the analysis takes, so turns cannot use up the
// pool waiting for a second.
func (s *Store) Lock(ctx context.Context, userID, imageID string, p analyzer.Provider) (locked analysis.Store, unlock func(), err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("lock analysis of %s: %w", imageID, err)
	}
	key := userID + "/" + imageID + "/" + p.Name + "/" + p.Version
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		conn.Release()
		return nil, nil, fmt.Errorf("lock analysis of %s: %w", imageID, err)
	}
	return &Store{pool: s.pool, db: conn}, func() {
		// Detached from ctx: the lock must go even when the caller's
		// context has ended. A connection that cannot unlock is closed,
		// which ends its session and so the lock.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}

// Save upserts the analysis and appends evs to the outbox in one
// transaction: the event is out exactly when the row is.
func (s *Store) Save(ctx context.Context, a analysis.Analysis, evs ...events.Event) error {
	r := a.Result
	b := r.Box
	doc, err := json.Marshal(result{
		Title: r.Title, Category: r.Category, Materials: r.Materials, Attributes: r.Attributes,
		Palette: r.Palette, Texts: r.Texts, Background: r.Background,
		Box: [4]int{b.Min.X, b.Min.Y, b.Dx(), b.Dy()}, Scenes: r.Scenes,
	})
	if err != nil {
		return fmt.Errorf("encode analysis %s: %w", a.ID, err)
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO analyses (`+columns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (user_id, image_id, provider, provider_version) DO UPDATE SET
				id = EXCLUDED.id, state = EXCLUDED.state, result = EXCLUDED.result,
				mask_image_id = EXCLUDED.mask_image_id, error = EXCLUDED.error,
				request_id = EXCLUDED.request_id, input_tokens = EXCLUDED.input_tokens,
				output_tokens = EXCLUDED.output_tokens, create_time = EXCLUDED.create_time`,
			a.ID, a.UserID, a.ImageID, a.Provider.Name, a.Provider.Version, int16(a.State), doc,
			a.MaskImageID, a.Error, r.Usage.RequestID, r.Usage.InputTokens, r.Usage.OutputTokens, a.CreateTime)
		if err != nil {
			return fmt.Errorf("save analysis %s: %w", a.ID, err)
		}
		return events.Append(ctx, tx, evs...)
	})
}

// DeleteImage deletes every analysis of the user's image in tx (the image
// deletion consumer's transaction) and says how many there were.
func DeleteImage(ctx context.Context, tx pgx.Tx, userID, imageID string) (int64, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM analyses WHERE user_id = $1 AND image_id = $2`, userID, imageID)
	if err != nil {
		return 0, fmt.Errorf("delete analyses of image %s: %w", imageID, err)
	}
	return tag.RowsAffected(), nil
}

// DeleteUser deletes every analysis of the user in tx (the account
// deletion consumer's transaction) and says how many there were.
func DeleteUser(ctx context.Context, tx pgx.Tx, userID string) (int64, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM analyses WHERE user_id = $1`, userID)
	if err != nil {
		return 0, fmt.Errorf("delete analyses of user %s: %w", userID, err)
	}
	return tag.RowsAffected(), nil
}

func one(rows pgx.Rows, err error) (analysis.Analysis, error) {
	if err != nil {
		return analysis.Analysis{}, fmt.Errorf("read analysis: %w", err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return analysis.Analysis{}, analysis.ErrNotFound
	}
	if err != nil {
		return analysis.Analysis{}, fmt.Errorf("read analysis: %w", err)
	}
	return a, nil
}

func scan(row pgx.CollectableRow) (analysis.Analysis, error) {
	var a analysis.Analysis
	var state int16
	var doc []byte
	err := row.Scan(&a.ID, &a.UserID, &a.ImageID, &a.Provider.Name, &a.Provider.Version, &state, &doc,
		&a.MaskImageID, &a.Error, &a.Result.Usage.RequestID, &a.Result.Usage.InputTokens, &a.Result.Usage.OutputTokens, &a.CreateTime)
	if err != nil {
		return a, err
	}
	a.State = analysis.State(state)
	var r result
	if err := json.Unmarshal(doc, &r); err != nil {
		return a, fmt.Errorf("decode analysis %s: %w", a.ID, err)
	}
	a.Result.Title, a.Result.Category, a.Result.Materials = r.Title, r.Category, r.Materials
	a.Result.Attributes, a.Result.Palette, a.Result.Texts = r.Attributes, r.Palette, r.Texts
	a.Result.Background, a.Result.Scenes = r.Background, r.Scenes
	a.Result.Box = image.Rect(r.Box[0], r.Box[1], r.Box[0]+r.Box[2], r.Box[1]+r.Box[3])
	return a, nil
}
