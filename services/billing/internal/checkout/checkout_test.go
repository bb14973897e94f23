package checkout_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/billing/internal/checkout"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/payments"
	"github.com/connectengine/photoshoot/services/billing/internal/payments/paymentstest"
	"github.com/connectengine/photoshoot/services/billing/internal/store"
	"github.com/connectengine/photoshoot/services/billing/internal/store/storetest"
)

const secret = "whsec_test_secret"

type env struct {
	svc   *checkout.Service
	fake  *paymentstest.FakeStripe
	pool  *pgxpool.Pool
	store *store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := storetest.New(t)
	t.Cleanup(func() { storetest.AssertInvariants(t, pool) })
	fake := paymentstest.NewFakeStripe(t)
	st := store.New(pool, nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := checkout.NewService(st, payments.NewStripe("sk_test_fake", fake.URL, logger), checkout.Config{
		Packs: checkout.DefaultPacks(), PublicURL: "http://localhost:8080", WebhookSecret: secret,
	}, logger)
	return &env{svc: svc, fake: fake, pool: pool, store: st}
}

// event builds a signed Stripe event delivery about object.
func event(t *testing.T, id, typ string, object map[string]any, at time.Time, key string) (payload []byte, header string) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": stripe.APIVersion, "created": at.Unix(),
		"data": map[string]any{"object": object},
	})
	if err != nil {
		t.Fatal(err)
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: key, Timestamp: at})
	return signed.Payload, signed.Header
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWebhookCorpus delivers every event of a corpus three times, shuffled,
// eight at a time: each paid session grants exactly once, every delivery
// succeeds, and failed asynchronous payments grant nothing.
func TestWebhookCorpus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	type sale struct {
		user, purchase, session string
		paid                    bool
	}
	var (
		sales      []sale
		deliveries []func() error
	)
	deliver := func(id, typ string, obj map[string]any) {
		payload, header := event(t, id, typ, obj, time.Now(), secret)
		deliveries = append(deliveries, func() error { return e.svc.HandleWebhook(ctx, payload, header) })
	}
	users := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	for i := range 12 {
		user := users[i%len(users)]
		url, purchase, err := e.svc.CreateCheckoutSession(ctx, user, "starter")
		if err != nil || url == "" {
			t.Fatal(url, err)
		}
		p, err := e.store.Purchase(ctx, purchase, user)
		if err != nil {
			t.Fatal(err)
		}
		s := sale{user: user, purchase: purchase, session: p.SessionID}
		obj := map[string]any{"id": s.session, "object": "checkout.session"}
		switch i % 4 {
		case 0, 1: // card: paid at completion
			e.fake.Pay(s.session)
			s.paid = true
			deliver(fmt.Sprintf("evt_%d_completed", i), checkout.EventSessionCompleted, obj)
		case 2: // delayed method that succeeded
			e.fake.Pay(s.session)
			s.paid = true
			deliver(fmt.Sprintf("evt_%d_completed", i), checkout.EventSessionCompleted, obj)
			deliver(fmt.Sprintf("evt_%d_succeeded", i), checkout.EventAsyncPaymentSucceeded, obj)
		case 3: // delayed method that failed
			deliver(fmt.Sprintf("evt_%d_completed", i), checkout.EventSessionCompleted, obj)
			deliver(fmt.Sprintf("evt_%d_failed", i), checkout.EventAsyncPaymentFailed, obj)
		}
		sales = append(sales, s)
	}
	var all []func() error
	for range 3 {
		all = append(all, deliveries...)
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	work := make(chan func() error)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for d := range work {
				if err := d(); err != nil {
					t.Errorf("delivery failed (want 2xx for every delivery, duplicates included): %v", err)
				}
			}
		})
	}
	for _, d := range all {
		work <- d
	}
	close(work)
	wg.Wait()

	credits := map[string]int64{}
	for _, s := range sales {
		grants := e.count(t, `SELECT count(*) FROM transactions WHERE purchase_id = $1 AND kind = 'grant_purchase'`, s.purchase)
		p, _ := e.store.Purchase(ctx, s.purchase, "")
		switch {
		case s.paid && (grants != 1 || p.Status != checkout.StatusPaid):
			t.Errorf("paid purchase %s: %d grants, status %s", s.purchase, grants, p.Status)
		case !s.paid && (grants != 0 || p.Status != checkout.StatusFailed):
			t.Errorf("failed purchase %s: %d grants, status %s", s.purchase, grants, p.Status)
		}
		if s.paid {
			credits[s.user] += 20
		}
	}
	for _, u := range users {
		b, _ := e.store.Balance(ctx, u)
		if b.Available != credits[u] {
			t.Errorf("user %s has %d credits, want %d", u, b.Available, credits[u])
		}
		d, _ := e.svc.Details(ctx, u)
		if d.CardLast4 != "4242" || d.Name == "" || d.Country != "GB" {
			t.Errorf("billing details of %s = %+v", u, d)
		}
	}
	if n := e.fake.Customers(); n != len(users) {
		t.Errorf("%d Stripe customers created, want one per user (%d)", n, len(users))
	}
}

