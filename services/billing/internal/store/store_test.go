package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/services/billing/internal/checkout"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/payments"
	"github.com/connectengine/photoshoot/services/billing/internal/store"
	"github.com/connectengine/photoshoot/services/billing/internal/store/storetest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool := storetest.New(t)
	t.Cleanup(func() { storetest.AssertInvariants(t, pool) })
	return store.New(pool, nil), pool
}

func grant(t *testing.T, s *store.Store, user string, n int64) {
	t.Helper()
	_, err := s.Grant(t.Context(), ledger.GrantRequest{UserID: user, Amount: n, Reason: ledger.ReasonAdmin, IdempotencyKey: uuid.NewString(), Time: t0})
	if err != nil {
		t.Fatal(err)
	}
}

func balance(t *testing.T, s *store.Store, user string) ledger.Balance {
	t.Helper()
	b, err := s.Balance(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantKind(t *testing.T, err error, kind apperr.Kind, reason string) {
	t.Helper()
	if err == nil || apperr.KindOf(err) != kind {
		t.Fatalf("err = %v, want kind %v", err, kind)
	}
	var ae *apperr.Error
	if reason != "" && (!errors.As(err, &ae) || ae.Reason() != reason) {
		t.Fatalf("err = %v, want reason %s", err, reason)
	}
}

func TestHoldLifecycle(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	grant(t, s, "u1", 10)

	h, err := s.Reserve(ctx, ledger.ReserveRequest{UserID: "u1", JobID: "job-1", Amount: 4, ExpireTime: t0.Add(time.Hour), Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	if b := balance(t, s, "u1"); b != (ledger.Balance{Available: 6, Held: 4}) {
		t.Fatalf("after reserve: %+v", b)
	}
	again, err := s.Reserve(ctx, ledger.ReserveRequest{UserID: "u1", JobID: "job-1", Amount: 4, ExpireTime: t0.Add(time.Hour), Time: t0})
	if err != nil || again.ID != h.ID {
		t.Fatalf("repeat reserve = %v, %v; want the same hold", again.ID, err)
	}
	_, err = s.Reserve(ctx, ledger.ReserveRequest{UserID: "u1", JobID: "job-1", Amount: 5, ExpireTime: t0.Add(time.Hour), Time: t0})
	wantKind(t, err, apperr.KindConflict, "")
	_, err = s.Reserve(ctx, ledger.ReserveRequest{UserID: "u1", JobID: "job-2", Amount: 7, ExpireTime: t0.Add(time.Hour), Time: t0})
	wantKind(t, err, apperr.KindPrecondition, ledger.ReasonInsufficientCredits)

	_, err = s.Capture(ctx, h.ID, "u2", 3, t0)
	wantKind(t, err, apperr.KindNotFound, "")
	c, err := s.Capture(ctx, h.ID, "u1", 3, t0)
	if err != nil || c.State != ledger.HoldCaptured || c.Captured != 3 || c.Released != 1 {
		t.Fatalf("capture = %+v, %v", c, err)
	}
	if b := balance(t, s, "u1"); b != (ledger.Balance{Available: 7}) {
		t.Fatalf("after capture: %+v", b)
	}
	if c2, err := s.Capture(ctx, h.ID, "", 3, t0); err != nil || c2.State != ledger.HoldCaptured {
		t.Fatalf("repeat capture = %+v, %v", c2, err)
	}
	_, err = s.Capture(ctx, h.ID, "", 2, t0)
	wantKind(t, err, apperr.KindPrecondition, ledger.ReasonHoldEnded)
	_, err = s.Release(ctx, h.ID, "", t0)
	wantKind(t, err, apperr.KindPrecondition, ledger.ReasonHoldEnded)
	_, err = s.Release(ctx, "not-a-uuid", "", t0)
	wantKind(t, err, apperr.KindNotFound, "")
	_, err = s.Release(ctx, uuid.NewString(), "", t0)
	wantKind(t, err, apperr.KindNotFound, "")
}

func TestExpireAndRelease(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	grant(t, s, "u", 10)
	early, _ := s.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: "early", Amount: 2, ExpireTime: t0.Add(time.Minute), Time: t0})
	late, _ := s.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: "late", Amount: 3, ExpireTime: t0.Add(time.Hour), Time: t0})
	n, err := s.ExpireDue(ctx, t0.Add(2*time.Minute), 10)
	if err != nil || n != 1 {
		t.Fatalf("expired %d, %v; want 1", n, err)
	}
	// A release after the reaper expired the hold is satisfied by it.
	if h, err := s.Release(ctx, early.ID, "", t0); err != nil || h.State != ledger.HoldExpired {
		t.Fatalf("release of an expired hold = %+v, %v", h, err)
	}
	if _, err := s.Capture(ctx, early.ID, "", 2, t0); apperr.KindOf(err) != apperr.KindPrecondition {
		t.Fatalf("capture of an expired hold: %v", err)
	}
	if h, err := s.Release(ctx, late.ID, "", t0); err != nil || h.State != ledger.HoldReleased || h.Released != 3 {
		t.Fatalf("release = %+v, %v", h, err)
	}
	if b := balance(t, s, "u"); b != (ledger.Balance{Available: 10}) {
		t.Fatalf("balance %+v", b)
	}
}

