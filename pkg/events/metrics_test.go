package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/postgres"
)

// readings collects reader's metrics as name{attribute values…} → value.
func readings(t *testing.T, reader *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			add := func(attrs fmt.Stringer, v float64) {
				key := m.Name
				if s := attrs.String(); s != "" {
					key += "{" + s + "}"
				}
				out[key] += v
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					add(stringer(dp.Attributes.Encoded(attribute.DefaultEncoder())), float64(dp.Value))
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					add(stringer(dp.Attributes.Encoded(attribute.DefaultEncoder())), float64(dp.Value))
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					add(stringer(dp.Attributes.Encoded(attribute.DefaultEncoder())), dp.Value)
				}
			}
		}
	}
	return out
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestOutboxGauges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	// With NATS down the relay cannot publish: the rows wait.
	e.nats.Stop()
	stop := background(t, events.NewRelay(e.pool, e.jetStream(t), testLogger(t), events.RelayOptions{
		PollInterval: 50 * time.Millisecond, ClaimTTL: 2 * time.Second, MaxBackoff: 200 * time.Millisecond, MeterProvider: mp,
	}).Run)
	for i := range 3 {
		e.appendEvents(t, ctx, events.NewEvent(events.SubjectUserCreated, wrapperspb.Int64(int64(i))))
	}
	eventually(t, 20*time.Second, "depth 3 and an age over 0.2 s", func() bool {
		r := readings(t, reader)
		return r["photoshoot.outbox.depth"] == 3 && r["photoshoot.outbox.age"] > 0.2
	})

	e.nats.Restart(t)
	eventually(t, 30*time.Second, "depth and age back to 0 once published", func() bool {
		r := readings(t, reader)
		_, seen := r["photoshoot.outbox.age"]
		return seen && r["photoshoot.outbox.depth"] == 0 && r["photoshoot.outbox.age"] == 0
	})
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL"); n != 0 {
		t.Errorf("gauges read 0 but %d rows are unpublished", n)
	}

	// A stopped relay stops reporting: its pool may be closing.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if r := readings(t, reader); len(r) != 0 {
		t.Errorf("gauges still reported after Run returned: %v", r)
	}
}

func TestConsumerCountsOutcomes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	js := e.jetStream(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	// Value 1 always fails (dead-lettered on its second delivery); 3 was
	// handled before (it is in the inbox); the others succeed.
	const durable = "metrics-test"
	evs := make([]events.Event, 4)
	for i := range evs {
		evs[i] = events.NewEvent(events.SubjectImageDeleted, wrapperspb.Int64(int64(i)))
	}
	if _, err := e.pool.Exec(ctx, `INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)`, durable, evs[3].ID); err != nil {
		t.Fatal(err)
	}
	var hooks atomic.Int64
	background(t, events.NewRelay(e.pool, js, testLogger(t), events.RelayOptions{PollInterval: 50 * time.Millisecond}).Run)
	background(t, events.NewConsumer(e.pool, js, testLogger(t), events.ConsumerConfig{
		Stream: events.StreamMedia, Durable: durable, FilterSubjects: []string{events.SubjectImageDeleted},
		MaxDeliver: 2, Backoff: []time.Duration{10 * time.Millisecond}, MeterProvider: mp,
		Handler: func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
			// The handler's transaction takes commit hooks, which run only
			// when it commits.
			if err := postgres.AfterCommit(tx, func() { hooks.Add(1) }); err != nil {
				return err
			}
			if err := effectsHandler(ctx, tx, msg); err != nil {
				return err
			}
			var v wrapperspb.Int64Value
			if err := msg.Unmarshal(&v); err != nil {
				return err
			}
			if v.GetValue() == 1 {
				return errors.New("permanent failure")
			}
			return nil
		},
	}).Run)
	e.appendEvents(t, ctx, evs...)

	key := func(outcome string) string {
		return "photoshoot.consumer.messages{consumer=" + durable + ",outcome=" + outcome + "}"
	}
	want := map[string]float64{key("handled"): 2, key("failed"): 1, key("dead_lettered"): 1, key("duplicate"): 1}
	var got map[string]float64
	defer func() {
		if t.Failed() {
			t.Logf("last reading: %v", got)
		}
	}()
	eventually(t, 30*time.Second, "every delivery counted", func() bool {
		got = readings(t, reader)
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
	if len(got) != len(want) {
		t.Errorf("series = %v, want exactly %v", got, want)
	}
	if n := hooks.Load(); n != 2 {
		t.Errorf("commit hooks ran %d times, want 2 (one per committed handler run)", n)
	}
}
