// Package store keeps the generation service's jobs in PostgreSQL, with
// outbox events written in the same transactions. Ownership lives in the
// queries: every method takes the caller's user id and a job of another user
// reads as NotFound. Writes follow the update-function pattern: UpdateJob
// locks the row, runs the domain rule, and writes the job, its outputs and
// the rule's events in one transaction.
package store

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/market"
)

// Migrations are the generation schema, applied by platform.Migrate.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Store is the generation database.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool, whose database has Migrations applied.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const jobColumns = `id, user_id, image_id, scene_id, prompt, variants, aspect, size, marketplace, product_lock,
	look_id, seed, state, hold_id, reserved, captured, released, error, attempts, lease_owner, lease_until,
	create_time, update_time, start_time, complete_time`

// CreateJob inserts a new job with its pending outputs and evs (the first
// attempt's work item) in one transaction. A job id that exists is Conflict.
func (s *Store) CreateJob(ctx context.Context, j *job.Job, evs ...events.Event) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO jobs (`+jobColumns+`)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25)`,
			jobArgs(j)...)
		if err != nil {
			return fmt.Errorf("insert job %s: %w", j.ID, err)
		}
		if err := writeOutputs(ctx, tx, j); err != nil {
			return err
		}
		return events.Append(ctx, tx, evs...)
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return apperr.Conflict("job %s already exists", j.ID)
	}
	return err
}

// GetJob returns the caller's job id.
func (s *Store) GetJob(ctx context.Context, userID, id string) (*job.Job, error) {
	return getJob(ctx, s.pool, userID, id, false)
}

// ListJobs returns up to limit of the caller's jobs after cursor (nil for
// the first page), newest first, and the cursor of the next page (nil at
// the end).
func (s *Store) ListJobs(ctx context.Context, userID string, limit int, after *job.Cursor) ([]*job.Job, *job.Cursor, error) {
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE user_id = $1`
	args := []any{userID, limit + 1}
	if after != nil {
		q += ` AND (create_time, id) < ($3, $4)`
		args = append(args, after.CreateTime, after.ID)
	}
	q += ` ORDER BY create_time DESC, id DESC LIMIT $2`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*job.Job, error) { return scanJob(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("list jobs: %w", err)
	}
	var next *job.Cursor
	if len(jobs) > limit {
		jobs = jobs[:limit]
		last := jobs[len(jobs)-1]
		next = &job.Cursor{CreateTime: last.CreateTime, ID: last.ID}
	}
	for _, j := range jobs {
		if err := readOutputs(ctx, s.pool, j); err != nil {
			return nil, nil, err
		}
	}
	return jobs, next, nil
}

// UpdateJob locks the caller's job, applies fn, and writes the job, its
// outputs and the events fn returns in one transaction. When fn fails
// nothing is written and its error is returned.
func (s *Store) UpdateJob(ctx context.Context, userID, id string, fn func(j *job.Job) ([]events.Event, error)) (*job.Job, error) {
	var out *job.Job
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		j, err := getJob(ctx, tx, userID, id, true)
		if err != nil {
			return err
		}
		evs, err := fn(j)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET state=$3, captured=$4, released=$5, error=$6, attempts=$7,
			lease_owner=$8, lease_until=$9, update_time=$10, start_time=$11, complete_time=$12
			WHERE id=$1 AND user_id=$2`,
			j.ID, j.UserID, string(j.State), j.Captured, j.Released, j.Error, j.Attempts, j.LeaseOwner,
			nullTime(j.LeaseUntil), j.UpdateTime, nullTime(j.StartTime), nullTime(j.CompleteTime)); err != nil {
			return fmt.Errorf("update job %s: %w", id, err)
		}
		if err := writeOutputs(ctx, tx, j); err != nil {
			return err
		}
		if err := events.Append(ctx, tx, evs...); err != nil {
			return err
		}
		out = j
		return nil
	})
	return out, err
}

// Ref names a job and its owner.
type Ref struct {
	UserID, ID string
}

// ExpiredLeases returns up to limit running jobs whose lease ended before
// now: their worker died, and the sweeper re-queues them.
func (s *Store) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]Ref, error) {
	return s.refs(ctx, "expired leases", `SELECT user_id, id FROM jobs
		WHERE state = 'running' AND lease_until < $1 ORDER BY lease_until LIMIT $2`, now, limit)
}

// UnfinishedBefore returns up to limit queued or running jobs created
// before t: jobs that have waited so long their credit hold is about to
// lapse, which the sweeper fails (and so releases).
func (s *Store) UnfinishedBefore(ctx context.Context, t time.Time, limit int) ([]Ref, error) {
	return s.refs(ctx, "unfinished jobs", `SELECT user_id, id FROM jobs
		WHERE state IN ('queued', 'running') AND create_time < $1 ORDER BY create_time LIMIT $2`, t, limit)
}

