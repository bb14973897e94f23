// Package postgres opens traced connection pools and applies embedded SQL
// migrations. Services own one database each; this package holds only the
// plumbing every one of them repeats.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// defaultMaxConns is the pool size unless the URL sets pool_max_conns; on two
// cores 16 beat both 4 and 64 (see TOOLCHAIN.md).
const defaultMaxConns = 16

// Open connects a pool to url and pings the server, so a bad URL or an
// unreachable server fails at start-up rather than on the first request.
// Every query becomes an OpenTelemetry span through otelpgx, using the global
// tracer provider.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	cfg.ConnConfig.Tracer = otelpgx.NewTracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool for %s: %w", describe(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping %s: %w", describe(cfg), err)
	}
	return pool, nil
}

// describe names the server and database without the password, for errors.
func describe(cfg *pgxpool.Config) string {
	return fmt.Sprintf("postgres %s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// migrationFile is tern's naming rule: a sequence number, an underscore, a name.
var migrationFile = regexp.MustCompile(`^\d+_.+\.sql$`)

// Migrate brings the database up to the newest migration in migrations, a
// directory of NNNN_name.sql files, recording progress in versionTable. The
// files may sit at the root of migrations or in a "migrations" directory
// inside it, which is what `//go:embed migrations/*.sql` produces.
//
// Several replicas may start at once: tern holds a session advisory lock
// (pg_advisory_lock) while it reads the version and applies migrations, so
// the first replica migrates and the others wait, then find nothing to do.
// Each migration runs in its own transaction together with its version bump.
// Several sets (a service's own and the events outbox) can share a database
// as long as their version tables differ.
func Migrate(ctx context.Context, pool *pgxpool.Pool, migrations fs.FS, versionTable string) (err error) {
	dir, err := migrationsRoot(migrations)
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection to migrate %s: %w", versionTable, err)
	}
	defer func() {
		if err != nil {
			// A failed migration may leave the advisory lock or an aborted
			// transaction on this session; never hand it back to the pool.
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
			return
		}
		conn.Release()
	}()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("prepare migrator %s: %w", versionTable, err)
	}
	if err := m.LoadMigrations(dir); err != nil {
		return fmt.Errorf("load migrations %s: %w", versionTable, err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", versionTable, err)
	}
	return nil
}

// migrationsRoot returns the directory of fsys that holds migration files.
func migrationsRoot(fsys fs.FS) (fs.FS, error) {
	hasFiles := func(f fs.FS) (bool, error) {
		entries, err := fs.ReadDir(f, ".")
		if err != nil {
			return false, err
		}
		for _, e := range entries {
			if !e.IsDir() && migrationFile.MatchString(e.Name()) {
				return true, nil
			}
		}
		return false, nil
	}
	ok, err := hasFiles(fsys)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	if ok {
		return fsys, nil
	}
	sub, err := fs.Sub(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	ok, err = hasFiles(sub)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	if !ok {
		return nil, errors.New("no NNNN_name.sql migration files at the root or in migrations/")
	}
	return sub, nil
}
