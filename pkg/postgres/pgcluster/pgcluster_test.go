package pgcluster_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/postgres/pgcluster"
)

func TestFindBinDir(t *testing.T) {
	t.Parallel()
	dir, err := pgcluster.FindBinDir()
	if err != nil {
		t.Fatalf("FindBinDir: %v", err)
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s missing from %s: %v", name, dir, err)
		}
	}
}

// TestClusterLifecycle covers the persistent-directory story the local runner
// depends on: initdb on first start, data surviving a server killed with
// SIGKILL (stale postmaster.pid), restart on a fresh port, taking over a
// server a killed runner left running, and a clean stop.
// initdb makes this the one slow test (~5 s).
func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")

	c, err := pgcluster.Start(ctx, dir, pgcluster.Options{})
	if err != nil {
		t.Fatalf("first Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop(context.WithoutCancel(ctx)) })
	if c.Port() == 0 {
		t.Fatal("Port() = 0 after start")
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatalf("no cluster in %s: %v", dir, err)
	}
	if _, err := os.Stat(dir + ".initdb"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("initdb staging directory left behind: %v", err)
	}

	for range 2 { // the second call finds the database and does nothing
		if err := pgcluster.CreateDatabase(ctx, c.URL("postgres"), "app-db"); err != nil {
			t.Fatalf("CreateDatabase: %v", err)
		}
	}
	exec(t, c.URL("app-db"), "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")

	// Kill the postmaster the hard way: its postmaster.pid stays behind.
	pid := postmasterPID(t, dir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill postmaster: %v", err)
	}
	waitDead(t, pid)

	var log syncBuffer
	c2, err := pgcluster.Start(ctx, dir, pgcluster.Options{Stdout: &log})
	if err != nil {
		t.Fatalf("Start after SIGKILL: %v", err)
	}
	t.Cleanup(func() { _ = c2.Stop(context.WithoutCancel(ctx)) })

	checkKept(t, c2.URL("app-db"))

	// A runner killed while its server lived on: the next Start stops that
	// server and takes the directory over.
	c3, err := pgcluster.Start(ctx, dir, pgcluster.Options{})
	if err != nil {
		t.Fatalf("Start over a running server: %v", err)
	}
	t.Cleanup(func() { _ = c3.Stop(context.WithoutCancel(ctx)) })
	checkKept(t, c3.URL("app-db"))
	// c2's server is gone: its Stop only waits for the log to drain and
	// must leave c3's server alone.
	if err := c2.Stop(ctx); err != nil {
		t.Fatalf("Stop of a replaced cluster: %v", err)
	}
	checkKept(t, c3.URL("app-db"))
	if !strings.Contains(log.String(), "database system is shut down") {
		t.Errorf("the earlier server was not shut down cleanly; its log:\n%s", log.String())
	}

	if err := c3.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c3.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid still present after Stop: %v", err)
	}
	if conn, err := pgx.Connect(ctx, c3.URL("postgres")); err == nil {
		conn.Close(ctx)
		t.Error("server still accepts connections after Stop")
	}
}

func checkKept(t *testing.T, url string) {
	t.Helper()
	conn := connect(t, url)
	defer conn.Close(t.Context())
	var v int
	if err := conn.QueryRow(t.Context(), "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("committed row = %d, %v; want 42", v, err)
	}
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	conn := connect(t, url)
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	return conn
}

func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitDead polls until pid has exited (or is a zombie nobody reaps).
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if _, after, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(after, "Z") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d still alive", pid)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