func TestGrantIdempotent(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	g := ledger.GrantRequest{UserID: "u", Amount: 5, Reason: ledger.ReasonPromo, IdempotencyKey: "promo-1", Time: t0}
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			tx, err := s.Grant(ctx, g)
			if err != nil {
				t.Error(err)
			}
			ids[i] = tx.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent repeats booked different grants: %v", ids)
		}
	}
	if b := balance(t, s, "u"); b.Available != 5 {
		t.Fatalf("balance %+v, want 5", b)
	}
	g.Amount = 6
	_, err := s.Grant(ctx, g)
	wantKind(t, err, apperr.KindConflict, "")
}

// TestConcurrentReservesOnOneUser races reserves for one user: exactly as
// many succeed as the balance covers, and it never goes negative.
func TestConcurrentReservesOnOneUser(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	grant(t, s, "hot", 10)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   int
		poor int
	)
	for i := range 32 {
		wg.Go(func() {
			_, err := s.Reserve(ctx, ledger.ReserveRequest{UserID: "hot", JobID: fmt.Sprint("j", i), Amount: 1, ExpireTime: t0.Add(time.Hour), Time: t0})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case apperr.KindOf(err) == apperr.KindPrecondition:
				poor++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 10 || poor != 22 {
		t.Fatalf("%d reserved, %d refused; want 10 and 22", ok, poor)
	}
	if b := balance(t, s, "hot"); b != (ledger.Balance{Held: 10}) {
		t.Fatalf("balance %+v", b)
	}
}

// TestLedgerIsAppendOnly: the database itself refuses to change or delete
// ledger rows, and refuses an unbalanced transaction at commit.
func TestLedgerIsAppendOnly(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := t.Context()
	grant(t, s, "u", 3)
	h, err := s.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: "j", Amount: 1, ExpireTime: t0.Add(time.Hour), Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Capture(ctx, h.ID, "", 1, t0); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE entries SET amount = amount + 1`,
		`DELETE FROM entries`,
		`TRUNCATE entries CASCADE`,
		`UPDATE transactions SET description = 'x'`,
		`DELETE FROM transactions`,
		`UPDATE holds SET amount = 1`,
		`DELETE FROM hold_ends`,
	} {
		_, err := pool.Exec(ctx, sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s: err = %v, want insufficient_privilege from the trigger", sql, err)
		}
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		id := uuid.NewString()
		if _, err := tx.Exec(ctx, `INSERT INTO transactions (id, user_id, kind, available_delta, held_delta, created_at)
			VALUES ($1, 'u', 'grant_admin', 1, 0, now())`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO entries (transaction_id, account, user_id, amount) VALUES ($1, 'available', 'u', 1)`, id)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23514" {
		t.Errorf("unbalanced transaction: err = %v, want check_violation at commit", err)
	}
}