func (s *Store) refs(ctx context.Context, what, sql string, args ...any) ([]Ref, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ref, error) {
		var ref Ref
		return ref, r.Scan(&ref.UserID, &ref.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return refs, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getJob(ctx context.Context, q querier, userID, id string, forUpdate bool) (*job.Job, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, apperr.NotFound("generation %s not found", id)
	}
	sql := `SELECT ` + jobColumns + ` FROM jobs WHERE id = $1 AND user_id = $2`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	j, err := scanJob(q.QueryRow(ctx, sql, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.NotFound("generation %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", id, err)
	}
	return j, readOutputs(ctx, q, j)
}

func jobArgs(j *job.Job) []any {
	return []any{
		j.ID, j.UserID, j.Spec.ImageID, j.Spec.SceneID, j.Spec.Prompt, j.Spec.Variants, j.Spec.Aspect, j.Spec.Size,
		j.Spec.Marketplace, j.Spec.ProductLock, j.Spec.LookID, j.Spec.Seed, string(j.State), j.HoldID, j.Reserved,
		j.Captured, j.Released, j.Error, j.Attempts, j.LeaseOwner, nullTime(j.LeaseUntil),
		j.CreateTime, j.UpdateTime, nullTime(j.StartTime), nullTime(j.CompleteTime),
	}
}

func scanJob(r pgx.Row) (*job.Job, error) {
	var j job.Job
	var state string
	var lease, start, complete *time.Time
	err := r.Scan(&j.ID, &j.UserID, &j.Spec.ImageID, &j.Spec.SceneID, &j.Spec.Prompt, &j.Spec.Variants, &j.Spec.Aspect,
		&j.Spec.Size, &j.Spec.Marketplace, &j.Spec.ProductLock, &j.Spec.LookID, &j.Spec.Seed, &state, &j.HoldID,
		&j.Reserved, &j.Captured, &j.Released, &j.Error, &j.Attempts, &j.LeaseOwner, &lease,
		&j.CreateTime, &j.UpdateTime, &start, &complete)
	if err != nil {
		return nil, err
	}
	j.State = job.State(state)
	j.LeaseUntil, j.StartTime, j.CompleteTime = deref(lease), deref(start), deref(complete)
	j.CreateTime, j.UpdateTime = j.CreateTime.UTC(), j.UpdateTime.UTC()
	return &j, nil
}

func readOutputs(ctx context.Context, q querier, j *job.Job) error {
	rows, err := q.Query(ctx, `SELECT idx, state, image_id, fidelity, flagged, compliance, error
		FROM job_outputs WHERE job_id = $1 ORDER BY idx`, j.ID)
	if err != nil {
		return fmt.Errorf("read outputs of %s: %w", j.ID, err)
	}
	outs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (job.Output, error) {
		var o job.Output
		var state string
		var compliance []byte
		if err := r.Scan(&o.Index, &state, &o.ImageID, &o.Fidelity, &o.Flagged, &compliance, &o.Error); err != nil {
			return o, err
		}
		o.State = job.OutputState(state)
		if compliance != nil {
			o.Compliance = &market.Verdict{}
			if err := json.Unmarshal(compliance, o.Compliance); err != nil {
				return o, fmt.Errorf("compliance of output %d: %w", o.Index, err)
			}
		}
		return o, nil
	})
	if err != nil {
		return fmt.Errorf("read outputs of %s: %w", j.ID, err)
	}
	j.Outputs = outs
	return nil
}

// writeOutputs upserts the job's outputs in one round trip.
func writeOutputs(ctx context.Context, tx pgx.Tx, j *job.Job) error {
	var batch pgx.Batch
	for _, o := range j.Outputs {
		var compliance []byte
		if o.Compliance != nil {
			b, err := json.Marshal(o.Compliance)
			if err != nil {
				return fmt.Errorf("encode compliance: %w", err)
			}
			compliance = b
		}
		batch.Queue(`INSERT INTO job_outputs (job_id, idx, state, image_id, fidelity, flagged, compliance, error)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
			ON CONFLICT (job_id, idx) DO UPDATE SET state=EXCLUDED.state, image_id=EXCLUDED.image_id,
				fidelity=EXCLUDED.fidelity, flagged=EXCLUDED.flagged, compliance=EXCLUDED.compliance, error=EXCLUDED.error`,
			j.ID, o.Index, string(o.State), o.ImageID, o.Fidelity, o.Flagged, compliance, o.Error)
	}
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("write outputs of %s: %w", j.ID, err)
	}
	return nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
