// Package store keeps the billing service's state in PostgreSQL: the ledger
// (accounts, transactions, entries, holds), purchases, Stripe customers,
// billing details and handled webhook events, with outbox events written in
// the same transactions.
//
// Every write locks the user's account row first (SELECT … FOR UPDATE), so
// writes for one user serialise and writes for different users never wait
// on each other or deadlock. Idempotency lives in unique constraints: a
// concurrent duplicate fails on the constraint, the transaction is retried,
// and the retry reads the winner's result. Serialization failures,
// deadlocks and dropped connections are retried here too, which is safe
// because every operation is idempotent by its key.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/postgres"
)

// Migrations are the billing schema, applied by platform.Migrate.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// maxAttempts bounds the retries of one operation.
const maxAttempts = 8

// Store is the billing database.
type Store struct {
	pool    *pgxpool.Pool
	metrics *metrics
}

// New returns a store over pool, whose database has Migrations applied. It
// counts credits granted, captured and released on mp (the global meter
// provider when nil) as their transactions commit.
func New(pool *pgxpool.Pool, mp metric.MeterProvider) *Store {
	return &Store{pool: pool, metrics: newMetrics(mp)}
}

// withTx runs fn in a transaction, retrying the whole transaction on
// errors that a rerun can resolve. fn must set its results afresh on each
// call. Its tx takes postgres.AfterCommit; the hooks of failed attempts
// never run.
func (s *Store) withTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := postgres.BeginFunc(ctx, s.pool, fn)
		if err == nil {
			return nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return err
		}
		if attempt == maxAttempts {
			return apperr.Unavailable("the billing database is busy; retry", fmt.Errorf("%s after %d attempts: %w", op, attempt, err))
		}
		// Full jitter keeps contending retries from colliding again.
		d := time.Duration(rand.Int64N(int64(backoff))) + time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

// retryable reports whether rerunning the transaction may succeed.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", // serialization_failure
			"40P01", // deadlock_detected
			"23505", // unique_violation: a concurrent duplicate won; the rerun reads it
			"57P01", // admin_shutdown (pg_terminate_backend)
			"57P02", // crash_shutdown
			"57P03": // cannot_connect_now
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exceptions
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "conn closed")
}

// newID returns a time-ordered id.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// validUUID reports whether id can be a row id; anything else is simply
// not found.
func validUUID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil
}

// ts is a time as PostgreSQL stores it (UTC, microseconds), so a value
// returned by a write equals the same value read back later.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullable turns "" into SQL NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// str reads a nullable text column.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
