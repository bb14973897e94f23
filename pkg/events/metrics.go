package events

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// meterName is the instrumentation scope of this package's metrics.
const meterName = "github.com/connectengine/photoshoot/pkg/events"

// outboxDepthCap bounds the depth count, so a scrape stays cheap however far
// the relay falls behind: past it the gauge reads the cap, which is alarm
// enough.
const outboxDepthCap = 100_000

// outboxStatsSQL counts unpublished rows (up to the cap) and the age of the
// oldest one. Both read only the partial index outbox_unpublished, which
// holds just the rows waiting to be published.
const outboxStatsSQL = `SELECT
	(SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT $1) AS waiting),
	coalesce(extract(epoch FROM now() - (SELECT min(created_at) FROM outbox WHERE published_at IS NULL)), 0)::float8`

// observeOutbox registers the outbox gauges, read from pool at each
// collection: photoshoot.outbox.depth (rows not yet published) and
// photoshoot.outbox.age (seconds since the oldest of them was written, 0
// when none waits). Every replica of a service reads the same table, so
// aggregate them with max, not sum.
func observeOutbox(mp metric.MeterProvider, pool *pgxpool.Pool) (metric.Registration, error) {
	meter := mp.Meter(meterName)
	depth, err := meter.Int64ObservableGauge("photoshoot.outbox.depth",
		metric.WithUnit("{event}"),
		metric.WithDescription("Outbox rows not yet published to JetStream (counted up to 100000)."))
	if err != nil {
		return nil, fmt.Errorf("outbox depth gauge: %w", err)
	}
	age, err := meter.Float64ObservableGauge("photoshoot.outbox.age",
		metric.WithUnit("s"),
		metric.WithDescription("Seconds since the oldest unpublished outbox row was written; 0 when none waits."))
	if err != nil {
		return nil, fmt.Errorf("outbox age gauge: %w", err)
	}
	return meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var (
			n      int64
			oldest float64
		)
		if err := pool.QueryRow(ctx, outboxStatsSQL, outboxDepthCap).Scan(&n, &oldest); err != nil {
			return fmt.Errorf("read outbox depth and age: %w", err)
		}
		o.ObserveInt64(depth, n)
		o.ObserveFloat64(age, oldest)
		return nil
	}, depth, age)
}

// Outcomes of one delivery, the outcome attribute of
// photoshoot.consumer.messages.
const (
	outcomeHandled      = "handled"       // the handler's effects committed
	outcomeDuplicate    = "duplicate"     // the inbox had it; acked, handler not run
	outcomeFailed       = "failed"        // rolled back; redelivered after a backoff
	outcomeDeadLettered = "dead_lettered" // moved to the dead-letter subject
)

// consumerMetrics counts deliveries of one durable consumer by outcome.
type consumerMetrics struct {
	messages metric.Int64Counter
	attrs    map[string]metric.AddOption
}

func newConsumerMetrics(mp metric.MeterProvider, durable string) *consumerMetrics {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	messages, err := mp.Meter(meterName).Int64Counter("photoshoot.consumer.messages",
		metric.WithUnit("{message}"),
		metric.WithDescription("Event deliveries a durable consumer finished, by outcome: handled, duplicate, failed (will be retried), dead_lettered."))
	if err != nil {
		// The SDK hands back a working no-op instrument with the error;
		// a metric must never stop a consumer.
		otel.Handle(err)
	}
	m := &consumerMetrics{messages: messages, attrs: map[string]metric.AddOption{}}
	for _, o := range []string{outcomeHandled, outcomeDuplicate, outcomeFailed, outcomeDeadLettered} {
		m.attrs[o] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("consumer", durable), attribute.String("outcome", o)))
	}
	return m
}

func (m *consumerMetrics) count(ctx context.Context, outcome string) {
	m.messages.Add(ctx, 1, m.attrs[outcome])
}