func TestTransactionsPage(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	for i := range 7 {
		_, err := s.Grant(ctx, ledger.GrantRequest{UserID: "u", Amount: 1, Reason: ledger.ReasonAdmin, IdempotencyKey: fmt.Sprint(i), Time: t0.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
	}
	grant(t, s, "other", 1)
	svc := ledger.NewService(s, nil, time.Hour, nil)
	var all []ledger.Transaction
	var cur *ledger.Cursor
	for {
		page, next, err := svc.Transactions(ctx, "u", cur, 3)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == nil {
			break
		}
		cur = next
	}
	if len(all) != 7 {
		t.Fatalf("paged %d transactions, want 7", len(all))
	}
	for i := 1; i < len(all); i++ {
		if !all[i].CreateTime.Before(all[i-1].CreateTime) {
			t.Fatalf("not newest first at %d", i)
		}
	}
}

func TestPurgeUser(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := t.Context()
	grant(t, s, "u", 10)
	h, _ := s.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: "j", Amount: 4, ExpireTime: t0.Add(time.Hour), Time: t0})
	p := checkout.Purchase{ID: uuid.NewString(), UserID: "u", PackID: "starter", Credits: 20, Amount: 900, Currency: "usd", Status: checkout.StatusOpen, CreateTime: t0}
	if err := s.CreatePurchase(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fulfil(ctx, checkout.Fulfilment{EventID: "evt_1", Session: payments.Session{ID: "cs_1", PurchaseID: p.ID, PaymentStatus: payments.PaymentPaid,
		Charge: &payments.Charge{ID: "ch_1", Details: payments.Details{Name: "Ada", Country: "GB", CardBrand: "visa", CardLast4: "4242"}}}, Time: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO customers (user_id, stripe_customer_id) VALUES ('u', 'cus_1')`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := postgres.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return s.PurgeUserInTx(ctx, tx, "u", "del-1", t0) }); err != nil {
			t.Fatal(err)
		}
	}
	if b := balance(t, s, "u"); b != (ledger.Balance{}) {
		t.Fatalf("after purge: %+v", b)
	}
	if got, _ := s.Hold(ctx, h.ID, ""); got.State != ledger.HoldReleased {
		t.Fatalf("hold %s after purge", got.State)
	}
	if d, _ := s.Details(ctx, "u"); !d.Empty() {
		t.Fatalf("details not anonymised: %+v", d)
	}
	if c, err := s.Customer(ctx, "u"); err != nil || c != "" {
		t.Fatalf("Stripe customer %q (%v) still linked after purge", c, err)
	}
	_, err := s.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: "j2", Amount: 1, ExpireTime: t0.Add(time.Hour), Time: t0})
	wantKind(t, err, apperr.KindPrecondition, ledger.ReasonAccountClosed)
	_, err = s.Grant(ctx, ledger.GrantRequest{UserID: "u", Amount: 1, Reason: ledger.ReasonTrial, IdempotencyKey: "late-trial", Time: t0})
	wantKind(t, err, apperr.KindPrecondition, ledger.ReasonAccountClosed)
	txs, _ := s.AllTransactions(ctx, "u")
	if len(txs) != 5 { // grant, reserve, purchase grant, release, forfeit: the ledger is kept
		t.Fatalf("%d transactions kept, want 5", len(txs))
	}
}

func TestReconcileFindsBreaks(t *testing.T) {
	t.Parallel()
	pool := storetest.New(t)
	s := store.New(pool, nil)
	ctx := t.Context()
	grant(t, s, "u", 5)
	if v, err := s.Reconcile(ctx); err != nil || len(v) != 0 {
		t.Fatalf("clean ledger: %v, %v", v, err)
	}
	// Break the cache behind the ledger's back.
	if _, err := pool.Exec(ctx, `UPDATE accounts SET available = 6 WHERE user_id = 'u'`); err != nil {
		t.Fatal(err)
	}
	v, err := s.Reconcile(ctx)
	if err != nil || len(v) == 0 {
		t.Fatalf("broken cache not found: %v, %v", v, err)
	}
	_, _ = pool.Exec(ctx, `UPDATE accounts SET available = 5 WHERE user_id = 'u'`)
}
