package events_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/connectengine/photoshoot/pkg/events"
)

func TestDeadLetterAfterMaxDeliver(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	js := e.jetStream(t)
	background(t, events.NewRelay(e.pool, js, testLogger(t), events.RelayOptions{PollInterval: 50 * time.Millisecond}).Run)

	const durable = "always-fails"
	var calls atomic.Int64
	background(t, events.NewConsumer(e.pool, js, testLogger(t), events.ConsumerConfig{
		Stream: events.StreamMedia, Durable: durable, FilterSubjects: []string{events.SubjectImageDeleted},
		MaxDeliver: 3, Backoff: []time.Duration{10 * time.Millisecond},
		Handler: func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
			calls.Add(1)
			if err := effectsHandler(ctx, tx, msg); err != nil {
				return err
			}
			return errors.New("permanent failure")
		},
	}).Run)

	ev := events.NewEvent(events.SubjectImageDeleted, wrapperspb.Int64(99))
	e.appendEvents(t, ctx, ev)

	dlq, err := js.CreateOrUpdateConsumer(ctx, events.StreamDeadLetter, jetstream.ConsumerConfig{
		FilterSubject: events.DeadLetterSubject(durable), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	var dead jetstream.Msg
	eventually(t, 20*time.Second, "the dead letter", func() bool {
		dead, err = dlq.Next(jetstream.FetchMaxWait(200 * time.Millisecond))
		return err == nil
	})

	if !proto.Equal(mustInt64(t, dead.Data()), wrapperspb.Int64(99)) {
		t.Errorf("dead letter payload differs from the event's")
	}
	h := dead.Headers()
	for name, want := range map[string]string{
		events.HeaderEventID:              ev.ID,
		events.HeaderDeadLetterSubject:    events.SubjectImageDeleted,
		events.HeaderDeadLetterStream:     events.StreamMedia,
		events.HeaderDeadLetterDeliveries: "3",
		jetstream.MsgIDHeader:             durable + ":" + ev.ID,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if h.Get(events.HeaderDeadLetterError) == "" {
		t.Errorf("no %s header", events.HeaderDeadLetterError)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("handler ran %d times, want MaxDeliver = 3", got)
	}
	if n := e.count(t, "SELECT count(*) FROM effects"); n != 0 {
		t.Errorf("%d effects committed by a failing handler", n)
	}
	if n := e.count(t, "SELECT count(*) FROM inbox"); n != 0 {
		t.Errorf("inbox recorded %d events that were never handled", n)
	}
	eventually(t, 10*time.Second, "the original to be terminated", func() bool {
		info := consumerInfo(t, js, events.StreamMedia, durable)
		return info != nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

func mustInt64(t *testing.T, data []byte) *wrapperspb.Int64Value {
	t.Helper()
	var v wrapperspb.Int64Value
	if err := proto.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// TestConsumerDeduplicatesByMessageID publishes one event ID twice past
// JetStream's de-duplication (as a re-publish after the window would): the
// handler must run once and the second copy must still be acked.
func TestConsumerDeduplicatesByMessageID(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	js := e.jetStream(t)
	// A stream of its own with a tiny de-duplication window.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "DEDUP", Subjects: []string{"dedup.test"}, Duplicates: 100 * time.Millisecond,
	}); err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(wrapperspb.Int64(5))
	if err != nil {
		t.Fatal(err)
	}
	const id = "0190a6c2-4c4e-7c1a-9c5e-000000000001"
	if _, err := js.Publish(ctx, "dedup.test", data, jetstream.WithMsgID(id)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a second copy past the window", func() bool {
		ack, err := js.Publish(ctx, "dedup.test", data, jetstream.WithMsgID(id))
		return err == nil && !ack.Duplicate
	})

	var calls atomic.Int64
	background(t, events.NewConsumer(e.pool, js, testLogger(t), events.ConsumerConfig{
		Stream: "DEDUP", Durable: "dedup",
		Handler: func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
			calls.Add(1)
			return effectsHandler(ctx, tx, msg)
		},
	}).Run)
	eventually(t, 20*time.Second, "both copies acked", func() bool {
		info := consumerInfo(t, js, "DEDUP", "dedup")
		return info != nil && info.AckFloor.Stream == 2 && info.NumAckPending == 0
	})
	if got := calls.Load(); got != 1 {
		t.Errorf("handler ran %d times for one event id, want 1", got)
	}
	if n := e.count(t, "SELECT count(*) FROM effects WHERE event_id = $1 AND n = 1", id); n != 1 {
		t.Errorf("effects for %s: %d rows with n = 1, want 1", id, n)
	}
}

func TestConsumerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	js := e.jetStream(t)
	noop := func(context.Context, pgx.Tx, events.Message) error { return nil }
	for name, cfg := range map[string]events.ConsumerConfig{
		"no_durable":      {Stream: events.StreamMedia, Handler: noop},
		"no_handler":      {Stream: events.StreamMedia, Durable: "d"},
		"dotted_durable":  {Stream: events.StreamMedia, Durable: "media.images", Handler: noop},
		"invalid_subject": {Stream: events.StreamMedia, Durable: "d", FilterSubjects: []string{"photoshoot..x"}, Handler: noop},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := events.NewConsumer(e.pool, js, testLogger(t), cfg).Run(ctx); err == nil || ctx.Err() != nil {
				t.Fatalf("Run = %v (context: %v), want a configuration error before the deadline", err, ctx.Err())
			}
		})
	}
}

