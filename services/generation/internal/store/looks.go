package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

const lookColumns = `id, user_id, name, scene_id, prompt, variants, aspect, size, marketplace, seed, create_time, update_time`

// CreateLook inserts a new Look.
func (s *Store) CreateLook(ctx context.Context, l *job.Look) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO looks (`+lookColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
		l.ID, l.UserID, l.Name, l.SceneID, l.Prompt, l.Variants, l.Aspect, l.Size, l.Marketplace, l.Seed,
		l.CreateTime, l.UpdateTime)
	if err != nil {
		return fmt.Errorf("insert look %s: %w", l.ID, err)
	}
	return nil
}

// GetLook returns the caller's Look id.
func (s *Store) GetLook(ctx context.Context, userID, id string) (*job.Look, error) {
	return getLook(ctx, s.pool, userID, id, false)
}

// UpdateLook locks the caller's Look, applies fn and writes the result in
// one transaction; when fn fails nothing is written.
func (s *Store) UpdateLook(ctx context.Context, userID, id string, fn func(l *job.Look) error) (*job.Look, error) {
	var out *job.Look
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		l, err := getLook(ctx, tx, userID, id, true)
		if err != nil {
			return err
		}
		if err := fn(l); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE looks SET name=$3, scene_id=$4, prompt=$5, variants=$6, aspect=$7, size=$8,
			marketplace=$9, seed=$10, update_time=$11 WHERE id=$1 AND user_id=$2`,
			l.ID, l.UserID, l.Name, l.SceneID, l.Prompt, l.Variants, l.Aspect, l.Size, l.Marketplace, l.Seed,
			l.UpdateTime); err != nil {
			return fmt.Errorf("update look %s: %w", id, err)
		}
		out = l
		return nil
	})
	return out, err
}

// DeleteLook deletes the caller's Look; one that does not exist (or is
// someone else's) is NotFound.
func (s *Store) DeleteLook(ctx context.Context, userID, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return apperr.NotFound("look %s not found", id)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM looks WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return fmt.Errorf("delete look %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.NotFound("look %s not found", id)
	}
	return nil
}

// ListLooks returns up to limit of the caller's Looks after cursor (nil for
// the first page), newest first, and the cursor of the next page (nil at
// the end).
func (s *Store) ListLooks(ctx context.Context, userID string, limit int, after *job.Cursor) ([]*job.Look, *job.Cursor, error) {
	q := `SELECT ` + lookColumns + ` FROM looks WHERE user_id = $1`
	args := []any{userID, limit + 1}
	if after != nil {
		q += ` AND (create_time, id) < ($3, $4)`
		args = append(args, after.CreateTime, after.ID)
	}
	q += ` ORDER BY create_time DESC, id DESC LIMIT $2`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list looks: %w", err)
	}
	looks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*job.Look, error) { return scanLook(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("list looks: %w", err)
	}
	var next *job.Cursor
	if len(looks) > limit {
		looks = looks[:limit]
		last := looks[len(looks)-1]
		next = &job.Cursor{CreateTime: last.CreateTime, ID: last.ID}
	}
	return looks, next, nil
}

func getLook(ctx context.Context, q querier, userID, id string, forUpdate bool) (*job.Look, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, apperr.NotFound("look %s not found", id)
	}
	sql := `SELECT ` + lookColumns + ` FROM looks WHERE id = $1 AND user_id = $2`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	l, err := scanLook(q.QueryRow(ctx, sql, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.NotFound("look %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get look %s: %w", id, err)
	}
	return l, nil
}

func scanLook(r pgx.Row) (*job.Look, error) {
	var l job.Look
	err := r.Scan(&l.ID, &l.UserID, &l.Name, &l.SceneID, &l.Prompt, &l.Variants, &l.Aspect, &l.Size, &l.Marketplace,
		&l.Seed, &l.CreateTime, &l.UpdateTime)
	if err != nil {
		return nil, err
	}
	l.CreateTime, l.UpdateTime = l.CreateTime.UTC(), l.UpdateTime.UTC()
	return &l, nil
}
