package postgrestest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
)

func set(table, sql string) Migrations {
	return Migrations{
		FS:           fstest.MapFS{"0001_init.sql": {Data: []byte(sql)}},
		VersionTable: table,
	}
}

func TestNewDatabaseClonesMigratedTemplate(t *testing.T) {
	t.Parallel()
	// Unique content gives this test its own template, so the build path
	// (not only the reuse path) runs every time.
	unique := "-- " + randomHex(8) + "\nCREATE TABLE widgets (id int PRIMARY KEY);"
	sets := []Migrations{set("a_version", unique), set("b_version", "CREATE TABLE gadgets (id int);")}
	tpl, err := templateName(sets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, serverURL(t), tpl) })

	// Parallel callers race to build the one template.
	const n = 6
	names := make(chan string, n)
	t.Run("clones", func(t *testing.T) {
		for i := range n {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				conn, err := pgx.Connect(t.Context(), NewDatabase(t, sets...))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				if _, err := conn.Exec(t.Context(), "INSERT INTO widgets VALUES (1); INSERT INTO gadgets VALUES (1)"); err != nil {
					t.Errorf("clone lacks migrated tables: %v", err)
				}
				var a, b int
				var name string
				err = conn.QueryRow(t.Context(), "SELECT (SELECT version FROM a_version), (SELECT version FROM b_version), current_database()").Scan(&a, &b, &name)
				if err != nil || a != 1 || b != 1 {
					t.Errorf("versions = %d, %d, %v; want 1, 1", a, b, err)
				}
				names <- name
			})
		}
	})
	close(names)
	if got := len(slices.Compact(slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	}))); got != n {
		t.Errorf("%d distinct databases, want %d", got, n)
	}
	if !templateReady(t, t.Context(), adminConn(t), tpl) {
		t.Errorf("template %s not marked ready", tpl)
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("user", func(t *testing.T) {
		pool := New(t, set("v", "CREATE TABLE t (id int);"))
		if err := pool.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, Prefix) {
			t.Errorf("database %q lacks prefix %q", name, Prefix)
		}
	})
	if exists(t, name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestRefusesNamesWithoutPrefix(t *testing.T) {
	t.Parallel()
	admin := serverURL(t)
	for _, name := range []string{"postgres", "photoshoot", "photoshoot_test_", "billing_photoshoot_test_x"} {
		for op, f := range map[string]func(testing.TB){
			"create": func(tb testing.TB) { createDatabase(tb, admin, name, "") },
			"drop":   func(tb testing.TB) { dropDatabase(tb, admin, name) },
		} {
			rec := &fatalRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				f(rec)
			}()
			<-done
			if !rec.fataled {
				t.Errorf("%s %q: not refused", op, name)
			}
		}
	}
	if exists(t, "billing_photoshoot_test_x") {
		t.Error("refused database was created anyway")
	}
	if !exists(t, "postgres") {
		t.Error("refused drop dropped postgres")
	}
}

// fatalRecorder stands in for the test in calls that must fail: it records
// Fatal and ends the calling goroutine the way testing.T does.
type fatalRecorder struct {
	testing.TB
	fataled bool
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(string, ...any) {
	r.fataled = true
	runtime.Goexit()
}

func (r *fatalRecorder) Errorf(format string, args ...any) { r.TB.Errorf(format, args...) }

// TestThrowawayClusterFallback runs this test binary again with
// PHOTOSHOOT_TEST_DATABASE_URL unset, so the child starts its own cluster,
// migrates and clones a database on it, and exits. The parent then checks
// that the watchdog stopped that cluster and removed its directory.
func TestThrowawayClusterFallback(t *testing.T) {
	if os.Getenv("POSTGRESTEST_CHILD") == "1" {
		childUsesThrowawayCluster(t)
		return
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestThrowawayClusterFallback$", "-test.v", "-test.count=1")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, EnvURL+"=")
	}), "POSTGRESTEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dir, url string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "CLUSTER_DIR="); ok {
			dir = v
		}
		if v, ok := strings.CutPrefix(line, "CLUSTER_URL="); ok {
			url = v
		}
	}
	if dir == "" || url == "" {
		t.Fatalf("child did not report its cluster:\n%s", out)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		_, statErr := os.Stat(dir)
		conn, connErr := pgx.Connect(ctx, url)
		if connErr == nil {
			conn.Close(ctx)
		}
		if errors.Is(statErr, os.ErrNotExist) && connErr != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("throwaway cluster outlived its process: dir err %v, connect err %v", statErr, connErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func childUsesThrowawayCluster(t *testing.T) {
	pool := New(t, set("v", "CREATE TABLE t (id int); INSERT INTO t VALUES (7);"))
	var v int
	if err := pool.QueryRow(t.Context(), "SELECT id FROM t").Scan(&v); err != nil || v != 7 {
		t.Fatalf("query clone on throwaway cluster: %d, %v", v, err)
	}
	u, err := local.url()
	if err != nil || u == "" {
		t.Fatalf("local cluster not used: %q, %v", u, err)
	}
	// Printed, not logged, so the parent can parse them.
	os.Stdout.WriteString("\nCLUSTER_DIR=" + local.dir + "\nCLUSTER_URL=" + u + "\n")
}

func adminConn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exists(t *testing.T, name string) bool {
	t.Helper()
	var ok bool
	if err := adminConn(t).QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
