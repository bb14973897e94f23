package events_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
)

// TestOutboxDeliversEveryEventOnceThroughOutage writes 1,000 events from
// concurrent transactions while NATS goes down and comes back, with two
// relays, consumer replicas that come and go, handlers that fail on first
// delivery of some events, and finally a full replay of the stream. Every
// event must be handled, and its effects applied exactly once.
func TestOutboxDeliversEveryEventOnceThroughOutage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	e := newEnv(t)

	relayOpts := events.RelayOptions{Batch: 50, PollInterval: 100 * time.Millisecond, ClaimTTL: 4 * time.Second, MaxBackoff: 200 * time.Millisecond}
	for range 2 {
		background(t, events.NewRelay(e.pool, e.jetStream(t), testLogger(t), relayOpts).Run)
	}

	var handled atomic.Int64 // handler runs that committed or failed on purpose
	failFirst := func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		if err := effectsHandler(ctx, tx, msg); err != nil {
			return err
		}
		handled.Add(1)
		var v wrapperspb.Int64Value
		if err := msg.Unmarshal(&v); err != nil {
			return err
		}
		if v.GetValue()%10 == 0 && msg.NumDelivered == 1 {
			return errors.New("transient failure after writing effects") // must roll back
		}
		return nil
	}
	cfg := events.ConsumerConfig{
		Stream: events.StreamAccount, Durable: "effects", FilterSubjects: []string{events.SubjectUserCreated},
		MaxDeliver: 5, AckWait: 5 * time.Second, Backoff: []time.Duration{10 * time.Millisecond}, Handler: failFirst,
	}
	startConsumer := func() func() error {
		return background(t, events.NewConsumer(e.pool, e.jetStream(t), testLogger(t), cfg).Run)
	}
	stopA := startConsumer()
	startConsumer()

	const writers, txsPerWriter, perTx = 4, 25, 10
	const total = writers * txsPerWriter * perTx
	var written atomic.Int64
	outage := make(chan struct{}) // closed once NATS is down
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range txsPerWriter {
				if i == txsPerWriter*2/5 {
					<-outage // 40% written before the outage, the rest during it
				}
				evs := make([]events.Event, perTx)
				for j := range evs {
					n := int64((w*txsPerWriter+i)*perTx + j)
					evs[j] = events.NewEvent(events.SubjectUserCreated, wrapperspb.Int64(n))
				}
				if err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { return events.Append(ctx, tx, evs...) }); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				written.Add(perTx)
			}
		})
	}

	effects := func() int { return e.count(t, "SELECT count(*) FROM effects") }
	eventually(t, 30*time.Second, "some events handled before the outage", func() bool { return effects() >= 100 })
	e.nats.Stop()
	close(outage)
	wg.Wait()
	if written.Load() != total {
		t.Fatalf("wrote %d events, want %d", written.Load(), total)
	}
	// Keep NATS down until a relay has seen a publish fail, so the outage
	// is more than a blip the client's reconnect buffer hides.
	eventually(t, 30*time.Second, "a relay to record a failed publish", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE last_error IS NOT NULL AND published_at IS NULL") > 0
	})
	// One replica goes away during the outage; a new one starts.
	if err := stopA(); err != nil {
		t.Errorf("consumer Run: %v", err)
	}
	e.nats.Restart(t)
	startConsumer()

	eventually(t, 60*time.Second, "every event handled", func() bool { return effects() == total })
	if n := e.count(t, "SELECT count(*) FROM effects WHERE n <> 1"); n != 0 {
		t.Errorf("%d events had their effects applied more than once", n)
	}
	if n := e.count(t, "SELECT count(DISTINCT value) FROM effects"); n != total {
		t.Errorf("%d distinct payloads handled, want %d", n, total)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL"); n != 0 {
		t.Errorf("%d outbox rows unpublished", n)
	}
	if n := e.count(t, "SELECT count(*) FROM inbox WHERE consumer = 'effects'"); n != total {
		t.Errorf("inbox holds %d events, want %d", n, total)
	}

	// Replay: recreate the durable from the start of the stream. Every
	// message is redelivered, and every one must be recognised as done.
	js := e.jetStream(t)
	if err := js.DeleteConsumer(ctx, events.StreamAccount, "effects"); err != nil {
		t.Fatalf("delete consumer: %v", err)
	}
	before := handled.Load()
	startConsumer()
	stream, err := js.Stream(ctx, events.StreamAccount)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != total {
		t.Errorf("stream holds %d messages, want %d (Nats-Msg-Id de-duplication)", info.State.Msgs, total)
	}
	eventually(t, 30*time.Second, "the replay to be acknowledged", func() bool {
		c, err := js.Consumer(ctx, events.StreamAccount, "effects")
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.AckFloor.Stream == info.State.LastSeq && ci.NumAckPending == 0
	})
	if got := handled.Load(); got != before {
		t.Errorf("handler ran %d times during the replay, want 0", got-before)
	}
	if n := e.count(t, "SELECT count(*) FROM effects WHERE n <> 1"); n != 0 {
		t.Errorf("%d events applied twice after the replay", n)
	}
}