// TestSignatureMatrix: every bad signature is InvalidArgument and writes
// nothing.
func TestSignatureMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	user := uuid.NewString()
	_, purchase, err := e.svc.CreateCheckoutSession(ctx, user, "starter")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.store.Purchase(ctx, purchase, user)
	e.fake.Pay(p.SessionID)
	obj := map[string]any{"id": p.SessionID, "object": "checkout.session"}
	good, header := event(t, "evt_sig", checkout.EventSessionCompleted, obj, time.Now(), secret)
	_, wrongHeader := event(t, "evt_sig", checkout.EventSessionCompleted, obj, time.Now(), "whsec_wrong")
	oldPayload, oldHeader := event(t, "evt_sig", checkout.EventSessionCompleted, obj, time.Now().Add(-400*time.Second), secret)
	flipped := []byte(string(good))
	i := strings.Index(string(flipped), "evt_sig") + 4
	flipped[i] ^= 0x01

	cases := map[string]struct {
		payload []byte
		header  string
	}{
		"missing":        {good, ""},
		"malformed":      {good, "t=abc,v1=zz"},
		"no_v1":          {good, fmt.Sprintf("t=%d", time.Now().Unix())},
		"wrong_secret":   {good, wrongHeader},
		"byte_flipped":   {flipped, header},
		"too_old":        {oldPayload, oldHeader},
		"empty_payload":  {nil, header},
		"header_garbage": {good, "garbage"},
	}
	write := func() int {
		return e.count(t, `SELECT (SELECT count(*) FROM webhook_events) + (SELECT count(*) FROM transactions) +
			(SELECT count(*) FROM purchases WHERE status <> 'open') + (SELECT count(*) FROM billing_details)`)
	}
	before := write()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := e.svc.HandleWebhook(ctx, c.payload, c.header)
			if apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("err = %v, want InvalidArgument", err)
			}
		})
	}
	if after := write(); after != before {
		t.Fatalf("rejected deliveries wrote %d rows", after-before)
	}
	if err := e.svc.HandleWebhook(ctx, good, header); err != nil {
		t.Fatalf("the good delivery: %v", err)
	}
	if b, _ := e.store.Balance(ctx, user); b.Available != 20 {
		t.Fatalf("balance %d after the good delivery, want 20", b.Available)
	}
}

