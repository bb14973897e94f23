package events_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
)

// effectsMigrations stand for a service's own schema: one row per event
// handled, with a counter that shows any second application.
var effectsMigrations = postgrestest.Migrations{
	FS: fstest.MapFS{"0001_effects.sql": {Data: []byte(
		"CREATE TABLE effects (event_id text PRIMARY KEY, n int NOT NULL, value bigint NOT NULL);")}},
	VersionTable: "effects_version",
}

var eventsMigrations = postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable}

// env is one service's worth of infrastructure: its database and a NATS server.
type env struct {
	pool *pgxpool.Pool
	nats *eventstest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{pool: postgrestest.New(t, eventsMigrations, effectsMigrations), nats: eventstest.New(t)}
	if err := events.EnsureStreams(t.Context(), e.jetStream(t), 1); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return e
}

// jetStream opens a fresh connection, as a separate service replica would.
func (e *env) jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := events.Connect(e.nats.URL(), t.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return js
}

// appendEvents commits evs in one transaction.
func (e *env) appendEvents(t *testing.T, ctx context.Context, evs ...events.Event) {
	t.Helper()
	if err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { return events.Append(ctx, tx, evs...) }); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// background runs fn until stop is called or the test ends, and reports
// what fn returned. Every Run here must return once its context ends.
func background(t *testing.T, fn func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Go(func() { err = fn(ctx) })
	var once sync.Once
	stop = func() error {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	return stop
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}

// effectsHandler upserts one effects row per event: n > 1 would mean the
// event's effects were applied twice.
func effectsHandler(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	var v wrapperspb.Int64Value
	if err := msg.Unmarshal(&v); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO effects (event_id, n, value) VALUES ($1, 1, $2)
		ON CONFLICT (event_id) DO UPDATE SET n = effects.n + 1`, msg.ID, v.GetValue())
	return err
}

// consumerInfo returns the consumer's state, or nil while it does not exist
// yet (consumers are created asynchronously by Run).
func consumerInfo(t *testing.T, js jetstream.JetStream, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream, durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("consumer %s: %v", durable, err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatalf("consumer %s info: %v", durable, err)
	}
	return info
}
