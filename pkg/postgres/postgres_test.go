package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
)

func TestOpenPoolSize(t *testing.T) {
	t.Parallel()
	url := postgrestest.NewDatabase(t)
	for _, tc := range []struct {
		name string
		url  string
		want int32
	}{
		{"default", url, 16},
		{"url_sets_pool_max_conns", url + "&pool_max_conns=3", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, err := postgres.Open(t.Context(), tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if got := pool.Config().MaxConns; got != tc.want {
				t.Errorf("MaxConns = %d, want %d", got, tc.want)
			}
			if pool.Config().ConnConfig.Tracer == nil {
				t.Error("no query tracer installed")
			}
		})
	}
}

func TestOpenFailsFast(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  string
		code string
	}{
		{"unparsable", "postgres://%zz", ""},
		{"no_such_database", postgrestest.NewDatabase(t) + "&dbname=photoshoot_test_does_not_exist", "3D000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, err := postgres.Open(t.Context(), tc.url)
			if err == nil {
				pool.Close()
				t.Fatal("Open succeeded")
			}
			var pgErr *pgconn.PgError
			if tc.code != "" && (!errors.As(err, &pgErr) || pgErr.Code != tc.code) {
				t.Errorf("error = %v, want SQLSTATE %s", err, tc.code)
			}
		})
	}
}

var migrations = fstest.MapFS{
	"migrations/0001_items.sql":  {Data: []byte("CREATE TABLE items (id bigint PRIMARY KEY);")},
	"migrations/0002_names.sql":  {Data: []byte("ALTER TABLE items ADD COLUMN name text NOT NULL DEFAULT '';")},
	"migrations/README.md":       {Data: []byte("not a migration")},
	"migrations/0003_counts.sql": {Data: []byte("CREATE TABLE counts (n int);")},
}

func TestMigrateIsRerunnable(t *testing.T) {
	t.Parallel()
	pool := postgrestest.New(t)
	for range 3 {
		if err := postgres.Migrate(t.Context(), pool, migrations, "items_version"); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	var version int
	if err := pool.QueryRow(t.Context(), "SELECT version FROM items_version").Scan(&version); err != nil || version != 3 {
		t.Fatalf("version = %d, %v; want 3", version, err)
	}
	if _, err := pool.Exec(t.Context(), "INSERT INTO items (id, name) VALUES (1, 'a')"); err != nil {
		t.Fatalf("migrated schema unusable: %v", err)
	}
}

// TestMigrateConcurrentReplicas starts several "replicas" at once on one
// fresh database, each with its own pool as separate processes would have.
func TestMigrateConcurrentReplicas(t *testing.T) {
	t.Parallel()
	url := postgrestest.NewDatabase(t)
	const replicas = 5
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			pool, err := postgres.Open(context.Background(), url+"&pool_max_conns=2")
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			errs[i] = postgres.Migrate(context.Background(), pool, migrations, "items_version")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	pool, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var version, tables int
	err = pool.QueryRow(t.Context(), "SELECT (SELECT version FROM items_version), (SELECT count(*) FROM pg_tables WHERE tablename IN ('items', 'counts'))").Scan(&version, &tables)
	if err != nil || version != 3 || tables != 2 {
		t.Fatalf("version %d, tables %d, %v; want 3, 2", version, tables, err)
	}
}

func TestMigrateFailureReleasesLock(t *testing.T) {
	t.Parallel()
	pool := postgrestest.New(t)
	bad := fstest.MapFS{"0001_bad.sql": {Data: []byte("CREATE TABLE broken (;")}}
	err := postgres.Migrate(t.Context(), pool, bad, "bad_version")
	if err == nil {
		t.Fatal("Migrate of invalid SQL succeeded")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42601" { // syntax_error
		t.Fatalf("error = %v, want a syntax_error", err)
	}
	// The advisory lock must not linger on a pooled session: a later
	// migration of another set would block forever.
	if err := postgres.Migrate(t.Context(), pool, migrations, "items_version"); err != nil {
		t.Fatalf("Migrate after a failed one: %v", err)
	}
}

func TestMigrateWithoutFiles(t *testing.T) {
	t.Parallel()
	pool := postgrestest.New(t)
	if err := postgres.Migrate(t.Context(), pool, fstest.MapFS{"README.md": {}}, "v"); err == nil {
		t.Fatal("Migrate with no migration files succeeded")
	}
}
