package events

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// Retention of published outbox rows: long enough to investigate a problem,
// short enough that the table stays small.
const (
	outboxRetention = 7 * 24 * time.Hour
	pruneInterval   = time.Hour
	pruneChunk      = 10_000
	maxAckWait      = 5 * time.Second
	minBackoff      = 100 * time.Millisecond
)

// RelayOptions tunes a Relay; zero values take the defaults noted.
type RelayOptions struct {
	// Batch is how many rows one claim takes (default 100).
	Batch int
	// PollInterval is how often the outbox is scanned when no
	// notification arrives (default 1 s). It bounds the delay for rows
	// whose notification was missed and for rows whose lease expired.
	PollInterval time.Duration
	// ClaimTTL is the lease on claimed rows (default 30 s). If a relay dies
	// holding rows, another publishes them once the lease runs out. It
	// must comfortably exceed the time to publish one batch.
	ClaimTTL time.Duration
	// MaxBackoff caps the pause after errors (default 30 s).
	MaxBackoff time.Duration
	// MeterProvider receives the outbox gauges while Run runs; the global
	// one when nil.
	MeterProvider metric.MeterProvider
}

func (o RelayOptions) withDefaults() RelayOptions {
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	return o
}

// Relay publishes outbox rows to JetStream. Run one per service replica:
// replicas claim disjoint rows (FOR UPDATE SKIP LOCKED plus a lease), so they
// do not publish the same row twice in normal operation. After a crash the
// lease expires and another relay re-publishes; the event ID as Nats-Msg-Id
// lets JetStream drop that duplicate within its window, and consumers'
// inboxes catch any later one.
type Relay struct {
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	logger *slog.Logger
	opt    RelayOptions
	wake   chan struct{}
}

// NewRelay returns a relay over the outbox in pool's database.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger, opt RelayOptions) *Relay {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{pool: pool, js: js, logger: logger, opt: opt.withDefaults(), wake: make(chan struct{}, 1)}
}

// Run publishes until ctx is cancelled, then finishes the batch in flight and
// returns nil. It wakes on NOTIFY from Append (over a dedicated connection)
// and polls as a fallback. Database and NATS errors are logged and retried
// with exponential backoff; they never end Run, so events wait in Postgres
// while NATS is down. While it runs, the outbox's depth and age are
// observable gauges (see observeOutbox).
func (r *Relay) Run(ctx context.Context) error {
	gauges, err := observeOutbox(r.opt.MeterProvider, r.pool)
	if err != nil {
		otel.Handle(err)
	} else {
		// Unregistered before the pool closes at shutdown, so a late scrape
		// does not query a closed pool.
		defer func() { _ = gauges.Unregister() }()
	}
	listenCtx, stopListening := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(listenCtx) })
	defer wg.Wait()
	defer stopListening()

	var backoff time.Duration
	nextPrune := time.Now()
	poll := time.NewTimer(r.opt.PollInterval)
	defer poll.Stop()
	for ctx.Err() == nil {
		if time.Now().After(nextPrune) {
			r.prune(ctx)
			nextPrune = time.Now().Add(pruneInterval)
		}
		n, err := r.relayBatch(ctx)
		if err != nil {
			backoff = min(max(2*backoff, minBackoff), r.opt.MaxBackoff)
			r.logger.WarnContext(ctx, "outbox relay: retrying", "in", backoff, "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			continue
		}
		backoff = 0
		if n == r.opt.Batch {
			continue // probably more waiting
		}
		poll.Reset(r.opt.PollInterval)
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-poll.C:
		}
	}
	return nil
}

// outboxRow is one claimed row.
type outboxRow struct {
	id        string
	subject   string
	payload   []byte
	headers   map[string]string
	createdAt time.Time
}

