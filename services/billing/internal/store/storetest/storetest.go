// Package storetest checks the billing ledger's invariants on a live
// database from tests, and gives tests a migrated database of their own.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/services/billing/internal/store"
)

// Migrations are the sets a billing database needs, in order: the outbox
// and inbox, then the service's own.
func Migrations() []postgrestest.Migrations {
	return []postgrestest.Migrations{
		{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
		{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable},
	}
}

// NewDatabase returns the URL of a fresh, migrated billing database that is
// dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return postgrestest.NewDatabase(t, Migrations()...)
}

// New returns a pool on a fresh, migrated billing database.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return postgrestest.New(t, Migrations()...)
}

// AssertInvariants runs the reconciliation on pool's database and fails the
// test for every invariant that does not hold.
func AssertInvariants(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	violations, err := store.New(pool, nil).Reconcile(ctx)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	for _, v := range violations {
		t.Errorf("invariant broken: %s", v)
	}
}