// TestRefundAndDispute: refunds take credits back proportionally, from
// available down to zero with the rest owed, once per refunded level;
// disputes mark the purchase.
func TestRefundAndDispute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	user := uuid.NewString()
	_, purchase, err := e.svc.CreateCheckoutSession(ctx, user, "starter") // 20 credits for 900
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.store.Purchase(ctx, purchase, user)
	charge := e.fake.Pay(p.SessionID)
	send := func(id, typ string, obj map[string]any) {
		t.Helper()
		payload, header := event(t, id, typ, obj, time.Now(), secret)
		for range 2 {
			if err := e.svc.HandleWebhook(ctx, payload, header); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
		}
	}
	send("evt_paid", checkout.EventSessionCompleted, map[string]any{"id": p.SessionID})
	e.fake.Refund(charge, 450)
	send("evt_refund_half", checkout.EventChargeRefunded, map[string]any{"id": charge, "object": "charge"})
	if b, _ := e.store.Balance(ctx, user); b.Available != 10 {
		t.Fatalf("after half refund: %+v, want 10 available", b)
	}
	// 8 of the remaining 10 are spent, then the rest of the charge is
	// refunded: 2 credits come back from available and 8 are owed.
	h, err := e.store.Reserve(ctx, ledger.ReserveRequest{UserID: user, JobID: uuid.NewString(), Amount: 8, ExpireTime: time.Now().Add(time.Hour), Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Capture(ctx, h.ID, "", 8, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.fake.Refund(charge, 900)
	send("evt_refund_full", checkout.EventChargeRefunded, map[string]any{"id": charge, "object": "charge"})
	if b, _ := e.store.Balance(ctx, user); b.Available != 0 {
		t.Fatalf("after full refund: %+v, want 0 available", b)
	}
	if owed := e.count(t, `SELECT coalesce(-sum(amount), 0) FROM entries WHERE user_id = $1 AND account = 'receivable'`, user); owed != 8 {
		t.Fatalf("receivable %d, want 8 owed", owed)
	}
	if n := e.count(t, `SELECT count(*) FROM transactions WHERE purchase_id = $1 AND kind = 'refund'`, purchase); n != 2 {
		t.Fatalf("%d refund transactions, want 2", n)
	}
	send("evt_dispute", checkout.EventDisputeCreated, map[string]any{"id": "dp_1", "object": "dispute", "charge": charge})
	if p, _ := e.store.Purchase(ctx, purchase, ""); p.Status != checkout.StatusDisputed {
		t.Fatalf("status %s after dispute", p.Status)
	}
}

// TestTestMode: confirmation grants through the same fulfilment, once;
// another user's purchase is NotFound; with Stripe configured it is refused.
func TestTestMode(t *testing.T) {
	t.Parallel()
	pool := storetest.New(t)
	t.Cleanup(func() { storetest.AssertInvariants(t, pool) })
	st := store.New(pool, nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := checkout.NewService(st, payments.NewLocal("http://localhost:8080"), checkout.Config{
		Packs: checkout.DefaultPacks(), PublicURL: "http://localhost:8080", TestMode: true,
	}, logger)
	ctx := t.Context()
	user := uuid.NewString()
	url, purchase, err := svc.CreateCheckoutSession(ctx, user, "studio")
	if err != nil || url != "http://localhost:8080/checkout/test/"+purchase {
		t.Fatalf("url = %q, %v", url, err)
	}
	if _, err := svc.ConfirmTestCheckout(ctx, uuid.NewString(), purchase); apperr.KindOf(err) != apperr.KindNotFound {
		t.Fatalf("another user's confirm: %v, want NotFound", err)
	}
	for range 3 {
		p, err := svc.ConfirmTestCheckout(ctx, user, purchase)
		if err != nil || p.Status != checkout.StatusPaid {
			t.Fatalf("confirm = %+v, %v", p, err)
		}
	}
	if b, _ := st.Balance(ctx, user); b.Available != 60 {
		t.Fatalf("balance %+v, want 60", b)
	}
	if err := svc.HandleWebhook(ctx, []byte("{}"), "t=1,v1=00"); apperr.KindOf(err) != apperr.KindPrecondition {
		t.Fatalf("webhook in test mode: %v, want FailedPrecondition", err)
	}
	live := checkout.NewService(st, payments.NewLocal("http://localhost:8080"), checkout.Config{Packs: checkout.DefaultPacks(), WebhookSecret: secret}, logger)
	if _, err := live.ConfirmTestCheckout(ctx, user, purchase); apperr.KindOf(err) != apperr.KindPrecondition {
		t.Fatalf("confirm with Stripe configured: %v, want FailedPrecondition", err)
	}
}

func TestParsePacks(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		in   string
		ok   bool
		want []string
	}{
		"defaults_shape":  {"starter:Starter:20:900:usd,studio:Studio:60:2400:usd", true, []string{"starter", "studio"}},
		"sorted_by_price": {"big:Big:150:4900:usd,small:Small:20:900:usd", true, []string{"small", "big"}},
		"missing_field":   {"starter:Starter:20:900", false, nil},
		"zero_credits":    {"starter:Starter:0:900:usd", false, nil},
		"bad_currency":    {"starter:Starter:20:900:dollars", false, nil},
		"duplicate_id":    {"a:A:1:1:usd,a:B:2:2:usd", false, nil},
		"empty":           {"", false, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			packs, err := checkout.ParsePacks(c.in)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			var ids []string
			for _, p := range packs {
				ids = append(ids, p.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(c.want) && c.ok {
				t.Fatalf("ids = %v, want %v", ids, c.want)
			}
		})
	}
}

func TestRefundCredits(t *testing.T) {
	t.Parallel()
	p := checkout.Purchase{Credits: 20, Amount: 900}
	for refunded, want := range map[int64]int64{0: 0, 1: 0, 45: 1, 450: 10, 899: 19, 900: 20, 1000: 20} {
		if got := checkout.RefundCredits(p, refunded); got != want {
			t.Errorf("RefundCredits(%d) = %d, want %d", refunded, got, want)
		}
	}
}
