package store

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
)

// meterName is the instrumentation scope of the ledger's metrics.
const meterName = "github.com/connectengine/photoshoot/services/billing"

// Causes of released credits, the cause attribute of
// photoshoot.credits.released.
const (
	causeRelease     = "release"      // a hold released (by its job or an account deletion)
	causeExpire      = "expire"       // a hold the reaper expired
	causeCaptureRest = "capture_rest" // the part of a captured hold not consumed
)

// metrics counts credits as ledger transactions commit. Counting happens in
// a commit hook (see book), so an idempotent replay, which books nothing,
// and a rolled-back or retried transaction never count.
type metrics struct {
	granted, captured, released metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) *metrics {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(meterName)
	counter := func(name, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit("{credit}"), metric.WithDescription(desc))
		if err != nil {
			// The SDK returns a working no-op instrument with the error; a
			// metric must never stop the ledger.
			otel.Handle(err)
		}
		return c
	}
	return &metrics{
		granted:  counter("photoshoot.credits.granted", "Credits granted, by reason: trial, purchase, admin, promo."),
		captured: counter("photoshoot.credits.captured", "Held credits consumed by a capture."),
		released: counter("photoshoot.credits.released", "Held credits returned to the user, by cause: release, expire, capture_rest."),
	}
}

// count adds a committed transaction's credits to the counters. Reserves,
// refunds and forfeits move credits these counters do not track.
func (m *metrics) count(ctx context.Context, t ledger.Transaction) {
	released := func(cause string, n int64) {
		m.released.Add(ctx, n, metric.WithAttributes(attribute.String("cause", cause)))
	}
	switch t.Kind {
	case ledger.KindGrantTrial, ledger.KindGrantPurchase, ledger.KindGrantAdmin, ledger.KindGrantPromo:
		m.granted.Add(ctx, t.Delta(ledger.Available), metric.WithAttributes(attribute.String("reason", string(grantReason[t.Kind]))))
	case ledger.KindCapture:
		// held −n, consumed +m, available +(n−m)
		m.captured.Add(ctx, t.Delta(ledger.Consumed))
		released(causeCaptureRest, t.Delta(ledger.Available))
	case ledger.KindRelease:
		released(causeRelease, t.Delta(ledger.Available))
	case ledger.KindExpire:
		released(causeExpire, t.Delta(ledger.Available))
	}
}

// grantReason names the reason behind each grant kind.
var grantReason = map[ledger.Kind]ledger.Reason{
	ledger.KindGrantTrial:    ledger.ReasonTrial,
	ledger.KindGrantPurchase: ledger.ReasonPurchase,
	ledger.KindGrantAdmin:    ledger.ReasonAdmin,
	ledger.KindGrantPromo:    ledger.ReasonPromo,
}
