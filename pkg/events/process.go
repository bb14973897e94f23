package events

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// StartProcessSpan starts the consumer span of one delivered message: the
// trace context in its headers (written by Append) becomes the parent, so a
// trace runs from the request that caused an event through every consumer.
// group is the durable consumer's name and id the message's identity.
func StartProcessSpan(ctx context.Context, msg jetstream.Msg, group, id string, delivered uint64) (context.Context, trace.Span) {
	ctx = otel.GetTextMapPropagator().Extract(ctx, headerCarrier(msg.Headers()))
	return otel.Tracer(tracerName).Start(ctx, "process "+msg.Subject(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", msg.Subject()),
			attribute.String("messaging.consumer.group.name", group),
			attribute.String("messaging.message.id", id),
			attribute.Int64("messaging.message.delivery_count", int64(delivered)),
		))
}
