package store_test

import (
	"context"
	"errors"
	"image"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/analysis/internal/analysis"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer"
	"github.com/connectengine/photoshoot/services/analysis/internal/store"
)

func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool := postgrestest.New(t,
		postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
		postgrestest.Migrations{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable},
	)
	return store.New(pool), pool
}

var local1 = analyzer.Provider{Name: "local", Version: "seg-1"}

func sample(userID, imageID string, p analyzer.Provider, at time.Time) analysis.Analysis {
	return analysis.Analysis{
		ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, ImageID: imageID, Provider: p,
		State: analysis.StateSucceeded, MaskImageID: "mask-" + imageID, CreateTime: at.UTC().Truncate(time.Microsecond),
		Result: analyzer.Result{
			Title: "Red bottle", Category: "product",
			Palette:    []analyzer.Color{{Hex: "#aa0000", Name: "red", Share: 0.7}},
			Texts:      []analyzer.Text{{Text: "OLIVE", Kind: analyzer.TextLabel}},
			Background: analyzer.Background{Kind: analyzer.BackgroundWhite, Color: "#fafafa", Uniformity: 0.9},
			Box:        image.Rect(10, 20, 110, 220),
			Scenes:     []analyzer.ScenePrompt{{SceneID: "marble", Prompt: "p", Constraints: []string{"c"}}},
			Usage:      analyzer.Usage{RequestID: "req_1", InputTokens: 10, OutputTokens: 5},
		},
	}
}

func TestSaveFindRoundTripAndOwnership(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := t.Context()
	a := sample("u1", "img1", local1, time.Now())
	ev := events.NewEvent(events.SubjectAnalysisCompleted, &eventsv1.AnalysisCompleted{AnalysisId: a.ID})
	if err := st.Save(ctx, a, ev); err != nil {
		t.Fatal(err)
	}
	got, err := st.Find(ctx, "u1", "img1", local1)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.Result.Title != a.Result.Title || got.Result.Box != a.Result.Box ||
		len(got.Result.Texts) != 1 || got.Result.Texts[0] != a.Result.Texts[0] || got.Result.Usage != a.Result.Usage ||
		!got.CreateTime.Equal(a.CreateTime) || got.Result.Background != a.Result.Background {
		t.Errorf("round trip: got %+v\nwant %+v", got, a)
	}
	if _, err := st.Find(ctx, "u2", "img1", local1); !errors.Is(err, analysis.ErrNotFound) {
		t.Errorf("other user's Find: %v, want ErrNotFound", err)
	}
	if _, err := st.Latest(ctx, "u2", "img1"); !errors.Is(err, analysis.ErrNotFound) {
		t.Errorf("other user's Latest: %v, want ErrNotFound", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE id = $1`, ev.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("outbox rows for the event: %d, %v", n, err)
	}
}

func TestOneAnalysisPerProviderVersion(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := t.Context()
	now := time.Now()
	first := sample("u1", "img1", local1, now)
	redo := sample("u1", "img1", local1, now.Add(time.Second))
	redo.Result.Title = "Redone"
	claude := sample("u1", "img1", analyzer.Provider{Name: "claude", Version: "m+seg-1"}, now.Add(2*time.Second))
	for _, a := range []analysis.Analysis{first, redo, claude} {
		if err := st.Save(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Find(ctx, "u1", "img1", local1)
	if err != nil || got.Result.Title != "Redone" {
		t.Errorf("Find after redo: %q, %v", got.Result.Title, err)
	}
	latest, err := st.Latest(ctx, "u1", "img1")
	if err != nil || latest.Provider.Name != "claude" {
		t.Errorf("Latest: %+v, %v", latest.Provider, err)
	}
	all, err := st.ListUser(ctx, "u1")
	if err != nil || len(all) != 2 {
		t.Errorf("ListUser: %d, %v; want 2", len(all), err)
	}
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := t.Context()
	for _, a := range []analysis.Analysis{sample("gone", "a", local1, time.Now()), sample("gone", "b", local1, time.Now()), sample("stays", "c", local1, time.Now())} {
		if err := st.Save(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) (err error) {
		n, err = store.DeleteUser(ctx, tx, "gone")
		return err
	})
	if err != nil || n != 2 {
		t.Fatalf("DeleteUser: %d, %v", n, err)
	}
	for user, want := range map[string]int{"gone": 0, "stays": 1} {
		if all, err := st.ListUser(context.WithoutCancel(ctx), user); err != nil || len(all) != want {
			t.Errorf("%s: %d analyses, %v; want %d", user, len(all), err, want)
		}
	}
}

// TestLockTakesTurns: one analysis of an image by a provider version at a
// time; other images and versions are not held up, and a caller can give
// up waiting.
func TestLockTakesTurns(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	p := analyzer.Provider{Name: "local", Version: "seg-1"}
	_, unlock, err := st.Lock(t.Context(), "u1", "img-1", p)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := st.Lock(ctx, "u1", "img-1", p); err == nil {
		t.Fatal("a second Lock of the same image got in while the first held it")
	}
	for _, other := range []struct {
		image string
		p     analyzer.Provider
	}{{"img-2", p}, {"img-1", analyzer.Provider{Name: "claude", Version: "m+seg-1"}}} {
		_, u, err := st.Lock(t.Context(), "u1", other.image, other.p)
		if err != nil {
			t.Fatalf("Lock %s by %v: %v", other.image, other.p, err)
		}
		u()
	}

	got := make(chan error, 1)
	go func() {
		_, u, err := st.Lock(t.Context(), "u1", "img-1", p)
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Errorf("Lock after unlock: %v", err)
	}
}

// TestLockedTurnNeedsOneConnection: a turn reads and writes on its lock's
// connection, so turns holding every connection of the pool still finish
// (on a pool of one, a second connection would never come).
func TestLockedTurnNeedsOneConnection(t *testing.T) {
	t.Parallel()
	url := postgrestest.NewDatabase(t,
		postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
		postgrestest.Migrations{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable},
	)
	pool, err := pgxpool.New(t.Context(), url+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	locked, unlock, err := store.New(pool).Lock(ctx, "u1", "img-1", local1)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := locked.Save(ctx, sample("u1", "img-1", local1, time.Now())); err != nil {
		t.Fatalf("Save in the turn: %v", err)
	}
	if _, err := locked.Find(ctx, "u1", "img-1", local1); err != nil {
		t.Fatalf("Find in the turn: %v", err)
	}
}
