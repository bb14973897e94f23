// Package store keeps the account service's state in PostgreSQL: users,
// sign-in links, sessions, API keys, rate-limit hits, signing keys, contact
// messages, exports, deletions and the admin audit log. Writes that announce
// something (a mail, a new user, a deletion, an export) append their outbox
// events in the same transaction, so an event exists exactly when its change
// committed.
//
// Secrets never reach the database: links, sessions and API keys are found
// by the SHA-256 of their token. Every method scoped to a user filters on
// the user id; another user's row reads as not found.
package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

// Migrations are the account schema, applied by platform.Migrate.
//
//go:embed migrations/*.sql
var Migrations embed.FS

const maxAttempts = 5

// Store is the account database.
type Store struct {
	pool *pgxpool.Pool
	keys cipher.AEAD
}

// New returns a store over pool, whose database has Migrations applied.
// keyKey (32 bytes) encrypts the signing keys' private halves at rest.
func New(pool *pgxpool.Pool, keyKey []byte) (*Store, error) {
	block, err := aes.NewCipher(keyKey)
	if err != nil {
		return nil, fmt.Errorf("signing key encryption: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("signing key encryption: %w", err)
	}
	return &Store{pool: pool, keys: aead}, nil
}

// Pool is the store's pool, for consumers whose inbox lives beside it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// withTx runs fn in a transaction, rerunning it on serialization failures
// and deadlocks; fn must set its results afresh on each call.
func (s *Store) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		var pgErr *pgconn.PgError
		if attempt < maxAttempts && errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") {
			continue
		}
		return err
	}
}

// appendMails queues mails as MailRequested events; the event id is the
// mail id, which is also the provider's idempotency key.
func appendMails(ctx context.Context, tx pgx.Tx, mails ...identity.Mail) error {
	evs := make([]events.Event, 0, len(mails))
	for _, m := range mails {
		evs = append(evs, events.Event{ID: m.ID, Subject: events.SubjectMailRequested, Payload: &eventsv1.MailRequested{
			MailId: m.ID, Template: m.Template, To: m.To, Data: m.Data,
		}})
	}
	return events.Append(ctx, tx, evs...)
}

// hit checks every limit and records one hit in each, or refuses with
// TooMany and a retry delay, recording nothing. Writers of one bucket
// serialise on a transaction-scoped advisory lock, so the count is exact
// across replicas. Hits older than the window are deleted on the way.
func hit(ctx context.Context, tx pgx.Tx, now time.Time, limits ...identity.Limit) error {
	var wait time.Duration
	for _, l := range limits {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", l.Bucket); err != nil {
			return fmt.Errorf("lock rate bucket: %w", err)
		}
		since := now.Add(-l.Window)
		if _, err := tx.Exec(ctx, "DELETE FROM rate_hits WHERE bucket = $1 AND at <= $2", l.Bucket, since); err != nil {
			return fmt.Errorf("prune rate bucket: %w", err)
		}
		// The Max-th newest hit: while it is in the window, the bucket is
		// full; it leaves the window at at+Window.
		var at time.Time
		err := tx.QueryRow(ctx, `SELECT at FROM rate_hits WHERE bucket = $1 AND at > $2
			ORDER BY at DESC OFFSET $3 LIMIT 1`, l.Bucket, since, l.Max-1).Scan(&at)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("count rate bucket: %w", err)
		default:
			wait = max(wait, at.Add(l.Window).Sub(now))
		}
	}
	if wait > 0 {
		return apperr.TooMany("too many requests; try again later", roundUp(wait))
	}
	for _, l := range limits {
		if _, err := tx.Exec(ctx, "INSERT INTO rate_hits (bucket, at) VALUES ($1, $2)", l.Bucket, now); err != nil {
			return fmt.Errorf("record rate hit: %w", err)
		}
	}
	return nil
}

// roundUp to whole seconds, the unit of Retry-After.
func roundUp(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// notFound maps an empty result to a NotFound kind.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.NotFound("%s not found", what)
	}
	return err
}
