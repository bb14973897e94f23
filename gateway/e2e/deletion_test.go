package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// services are the databases of the suite (photoshoot-local names them
// photoshoot_<service>).
var services = []string{"account", "billing", "media", "analysis", "generation"}

// kept is what may still name a deleted user, and why. Everything else in
// every service's database must be gone.
var kept = map[string]string{
	// The deletion's own bookkeeping: the request, each service's
	// confirmation, and the user row it references, emptied to a tombstone.
	"account.users":                  "tombstone: id and timestamps only",
	"account.deletions":              "the deletion request and its completion",
	"account.deletion_confirmations": "each service's confirmation",
	// Billing keeps its ledger for retention (issue #4): balanced,
	// append-only rows keyed by the random user id, which now maps to
	// nothing personal; the billing details are blanked, and the email
	// appears nowhere (checked separately).
	"billing.accounts":        "ledger account, closed",
	"billing.transactions":    "ledger, kept for retention",
	"billing.entries":         "ledger, kept for retention",
	"billing.holds":           "ledger, kept for retention",
	"billing.hold_ends":       "ledger, kept for retention",
	"billing.purchases":       "purchase records, kept for retention",
	"billing.billing_details": "blanked: the user id only",
}

// transport reports whether table is an event transport log: events carry
// the user id (and the farewell mail's address) to their consumers; the
// outbox keeps published rows and the inbox processed ids for a bounded
// retention (pkg/events), then prunes them.
func transport(table string) bool {
	return strings.HasSuffix(table, ".outbox") || strings.HasSuffix(table, ".inbox")
}

// TestDeleteAccountPurgesEveryService: a seller with data in every service
// (sessions, an API key, an upload with its analysis and mask, a generated
// image, credits spent) deletes the account; afterwards no table of any
// service names the user or the email (beyond the kept bookkeeping above,
// billing's ledger stays balanced but anonymised), and every file media
// wrote for the user is gone.
func TestDeleteAccountPurgesEveryService(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 5*time.Minute)
	email := newEmail("purge")
	signIn(t, ctx, email)
	userID := eval[string](t, ctx, `fetch('/v1/me').then((r) => r.json()).then((b) => b.user.id)`)
	dbs := map[string]*pgx.Conn{}
	for _, svc := range services {
		dbs[svc] = connect(t, svc)
	}

	// Data in every service, through the REST API as the web app does it.
	js := func(what, expr string) string {
		t.Helper()
		out := eval[string](t, ctx, `(async () => { try { `+expr+` } catch (e) { return 'ERROR ' + e; } })()`)
		if strings.HasPrefix(out, "ERROR") {
			t.Fatalf("%s: %s", what, out)
		}
		return out
	}
	js("create an API key", `const r = await fetch('/v1/api-keys', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name: 'purge'})});
		if (!r.ok) throw await r.text(); return 'ok';`)
	imageID := js("upload a photo", `const c = document.createElement('canvas'); c.width = 320; c.height = 240;
		const g = c.getContext('2d'); g.fillStyle = '#f4f4f2'; g.fillRect(0, 0, 320, 240); g.fillStyle = '#b5442c'; g.fillRect(120, 50, 80, 150);
		const blob = await new Promise((res) => c.toBlob(res, 'image/jpeg', 0.9));
		const r = await fetch('/v1/images', {method: 'POST', headers: {'Content-Type': 'image/jpeg'}, body: blob});
		if (!r.ok) throw await r.text(); return (await r.json()).id;`)
	jobID := js("generate one image", fmt.Sprintf(`const r = await fetch('/v1/generations', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({imageId: %q, sceneId: 'marble', variants: 1, aspectRatio: '1:1', size: '1K'})});
		if (!r.ok) throw await r.text(); return (await r.json()).job.id;`, imageID))
	waitFor(t, ctx, "the generation", fmt.Sprintf(`fetch('/v1/generations/%s').then((r) => r.json()).then((b) => b.job.state === 'JOB_STATE_SUCCEEDED')`, jobID), 3*time.Minute)
	waitFor(t, ctx, "the analysis", fmt.Sprintf(`fetch('/v1/images/%s/analysis').then((r) => r.ok)`, imageID), time.Minute)
	if rows := mentions(t, dbs, userID); len(rows) < 5 {
		t.Fatalf("before deletion only %v name the user: the test did not create data in every service", rows)
	}
	// Media keeps a user's files under users/<id>/ (other tests' users
	// write beside them meanwhile).
	userDir := filepath.Join(env.data, "media", "users", userID)
	if blobs := files(t, userDir); len(blobs) < 3 {
		t.Fatalf("media wrote %d files for the upload, mask and output: %v", len(blobs), blobs)
	}

	js("delete the account", `const r = await fetch('/v1/me', {method: 'DELETE', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({confirmation: 'delete my account'})});
		if (!r.ok) throw await r.text(); return 'ok';`)

	deadline := time.Now().Add(90 * time.Second)
	for {
		left := slices.DeleteFunc(mentions(t, dbs, userID), func(table string) bool {
			_, ok := kept[table]
			return ok || transport(table)
		})
		// The email is personal data: nothing but the transport logs may
		// hold it, not even the kept bookkeeping.
		for _, table := range mentions(t, dbs, email) {
			if !transport(table) {
				left = append(left, table+" (the email)")
			}
		}
		var remaining []string
		if exists(userDir) {
			remaining = files(t, userDir)
		}
		if len(left) == 0 && len(remaining) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("90s after deleting the account, still naming the user: %v; media files left: %v", left, remaining)
		}
		time.Sleep(500 * time.Millisecond) // polling interval
	}
	var email2 int
	if err := dbs["account"].QueryRow(t.Context(), `SELECT count(*) FROM users WHERE id = $1 AND email IS NOT NULL AND email <> ''`, userID).Scan(&email2); err == nil && email2 > 0 {
		t.Error("the account tombstone still holds the email")
	}
}

// mentions lists the service.table names with a row whose text contains
// needle (bytea columns included, decoded as text).
func mentions(t *testing.T, dbs map[string]*pgx.Conn, needle string) []string {
	t.Helper()
	var found []string
	for _, svc := range services {
		db := dbs[svc]
		rows, err := db.Query(t.Context(), `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range tables {
			cols, err := db.Query(t.Context(), `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`, table)
			if err != nil {
				t.Fatal(err)
			}
			var text []string
			for cols.Next() {
				var name, typ string
				if err := cols.Scan(&name, &typ); err != nil {
					t.Fatal(err)
				}
				if typ == "bytea" {
					text = append(text, fmt.Sprintf("encode(%s, 'escape')", pgx.Identifier{name}.Sanitize()))
				} else {
					text = append(text, pgx.Identifier{name}.Sanitize()+"::text")
				}
			}
			if cols.Err() != nil {
				t.Fatal(cols.Err())
			}
			q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE concat_ws(' ', %s) ILIKE '%%' || $1 || '%%'`,
				pgx.Identifier{table}.Sanitize(), strings.Join(text, ", "))
			var n int
			if err := db.QueryRow(t.Context(), q, needle).Scan(&n); err != nil {
				t.Fatalf("scan %s.%s: %v", svc, table, err)
			}
			if n > 0 {
				found = append(found, svc+"."+table)
			}
		}
	}
	return found
}

// connect opens the suite's database of svc for the test.
func connect(t *testing.T, svc string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(env.suite.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "photoshoot_" + svc
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("connect to %s: %v", cfg.Database, err)
	}
	t.Cleanup(func() { conn.Close(context.WithoutCancel(t.Context())) })
	return conn
}

// files lists the regular files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
