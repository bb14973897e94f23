package events

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
)

// BenchmarkOutboxGauges measures one collection of the outbox gauges, the
// query a scrape runs, with a backlog of unpublished rows next to a much
// larger history of published ones (which the partial index leaves out).
func BenchmarkOutboxGauges(b *testing.B) {
	for _, waiting := range []int{0, 1_000, 100_000, 300_000} {
		b.Run(fmt.Sprintf("waiting=%d", waiting), func(b *testing.B) {
			pool := postgrestest.New(b, postgrestest.Migrations{FS: Migrations, VersionTable: MigrationsVersionTable})
			ctx := context.Background()
			if _, err := pool.Exec(ctx, `INSERT INTO outbox (id, subject, payload, published_at)
				SELECT gen_random_uuid(), 'bench', '\x00', CASE WHEN i <= $1 THEN NULL ELSE now() END
				FROM generate_series(1, $1 + 200000) AS i`, waiting); err != nil {
				b.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `VACUUM ANALYZE outbox`); err != nil {
				b.Fatal(err)
			}
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			defer func() { _ = mp.Shutdown(ctx) }()
			reg, err := observeOutbox(mp, pool)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = reg.Unregister() }()
			var rm metricdata.ResourceMetrics
			for b.Loop() {
				if err := reader.Collect(ctx, &rm); err != nil {
					b.Fatal(err)
				}
			}
			depth := int64(-1)
			for _, m := range rm.ScopeMetrics[0].Metrics {
				if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == "photoshoot.outbox.depth" {
					depth = g.DataPoints[0].Value
				}
			}
			if want := int64(min(waiting, outboxDepthCap)); depth != want {
				b.Fatalf("depth = %d, want %d", depth, want)
			}
		})
	}
}