// relayBatch claims up to Batch rows, publishes them and records the result.
// It runs to completion even if ctx is cancelled meanwhile, so Run's drain
// never abandons rows it claimed.
func (r *Relay) relayBatch(ctx context.Context) (int, error) {
	ctx = context.WithoutCancel(ctx)
	rows, err := r.claim(ctx)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}

	futures := make([]jetstream.PubAckFuture, len(rows))
	var publishErr error
	for i, row := range rows {
		msg := &nats.Msg{Subject: row.subject, Data: row.payload, Header: nats.Header{}}
		for k, v := range row.headers {
			msg.Header.Set(k, v)
		}
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(row.id))
		if err != nil {
			publishErr = fmt.Errorf("publish %s %s: %w", row.subject, row.id, err)
			break // the connection is likely down; the rest waits
		}
		futures[i] = f
	}

	var published, failed []string
	ackDeadline := time.NewTimer(min(r.opt.ClaimTTL/2, maxAckWait))
	defer ackDeadline.Stop()
	expired := false
	for i, f := range futures {
		id := rows[i].id
		if f == nil {
			failed = append(failed, id)
			continue
		}
		if !expired {
			select {
			case <-f.Ok():
				published = append(published, id)
				continue
			case err := <-f.Err():
				failed = append(failed, id)
				publishErr = firstErr(publishErr, fmt.Errorf("publish %s %s: %w", rows[i].subject, id, err))
				continue
			case <-ackDeadline.C:
				expired = true
			}
		}
		select {
		case <-f.Ok():
			published = append(published, id)
		default:
			failed = append(failed, id)
			publishErr = firstErr(publishErr, fmt.Errorf("publish %s %s: no ack within the deadline", rows[i].subject, id))
		}
	}

	if len(published) > 0 {
		if _, err := r.pool.Exec(ctx,
			`UPDATE outbox SET published_at = now(), claimed_until = NULL, last_error = NULL WHERE id = ANY($1::uuid[])`,
			published); err != nil {
			// The rows stay claimed; after the lease another relay
			// re-publishes them and JetStream drops the duplicates.
			return len(rows), fmt.Errorf("mark %d outbox rows published: %w", len(published), err)
		}
	}
	if len(failed) > 0 {
		// Release the claim so the retry does not wait for the lease.
		if _, err := r.pool.Exec(ctx,
			`UPDATE outbox SET claimed_until = NULL, last_error = $2 WHERE id = ANY($1::uuid[])`,
			failed, publishErr.Error()); err != nil {
			r.logger.WarnContext(ctx, "outbox relay: release claims", "rows", len(failed), "err", err)
		}
		return len(rows), publishErr
	}
	return len(rows), nil
}

// claim leases up to Batch unpublished rows whose earlier lease, if any, has
// run out: that second condition is the sweeper that takes over rows from a
// relay that died. SKIP LOCKED keeps concurrent relays from waiting on, or
// taking, each other's rows.
func (r *Relay) claim(ctx context.Context) ([]outboxRow, error) {
	rows, err := r.pool.Query(ctx, `
		UPDATE outbox SET claimed_until = now() + $2 * interval '1 millisecond', attempts = attempts + 1
		WHERE id IN (
			SELECT id FROM outbox
			WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
			ORDER BY created_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED)
		RETURNING id, subject, payload, headers, created_at`,
		r.opt.Batch, r.opt.ClaimTTL.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
		var o outboxRow
		err := row.Scan(&o.id, &o.subject, &o.payload, &o.headers, &o.createdAt)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	// RETURNING has no order; publish oldest first.
	slices.SortFunc(claimed, func(a, b outboxRow) int { return a.createdAt.Compare(b.createdAt) })
	return claimed, nil
}

// prune deletes rows published longer ago than the retention, in chunks so
// no single statement holds locks for long.
func (r *Relay) prune(ctx context.Context) {
	for ctx.Err() == nil {
		tag, err := r.pool.Exec(ctx, `
			DELETE FROM outbox WHERE id IN (
				SELECT id FROM outbox WHERE published_at < now() - $1 * interval '1 second' LIMIT $2)`,
			int64(outboxRetention.Seconds()), pruneChunk)
		if err != nil {
			r.logger.WarnContext(ctx, "outbox relay: prune published rows", "err", err)
			return
		}
		if tag.RowsAffected() < pruneChunk {
			return
		}
	}
}

// listen turns NOTIFYs from Append into wake-ups, over its own connection
// (LISTEN needs a session to itself), reconnecting until ctx ends.
func (r *Relay) listen(ctx context.Context) {
	var backoff time.Duration
	for ctx.Err() == nil {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		backoff = min(max(2*backoff, minBackoff), r.opt.MaxBackoff)
		r.logger.WarnContext(ctx, "outbox relay: listen connection lost, polling meanwhile", "retry_in", backoff, "err", err)
		if !sleep(ctx, backoff) {
			return
		}
	}
}

func (r *Relay) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	r.poke() // notifications sent while we were not listening are lost
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		r.poke()
	}
}

func (r *Relay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// sleep waits for d or until ctx ends, reporting whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// firstErr keeps the first of two errors.
func firstErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}
