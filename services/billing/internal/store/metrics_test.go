package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/services/billing/internal/checkout"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/payments"
	"github.com/connectengine/photoshoot/services/billing/internal/store"
	"github.com/connectengine/photoshoot/services/billing/internal/store/storetest"
)

// credits reads the credit counters as "name attr=value" → total.
func credits(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				key := m.Name
				if s := dp.Attributes.Encoded(attribute.DefaultEncoder()); s != "" {
					key += " " + s
				}
				out[key] += dp.Value
			}
		}
	}
	return out
}

// TestMetricsCountCommittedTransactionsOnly drives every counted operation,
// with concurrent duplicates, replays and a rolled-back transaction, and
// checks that each credit is counted exactly once, when it commits.
func TestMetricsCountCommittedTransactionsOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := storetest.New(t)
	t.Cleanup(func() { storetest.AssertInvariants(t, pool) })
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	s := store.New(pool, mp)

	// Eight concurrent grants with one key, then two replays: one grant.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.Grant(ctx, ledger.GrantRequest{UserID: "u", Amount: 10, Reason: ledger.ReasonAdmin, IdempotencyKey: "admin-1", Time: t0}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range 2 {
		if _, err := s.Grant(ctx, ledger.GrantRequest{UserID: "u", Amount: 10, Reason: ledger.ReasonAdmin, IdempotencyKey: "admin-1", Time: t0}); err != nil {
			t.Fatal(err)
		}
	}

	// A grant in a transaction that then rolls back is not counted; the
	// same grant committed is.
	trial := ledger.GrantRequest{UserID: "u", Amount: 5, Reason: ledger.ReasonTrial, IdempotencyKey: "trial:u", Time: t0}
	rollback := errors.New("the consumer's handler failed later")
	err := postgres.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := s.GrantInTx(ctx, tx, trial); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("rolled-back grant: %v", err)
	}
	if err := postgres.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := s.GrantInTx(ctx, tx, trial); return err }); err != nil {
		t.Fatal(err)
	}
	// A transaction that cannot run commit hooks is refused, not silently
	// left uncounted.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := s.GrantInTx(ctx, tx, ledger.GrantRequest{UserID: "u", Amount: 1, Reason: ledger.ReasonPromo, IdempotencyKey: "promo-x", Time: t0})
		return err
	})
	if !errors.Is(err, postgres.ErrNoCommitHooks) {
		t.Fatalf("grant in a plain transaction: %v, want ErrNoCommitHooks", err)
	}

	// A paid checkout delivered by two different events grants once.
	p := checkout.Purchase{ID: uuid.NewString(), UserID: "u", PackID: "starter", Credits: 20, Amount: 900, Currency: "usd", Status: checkout.StatusOpen, CreateTime: t0}
	if err := s.CreatePurchase(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"evt_1", "evt_2", "evt_1"} {
		if _, err := s.Fulfil(ctx, checkout.Fulfilment{EventID: ev, Session: payments.Session{ID: "cs_1", PurchaseID: p.ID, PaymentStatus: payments.PaymentPaid}, Time: t0}); err != nil {
			t.Fatal(err)
		}
	}

	reserve := func(job string, n int64, expire time.Time) ledger.Hold {
		t.Helper()
		h, err := s.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: job, Amount: n, ExpireTime: expire, Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// Capture 3 of 4, twice: captured 3, capture_rest 1.
	h := reserve("job-capture", 4, t0.Add(time.Hour))
	for range 2 {
		if _, err := s.Capture(ctx, h.ID, "u", 3, t0); err != nil {
			t.Fatal(err)
		}
	}
	// Release 2, twice: release 2.
	h = reserve("job-release", 2, t0.Add(time.Hour))
	for range 2 {
		if _, err := s.Release(ctx, h.ID, "u", t0); err != nil {
			t.Fatal(err)
		}
	}
	// One hold expires; a later Release of it books nothing more.
	h = reserve("job-expire", 1, t0.Add(time.Minute))
	if n, err := s.ExpireDue(ctx, t0.Add(2*time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v", n, err)
	}
	if _, err := s.Release(ctx, h.ID, "u", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Deleting the account releases its open hold of 3.
	reserve("job-open", 3, t0.Add(time.Hour))
	if err := postgres.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return s.PurgeUserInTx(ctx, tx, "u", "del-1", t0) }); err != nil {
		t.Fatal(err)
	}

	want := map[string]int64{
		"photoshoot.credits.granted reason=admin":        10,
		"photoshoot.credits.granted reason=trial":        5,
		"photoshoot.credits.granted reason=purchase":     20,
		"photoshoot.credits.captured":                    3,
		"photoshoot.credits.released cause=capture_rest": 1,
		"photoshoot.credits.released cause=release":      2 + 3,
		"photoshoot.credits.released cause=expire":       1,
	}
	got := credits(t, reader)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("counters = %v, want exactly %v", got, want)
	}
}
