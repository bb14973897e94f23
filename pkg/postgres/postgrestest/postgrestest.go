// Package postgrestest gives each test its own PostgreSQL database, cloned
// from a migrated template, so store tests run in parallel against a real
// server without seeing each other's rows.
//
// The server is the one PHOTOSHOOT_TEST_DATABASE_URL points at (its database
// is used for administration only; the role must be allowed to create
// databases). When the variable is unset, the first test that needs a
// database starts one throwaway cluster for the whole test process with
// pgcluster (about 5 s for initdb), in a temporary directory.
//
// # Stopping the throwaway cluster
//
// The cluster must not outlive the test process, and `go test` gives no hook
// that runs reliably at exit: a TestMain helper is skipped when a test times
// out or panics, and finalizers never run at exit. Instead a tiny watchdog
// shell process is started next to the cluster, reading from a pipe whose
// write end only this process holds. However this process ends (normal exit,
// panic, timeout, SIGKILL) the kernel closes the pipe, the watchdog's read
// returns, and it runs `pg_ctl stop -m immediate` and removes the directory.
// Packages therefore need no TestMain.
//
// Every database this package creates or drops is named photoshoot_test_…;
// any other name is refused with t.Fatal, so a misconfigured URL can never
// cost a real database.
package postgrestest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/pkg/postgres/pgcluster"
)

// EnvURL names the variable that points tests at an existing server.
const EnvURL = "PHOTOSHOOT_TEST_DATABASE_URL"

// Prefix starts the name of every database this package creates; nothing
// without it is ever created or dropped.
const Prefix = "photoshoot_test_"

const templatePrefix = Prefix + "tpl_"

// adminTimeout bounds each administrative step (create, clone, drop). Cloning
// waits up to 5 s for the template's last session to go away.
const adminTimeout = time.Minute

// Migrations is one set of migrations to apply, as postgres.Migrate takes them.
type Migrations struct {
	// FS holds NNNN_name.sql files at its root or in migrations/.
	FS fs.FS
	// VersionTable records how far this set has been applied.
	VersionTable string
}

// NewDatabase returns the URL of a new, empty database migrated with every
// set in order, and drops it (WITH (FORCE)) when the test ends.
//
// The migrations run once per distinct content, into a template database
// named after a hash of every file; each test then clones the template, which
// is much faster than migrating. Template creation is guarded by an advisory
// lock because `go test` runs packages as parallel processes.
func NewDatabase(t testing.TB, sets ...Migrations) string {
	t.Helper()
	return newDatabase(t, serverURL(t), sets)
}

// New is NewDatabase plus a pool (postgres.Open) that is closed when the
// test ends, before the database is dropped.
func New(t testing.TB, sets ...Migrations) *pgxpool.Pool {
	t.Helper()
	dbURL := NewDatabase(t, sets...)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("postgrestest: open %s: %v", dbURL, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newDatabase(t testing.TB, adminURL string, sets []Migrations) string {
	t.Helper()
	tpl, err := templateName(sets)
	if err != nil {
		t.Fatalf("postgrestest: %v", err)
	}
	ensureTemplate(t, adminURL, tpl, sets)
	name := Prefix + randomHex(8)
	createDatabase(t, adminURL, name, tpl)
	t.Cleanup(func() { dropDatabase(t, adminURL, name) })
	return withDatabase(t, adminURL, name)
}

// templateName hashes every set's version table, file names and contents.
func templateName(sets []Migrations) (string, error) {
	h := sha256.New()
	for _, s := range sets {
		fmt.Fprintf(h, "set %q\n", s.VersionTable)
		err := fs.WalkDir(s.FS, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(s.FS, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "file %q %d\n", path, len(data))
			h.Write(data)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("hash migrations %s: %w", s.VersionTable, err)
		}
	}
	return templatePrefix + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// ensureTemplate creates and migrates the template unless a finished one
// exists. A template counts as finished once it is marked IS_TEMPLATE, which
// happens only after every migration succeeded, so a process that died
// half-way leaves an unmarked database that the next one rebuilds.
func ensureTemplate(t testing.TB, adminURL, tpl string, sets []Migrations) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn := connect(t, ctx, adminURL)
	defer conn.Close(context.Background())

	if templateReady(t, ctx, conn, tpl) {
		return
	}
	sum := sha256.Sum256([]byte(tpl))
	lockKey := int64(binary.BigEndian.Uint64(sum[:8]))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		t.Fatalf("postgrestest: lock template %s: %v", tpl, err)
	}
	defer func() { _, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey) }()
	if templateReady(t, ctx, conn, tpl) { // another process built it while we waited
		return
	}

	dropDatabase(t, adminURL, tpl) // an unfinished leftover
	createDatabase(t, adminURL, tpl, "")
	pool, err := postgres.Open(ctx, withDatabase(t, adminURL, tpl))
	if err != nil {
		t.Fatalf("postgrestest: open template %s: %v", tpl, err)
	}
	for _, s := range sets {
		if err := postgres.Migrate(ctx, pool, s.FS, s.VersionTable); err != nil {
			pool.Close()
			t.Fatalf("postgrestest: migrate template %s: %v", tpl, err)
		}
	}
	pool.Close()
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{tpl}.Sanitize()+" WITH IS_TEMPLATE true"); err != nil {
		t.Fatalf("postgrestest: mark template %s: %v", tpl, err)
	}
}