// TestRelayTakesOverExpiredClaim leaves a row claimed by a relay that died
// before publishing; another relay must publish it once the lease runs out,
// and not before.
func TestRelayTakesOverExpiredClaim(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	ev := events.NewEvent(events.SubjectUserDeleted, wrapperspb.String("gone"))
	e.appendEvents(t, ctx, ev)
	var leaseEnd time.Time
	err := e.pool.QueryRow(ctx, `UPDATE outbox SET claimed_until = now() + interval '700 milliseconds', attempts = attempts + 1
		WHERE id = $1 RETURNING claimed_until`, ev.ID).Scan(&leaseEnd)
	if err != nil {
		t.Fatal(err)
	}

	js := e.jetStream(t)
	background(t, events.NewRelay(e.pool, js, testLogger(t), events.RelayOptions{PollInterval: 50 * time.Millisecond}).Run)

	var published *time.Time
	var attempts int
	eventually(t, 15*time.Second, "the abandoned row to be published", func() bool {
		err := e.pool.QueryRow(ctx, "SELECT published_at, attempts FROM outbox WHERE id = $1", ev.ID).Scan(&published, &attempts)
		if err != nil {
			t.Fatal(err)
		}
		return published != nil
	})
	if published.Before(leaseEnd) {
		t.Errorf("published at %s, before the dead relay's lease ended at %s", published, leaseEnd)
	}
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2 (the dead relay's claim and the takeover)", attempts)
	}
	stream, err := js.Stream(ctx, events.StreamAccount)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, events.SubjectUserDeleted)
	if err != nil {
		t.Fatalf("message not in stream: %v", err)
	}
	if got := msg.Header.Get(jetstream.MsgIDHeader); got != ev.ID {
		t.Errorf("Nats-Msg-Id = %q, want the event id %q", got, ev.ID)
	}
}

// TestRelaysShareRowsWithoutDoublePublishing runs three relays over one
// outbox: each row must be claimed exactly once (attempts = 1).
func TestRelaysShareRowsWithoutDoublePublishing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	const total = 300
	for i := range total / 10 {
		evs := make([]events.Event, 10)
		for j := range evs {
			evs[j] = events.NewEvent(events.SubjectImageUploaded, wrapperspb.Int64(int64(i*10+j)))
		}
		e.appendEvents(t, ctx, evs...)
	}
	for range 3 {
		background(t, events.NewRelay(e.pool, e.jetStream(t), testLogger(t), events.RelayOptions{Batch: 10, PollInterval: 50 * time.Millisecond}).Run)
	}
	eventually(t, 30*time.Second, "every row published", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
	})
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE attempts <> 1"); n != 0 {
		t.Errorf("%d rows claimed more than once", n)
	}
	stream, err := e.jetStream(t).Stream(ctx, events.StreamMedia)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != total {
		t.Errorf("stream holds %d messages, want %d", info.State.Msgs, total)
	}
}

// TestAppendRollbackPublishesNothing checks that events are tied to their
// transaction.
func TestAppendRollbackPublishesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	errAbort := errors.New("abort")
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if err := events.Append(ctx, tx, events.NewEvent(events.SubjectUserCreated, wrapperspb.Int64(1))); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("BeginFunc = %v", err)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox"); n != 0 {
		t.Errorf("rolled-back transaction left %d outbox rows", n)
	}

	// An ID already in the outbox is a no-op, so enqueueing is idempotent.
	ev := events.NewEvent(events.SubjectUserCreated, wrapperspb.Int64(2))
	e.appendEvents(t, ctx, ev)
	e.appendEvents(t, ctx, ev)
	if n := e.count(t, "SELECT count(*) FROM outbox"); n != 1 {
		t.Errorf("outbox rows = %d after appending one event twice, want 1", n)
	}

	bad := []events.Event{
		{ID: "not-a-uuid", Subject: events.SubjectUserCreated, Payload: wrapperspb.Int64(1)},
		{ID: ev.ID, Subject: "", Payload: wrapperspb.Int64(1)},
		{ID: ev.ID, Subject: events.SubjectUserCreated},
	}
	for _, b := range bad {
		err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { return events.Append(ctx, tx, b) })
		if err == nil {
			t.Errorf("Append(%+v) succeeded", b)
		}
	}
}

func TestMigrationsAreRerunnable(t *testing.T) {
	t.Parallel()
	pool := postgrestest.New(t)
	for range 3 {
		if err := postgres.Migrate(t.Context(), pool, events.Migrations, events.MigrationsVersionTable); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	var version int
	if err := pool.QueryRow(t.Context(), "SELECT version FROM "+events.MigrationsVersionTable).Scan(&version); err != nil || version != 1 {
		t.Fatalf("version = %d, %v; want 1", version, err)
	}
}

// TestRelaySurvivesLostDatabaseConnections kills every server session of the
// relay (pool and LISTEN connection) between two events: it must carry on.
func TestRelaySurvivesLostDatabaseConnections(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	// The relay gets a pool of its own, tagged, so only its sessions die.
	cfg := e.pool.Config()
	cfg.ConnConfig.RuntimeParams["application_name"] = "doomed-relay"
	relayPool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(relayPool.Close)
	background(t, events.NewRelay(relayPool, e.jetStream(t), testLogger(t),
		events.RelayOptions{PollInterval: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}).Run)
	published := func(id string) func() bool {
		return func() bool {
			return e.count(t, "SELECT count(*) FROM outbox WHERE id = $1 AND published_at IS NOT NULL", id) == 1
		}
	}
	first := events.NewEvent(events.SubjectCreditsGranted, wrapperspb.Int64(1))
	e.appendEvents(t, ctx, first)
	eventually(t, 10*time.Second, "the first event published", published(first.ID))

	if n := e.count(t, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'doomed-relay'`); n < 2 {
		t.Fatalf("terminated %d relay sessions, want the pool's and the LISTEN one", n)
	}
	second := events.NewEvent(events.SubjectCreditsGranted, wrapperspb.Int64(2))
	e.appendEvents(t, ctx, second)
	eventually(t, 10*time.Second, "the second event published after the sessions died", published(second.ID))
}
