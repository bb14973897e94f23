// Package events carries domain events between services over NATS JetStream
// with effectively-once effects:
//
//   - A producer writes events with Append in the same Postgres transaction
//     as the change they describe (the transactional outbox), so an event
//     exists if and only if the change committed.
//   - A Relay publishes outbox rows to JetStream with the event ID as
//     Nats-Msg-Id, marking them published only after JetStream acknowledged
//     them. NATS being down delays events; it never loses them.
//   - A Consumer records each handled event ID in an inbox table in the same
//     transaction as the handler's effects, so a redelivered or re-published
//     event is acknowledged without running the handler twice.
//
// Trace context travels in the W3C traceparent/tracestate headers, from the
// producer's request, through the outbox row, to the consumer's span.
// Events carry protobuf payloads from photoshoot.events.v1. Ordering between
// events is not guaranteed; consumers must not depend on it.
package events

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
)

// Migrations creates the outbox and inbox tables. Services apply it with
// postgres.Migrate next to their own migrations, under
// MigrationsVersionTable.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// MigrationsVersionTable records how far Migrations has been applied; it is
// separate from each service's own version table.
const MigrationsVersionTable = "events_schema_version"

// notifyChannel is the LISTEN/NOTIFY channel that wakes relays.
const notifyChannel = "events_outbox"

// Event is one domain event on its way into the outbox.
type Event struct {
	// ID identifies the event everywhere: outbox key, Nats-Msg-Id, inbox
	// key. A UUID; appending an ID that is already in the outbox is a no-op,
	// so a deterministic ID (uuid.NewSHA1) makes an enqueue idempotent.
	ID      string
	Subject string
	Payload proto.Message
}

// NewEvent returns an event with a fresh, time-ordered (v7) UUID.
func NewEvent(subject string, payload proto.Message) Event {
	// NewV7 fails only if crypto/rand does, which since Go 1.24 aborts the
	// program instead of returning an error.
	return Event{ID: uuid.Must(uuid.NewV7()).String(), Subject: subject, Payload: payload}
}

// Append writes events to the outbox in tx, with the trace context of ctx
// in their headers. The relay is notified, which Postgres delivers only when
// tx commits; rolled-back events are never seen by anyone.
func Append(ctx context.Context, tx pgx.Tx, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	headers := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, headers)
	headerJSON, err := json.Marshal(headers)
	if err != nil {
		return fmt.Errorf("encode event headers: %w", err)
	}
	batch := &pgx.Batch{}
	for _, ev := range evs {
		id, err := uuid.Parse(ev.ID)
		if err != nil {
			return fmt.Errorf("event id %q: %w", ev.ID, err)
		}
		if ev.Subject == "" || ev.Payload == nil {
			return fmt.Errorf("event %s: subject and payload are required", ev.ID)
		}
		payload, err := proto.Marshal(ev.Payload)
		if err != nil {
			return fmt.Errorf("encode event %s (%s): %w", ev.ID, ev.Subject, err)
		}
		batch.Queue(`INSERT INTO outbox (id, subject, payload, headers) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO NOTHING`, id, ev.Subject, payload, headerJSON)
	}
	batch.Queue("SELECT pg_notify($1, '')", notifyChannel)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("append %d events to outbox: %w", len(evs), err)
	}
	return nil
}

// Message is one delivered event as a handler sees it.
type Message struct {
	// ID is the event ID, from the Nats-Msg-Id header.
	ID      string
	Subject string
	// Data is the protobuf payload; see Unmarshal.
	Data   []byte
	Header nats.Header
	// NumDelivered counts deliveries of this message, 1 on the first.
	NumDelivered uint64
}

// Unmarshal decodes the payload into dst.
func (m Message) Unmarshal(dst proto.Message) error {
	if err := proto.Unmarshal(m.Data, dst); err != nil {
		return fmt.Errorf("decode %s event %s: %w", m.Subject, m.ID, err)
	}
	return nil
}

// Handler applies one event inside tx. Its writes commit together with the
// inbox row that marks the event handled, so they happen exactly once. A
// returned error rolls everything back and the message is retried later.
// Work outside tx (calls to other services) may run more than once and must
// be idempotent itself, for example keyed by msg.ID.
type Handler func(ctx context.Context, tx pgx.Tx, msg Message) error

// headerCarrier lets the OpenTelemetry propagator read NATS headers.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }

func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