func templateReady(t testing.TB, ctx context.Context, conn *pgx.Conn, tpl string) bool {
	t.Helper()
	var ready bool
	err := conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", tpl).Scan(&ready)
	if errors.Is(err, pgx.ErrNoRows) {
		return false
	}
	if err != nil {
		t.Fatalf("postgrestest: look up template %s: %v", tpl, err)
	}
	return ready
}

// createDatabase creates name, as a clone of template when one is given.
func createDatabase(t testing.TB, adminURL, name, template string) {
	t.Helper()
	refuseUnprefixed(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn := connect(t, ctx, adminURL)
	defer conn.Close(context.Background())
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		// The default strategy (WAL_LOG since PostgreSQL 15) measured faster
		// than FILE_COPY here for parallel clones: FILE_COPY forces a
		// checkpoint per clone, and the checkpoints queue up.
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("postgrestest: create database %s: %v", name, err)
	}
}

// dropDatabase drops name if it exists, disconnecting anyone still on it.
func dropDatabase(t testing.TB, adminURL, name string) {
	t.Helper()
	refuseUnprefixed(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn := connect(t, ctx, adminURL)
	defer conn.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	// A template cannot be dropped until it is unmarked.
	_, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE false")
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "3D000") { // invalid_catalog_name: no such database
		t.Errorf("postgrestest: unmark template %s: %v", name, err)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		t.Errorf("postgrestest: drop database %s: %v", name, err)
	}
}

func refuseUnprefixed(t testing.TB, name string) {
	t.Helper()
	if !strings.HasPrefix(name, Prefix) || name == Prefix {
		t.Fatalf("postgrestest: refusing to create or drop database %q: test databases must be named %s…", name, Prefix)
	}
}

func connect(t testing.TB, ctx context.Context, adminURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("postgrestest: connect to the test server: %v (set %s to a server you may create databases on, or unset it to start a throwaway one)", err, EnvURL)
	}
	return conn
}

// withDatabase returns adminURL pointing at database name instead.
func withDatabase(t testing.TB, adminURL, name string) string {
	t.Helper()
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("postgrestest: %s must be a postgres:// URL", EnvURL)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// serverURL returns the administrative URL of the test server.
func serverURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	u, err := local.url()
	if err != nil {
		t.Fatalf("postgrestest: %s is unset and no throwaway server could be started: %v", EnvURL, err)
	}
	return u
}

// local is the process's throwaway cluster, started at most once.
var local localCluster

type localCluster struct {
	once sync.Once
	dir  string
	uri  string
	err  error
	// lifeline is the write end of the watchdog's pipe. It must stay
	// reachable for the life of the process: if it were garbage collected
	// its finalizer would close it and the watchdog would stop the cluster.
	lifeline *os.File
}

func (l *localCluster) url() (string, error) {
	l.once.Do(func() { l.uri, l.err = l.start() })
	return l.uri, l.err
}

func (l *localCluster) start() (string, error) {
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		return "", err
	}
	l.dir, err = os.MkdirTemp("", "photoshoot-pgtest-")
	if err != nil {
		return "", fmt.Errorf("create cluster directory: %w", err)
	}
	data := filepath.Join(l.dir, "data")
	if err := l.startWatchdog(bin, data); err != nil {
		_ = os.RemoveAll(l.dir)
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, data, pgcluster.Options{})
	if err != nil {
		return "", err
	}
	return c.URL("postgres"), nil
}

// startWatchdog starts the process that stops the cluster and deletes its
// directory once this process is gone (see the package documentation). It
// runs in its own process group so a Ctrl-C aimed at `go test` leaves it
// alive to clean up.
func (l *localCluster) startWatchdog(bin, data string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create watchdog pipe: %w", err)
	}
	stop := []string{filepath.Join(bin, "pg_ctl"), "stop", "-D", data, "-m", "immediate", "-w"}
	if os.Geteuid() == 0 {
		stop = append([]string{"runuser", "-u", "postgres", "--"}, stop...)
	}
	script := `read -r _; dir=$1; shift; "$@" >/dev/null 2>&1; rm -rf -- "$dir"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "postgrestest-watchdog", l.dir}, stop...)...)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("start cluster watchdog: %w", err)
	}
	r.Close()
	l.lifeline = w
	// Reap the watchdog if it ever ends first; it normally outlives us.
	go func() { _ = cmd.Wait() }()
	return nil
}