// TestTraceContextReachesHandler follows a trace from a span around Append,
// through the outbox row and NATS headers, to the handler: the consumer span
// must be a child of the producer's span, and be the span in the handler's
// context. It sets the global propagator and tracer provider, so it is not
// parallel (parallel tests only start after it) and restores both.
func TestTraceContextReachesHandler(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})

	ctx := t.Context()
	e := newEnv(t)
	js := e.jetStream(t)
	background(t, events.NewRelay(e.pool, js, testLogger(t), events.RelayOptions{PollInterval: 50 * time.Millisecond}).Run)
	seen := make(chan trace.SpanContext, 1)
	background(t, events.NewConsumer(e.pool, js, testLogger(t), events.ConsumerConfig{
		Stream: events.StreamAnalysis, Durable: "traced",
		Handler: func(ctx context.Context, _ pgx.Tx, msg events.Message) error {
			if msg.Header.Get("traceparent") == "" {
				t.Error("message has no traceparent header")
			}
			select {
			case seen <- trace.SpanContextFromContext(ctx):
			default:
			}
			return nil
		},
	}).Run)

	reqCtx, span := tp.Tracer("test").Start(ctx, "request")
	e.appendEvents(t, reqCtx, events.NewEvent(events.SubjectAnalysisCompleted, wrapperspb.String("done")))
	span.End()
	producer := span.SpanContext()

	var got trace.SpanContext
	select {
	case got = <-seen:
	case <-time.After(20 * time.Second):
		t.Fatal("handler never ran")
	}
	if got.TraceID() != producer.TraceID() {
		t.Errorf("handler trace %s, want the producer's %s", got.TraceID(), producer.TraceID())
	}
	if got.SpanID() == producer.SpanID() {
		t.Error("handler runs in the producer's span, want a consumer span of its own")
	}
	var consumerSpan tracetest.SpanStub
	eventually(t, 10*time.Second, "the consumer span to end", func() bool {
		for _, s := range exporter.GetSpans() {
			if s.SpanContext.SpanID() == got.SpanID() {
				consumerSpan = s
				return true
			}
		}
		return false
	})
	if consumerSpan.Parent.SpanID() != producer.SpanID() {
		t.Errorf("consumer span's parent = %s, want the producer span %s", consumerSpan.Parent.SpanID(), producer.SpanID())
	}
	if consumerSpan.SpanKind != trace.SpanKindConsumer {
		t.Errorf("span kind = %s, want consumer", consumerSpan.SpanKind)
	}
	if want := "process " + events.SubjectAnalysisCompleted; consumerSpan.Name != want {
		t.Errorf("span name = %q, want %q", consumerSpan.Name, want)
	}
}

// TestConsumerKeepsSlowHandlerAlive holds a handler for several AckWaits
// while a second replica waits for work: without the in-progress signal,
// JetStream would redeliver the message to that replica.
func TestConsumerKeepsSlowHandlerAlive(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	js := e.jetStream(t)
	acks, err := js.Conn().SubscribeSync("$JS.ACK.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, events.SubjectJobRequested, []byte{}, jetstream.WithMsgID("0190a6c2-4c4e-7c1a-9c5e-000000000002")); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var runs atomic.Int64
	cfg := events.ConsumerConfig{
		Stream: events.StreamGenerationWork, Durable: "worker", AckWait: time.Second,
		Handler: func(ctx context.Context, _ pgx.Tx, msg events.Message) error {
			runs.Add(1)
			<-release
			return nil
		},
	}
	for range 2 {
		background(t, events.NewConsumer(e.pool, e.jetStream(t), testLogger(t), cfg).Run)
	}
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the consumers are stopped, even on failure
	// Three in-progress acks span 1.5 AckWaits.
	for wpi := 0; wpi < 3; {
		m, err := acks.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for in-progress acks: %v", err)
		}
		if string(m.Data) == "+WPI" {
			wpi++
		}
	}
	unblock()
	eventually(t, 10*time.Second, "the job to be acked off the work queue", func() bool {
		stream, err := js.Stream(ctx, events.StreamGenerationWork)
		if err != nil {
			return false
		}
		info, err := stream.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	if got := consumerInfo(t, js, events.StreamGenerationWork, "worker").Delivered.Consumer; got != 1 {
		t.Errorf("message delivered %d times while its handler was running, want 1", got)
	}
	if got := runs.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
}
