package worker

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

const meterName = "github.com/connectengine/photoshoot/services/generation"

// Metrics are the worker's instruments (docs/operations.md lists them):
// queue depth, job durations by outcome, failed attempts by class. A nil
// *Metrics records nothing.
type Metrics struct {
	duration metric.Float64Histogram
	attempts metric.Int64Counter
	failures metric.Int64Counter
	provider string
}

// NewMetrics registers the instruments with mp (the platform's meter
// provider); js is read for the work queue's depth when a metrics reader
// collects. provider names the image model in failure series.
func NewMetrics(mp metric.MeterProvider, js jetstream.JetStream, provider string) (*Metrics, error) {
	meter := mp.Meter(meterName)
	m := &Metrics{provider: provider}
	var errs [4]error
	m.duration, errs[0] = meter.Float64Histogram("photoshoot.generation.job.duration",
		metric.WithUnit("s"), metric.WithDescription("Time from a job's creation to its end, by outcome."),
		metric.WithExplicitBucketBoundaries(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600))
	m.attempts, errs[1] = meter.Int64Counter("photoshoot.generation.attempts",
		metric.WithDescription("Job attempts started."))
	m.failures, errs[2] = meter.Int64Counter("photoshoot.generation.provider.errors",
		metric.WithDescription("Failed job attempts, by provider and error class."))
	_, errs[3] = meter.Int64ObservableGauge("photoshoot.generation.queue.depth",
		metric.WithDescription("Job attempts in the work queue not yet finished: waiting, plus taken by a worker and not yet acknowledged."),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			cons, err := js.Consumer(ctx, events.StreamGenerationWork, Durable)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			info, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			o.Observe(int64(info.NumPending) + int64(info.NumAckPending))
			return nil
		}))
	return m, errors.Join(errs[:]...)
}

func (m *Metrics) started(ctx context.Context) {
	if m != nil {
		m.attempts.Add(ctx, 1)
	}
}

func (m *Metrics) failedAttempt(ctx context.Context, class string) {
	if m != nil {
		m.failures.Add(ctx, 1, metric.WithAttributes(attribute.String("provider", m.provider), attribute.String("class", class)))
	}
}

func (m *Metrics) finished(ctx context.Context, j *job.Job) {
	if m != nil && !j.CompleteTime.IsZero() {
		m.duration.Record(ctx, j.CompleteTime.Sub(j.CreateTime).Seconds(), metric.WithAttributes(attribute.String("outcome", string(j.State))))
	}
}
