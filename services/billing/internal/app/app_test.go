package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/platform/platformtest"
	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/pkg/rpc"
	"github.com/connectengine/photoshoot/pkg/telemetry/telemetrytest"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/app"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/store/storetest"
)

type harness struct {
	public   billingv1.BillingServiceClient // no credentials of its own
	internal billingv1.BillingServiceClient // with the service credential
	signer   *authn.Signer
	nc       *nats.Conn
	dbURL    string
	metrics  string // host:port serving /metrics
}

func start(t *testing.T, extra map[string]string) *harness {
	t.Helper()
	natsSrv := eventstest.New(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	dbURL := storetest.NewDatabase(t)
	env := map[string]string{
		"DATABASE_URL":          dbURL,
		"NATS_URL":              natsSrv.URL(),
		"ACCOUNT_ADDR":          "127.0.0.1:1",
		"SERVICE_AUTH_SECRET":   hex.EncodeToString(secret),
		"DEV_MODE":              "1",
		"PUBLIC_URL":            "http://localhost:8080",
		"SHUTDOWN_TIMEOUT":      "5s",
		"OTEL_METRICS_EXPORTER": "prometheus",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := authn.NewSigner("k1", priv, platform.TokenIssuer, platform.TokenAudience, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = func(context.Context) ([]authn.PublicKey, error) { return []authn.PublicKey{signer.PublicKey()}, nil }
	cfg.LogWriter = io.Discard
	metricsLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Telemetry.MetricsListener = metricsLis

	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := platformtest.Serve(t, a.Serve)

	bare, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	svcToken, _ := authn.NewServiceToken(secret, "test")
	conn, err := rpc.Dial(srv.Addr, rpc.ClientOptions{Service: svcToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	platformtest.WaitServing(t, bare)
	nc, err := nats.Connect(natsSrv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &harness{
		public: billingv1.NewBillingServiceClient(bare), internal: billingv1.NewBillingServiceClient(conn),
		signer: signer, nc: nc, dbURL: dbURL, metrics: metricsLis.Addr().String(),
	}
}

// as returns ctx carrying user's access token.
func (h *harness) as(t *testing.T, ctx context.Context, user string) context.Context {
	t.Helper()
	tok, err := h.signer.Sign(authn.Caller{UserID: user}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// publish puts an account event on JetStream as account's outbox relay
// would, retrying until the ACCOUNT stream exists.
func (h *harness) publish(t *testing.T, subject string, payload proto.Message) {
	t.Helper()
	data, _ := proto.Marshal(payload)
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(nats.MsgIdHdr, uuid.NewString())
	js, _ := h.nc.JetStream()
	eventually(t, func() error { _, err := js.PublishMsg(msg); return err })
}

func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("err = %v, want %v", err, code)
	}
}

func TestBillingOverGRPC(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	ctx := t.Context()
	alice, bob := uuid.NewString(), uuid.NewString()
	actx, bctx := h.as(t, ctx, alice), h.as(t, ctx, bob)

	// Trial credits arrive from account.user.created, once per user.
	created := &eventsv1.UserCreated{UserId: alice}
	h.publish(t, events.SubjectUserCreated, created)
	h.publish(t, events.SubjectUserCreated, created)
	eventually(t, func() error {
		b, err := h.public.GetBalance(actx, &billingv1.GetBalanceRequest{})
		if err != nil || b.GetAvailable() != 5 {
			return errors.New("no trial credits yet")
		}
		return nil
	})

	packs, err := h.public.ListPacks(ctx, &billingv1.ListPacksRequest{})
	if err != nil || len(packs.GetPacks()) != 3 || packs.GetPacks()[0].GetId() != "starter" {
		t.Fatalf("packs = %v, %v", packs, err)
	}

	// Test-mode checkout.
	cs, err := h.public.CreateCheckoutSession(actx, &billingv1.CreateCheckoutSessionRequest{PackId: "starter"})
	if err != nil || cs.GetUrl() != "http://localhost:8080/checkout/test/"+cs.GetPurchaseId() {
		t.Fatalf("checkout = %v, %v", cs, err)
	}
	_, err = h.public.CreateCheckoutSession(actx, &billingv1.CreateCheckoutSessionRequest{PackId: "nope"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = h.public.ConfirmTestCheckout(bctx, &billingv1.ConfirmTestCheckoutRequest{PurchaseId: cs.GetPurchaseId()})
	wantCode(t, err, codes.NotFound)
	done, err := h.public.ConfirmTestCheckout(actx, &billingv1.ConfirmTestCheckoutRequest{PurchaseId: cs.GetPurchaseId()})
	if err != nil || done.GetPurchase().GetStatus() != "paid" {
		t.Fatalf("confirm = %v, %v", done, err)
	}
	details, err := h.public.GetBillingDetails(actx, &billingv1.GetBillingDetailsRequest{})
	if err != nil || details.GetDetails().GetCardBrand() != "test" {
		t.Fatalf("details = %v, %v", details, err)
	}

	// Holds, through the internal RPCs.
	_, err = h.internal.Reserve(ctx, &billingv1.ReserveRequest{JobId: "job-big", UserId: alice, Amount: 100})
	wantCode(t, err, codes.FailedPrecondition)
	st, _ := status.FromError(err)
	var reason string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
		}
	}
	if reason != ledger.ReasonInsufficientCredits {
		t.Fatalf("ErrorInfo reason = %q, want %s", reason, ledger.ReasonInsufficientCredits)
	}
	res, err := h.internal.Reserve(ctx, &billingv1.ReserveRequest{JobId: "job-1", UserId: alice, Amount: 3})
	if err != nil || res.GetHold().GetState() != billingv1.HoldState_HOLD_STATE_HELD {
		t.Fatalf("reserve = %v, %v", res, err)
	}
	again, err := h.internal.Reserve(ctx, &billingv1.ReserveRequest{JobId: "job-1", UserId: alice, Amount: 3})
	if err != nil || again.GetHold().GetId() != res.GetHold().GetId() {
		t.Fatalf("repeat reserve = %v, %v", again, err)
	}
	// Another user's hold is not found when the caller forwards their token.
	_, err = h.internal.Capture(bctx, &billingv1.CaptureRequest{HoldId: res.GetHold().GetId(), Amount: 2})
	wantCode(t, err, codes.NotFound)
	_, err = h.internal.Reserve(bctx, &billingv1.ReserveRequest{JobId: "job-x", UserId: alice, Amount: 1})
	wantCode(t, err, codes.InvalidArgument)
	cap1, err := h.internal.Capture(actx, &billingv1.CaptureRequest{HoldId: res.GetHold().GetId(), Amount: 2})
	if err != nil || cap1.GetHold().GetCaptured() != 2 || cap1.GetHold().GetReleased() != 1 {
		t.Fatalf("capture = %v, %v", cap1, err)
	}
	_, err = h.internal.Release(ctx, &billingv1.ReleaseRequest{HoldId: res.GetHold().GetId()})
	wantCode(t, err, codes.FailedPrecondition)
	b, err := h.public.GetBalance(actx, &billingv1.GetBalanceRequest{})
	if err != nil || b.GetAvailable() != 23 || b.GetHeld() != 0 {
		t.Fatalf("balance = %v, %v; want 23/0", b, err)
	}
	g, err := h.internal.Grant(ctx, &billingv1.GrantRequest{UserId: alice, Amount: 2, Reason: billingv1.GrantReason_GRANT_REASON_PROMO, IdempotencyKey: "promo-1"})
	if err != nil || g.GetTransaction().GetKind() != billingv1.TransactionKind_TRANSACTION_KIND_GRANT_PROMO {
		t.Fatalf("grant = %v, %v", g, err)
	}

	// History, paged, with references.
	var txs []*billingv1.Transaction
	token := ""
	for {
		page, err := h.public.ListTransactions(actx, &billingv1.ListTransactionsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, page.GetTransactions()...)
		if token = page.GetNextPageToken(); token == "" {
			break
		}
		_, err = h.public.ListTransactions(bctx, &billingv1.ListTransactionsRequest{PageToken: token})
		wantCode(t, err, codes.InvalidArgument)
		_, err = h.public.ListTransactions(actx, &billingv1.ListTransactionsRequest{PageToken: token[:len(token)-2] + "AA"})
		wantCode(t, err, codes.InvalidArgument)
	}
	if len(txs) != 5 { // trial, purchase, reserve, capture, promo
		t.Fatalf("%d transactions, want 5", len(txs))
	}
	var sawJob, sawPurchase bool
	for _, tx := range txs {
		sawJob = sawJob || tx.GetJobId() == "job-1"
		sawPurchase = sawPurchase || tx.GetPurchaseId() == cs.GetPurchaseId()
	}
	if !sawJob || !sawPurchase {
		t.Fatalf("transactions lack their job or purchase reference: %v", txs)
	}
	if bob, err := h.public.ListTransactions(bctx, &billingv1.ListTransactionsRequest{}); err != nil || len(bob.GetTransactions()) != 0 {
		t.Fatalf("bob sees %v, %v", bob, err)
	}

	// Credentials.
	_, err = h.public.GetBalance(ctx, &billingv1.GetBalanceRequest{})
	wantCode(t, err, codes.Unauthenticated)
	_, err = h.public.Reserve(actx, &billingv1.ReserveRequest{JobId: "j", UserId: alice, Amount: 1})
	wantCode(t, err, codes.Unauthenticated)

	export, err := h.internal.ExportUserData(ctx, &billingv1.ExportUserDataRequest{UserId: alice})
	if err != nil || len(export.GetTransactions()) != 5 || len(export.GetPurchases()) != 1 || export.GetDetails().GetCardLast4() == "" {
		t.Fatalf("export = %v, %v", export, err)
	}

	// Deletion: an open hold is released, the balance forfeited, the
	// details anonymised, and the purge confirmed by event.
	if _, err := h.internal.Reserve(ctx, &billingv1.ReserveRequest{JobId: "job-2", UserId: alice, Amount: 4}); err != nil {
		t.Fatal(err)
	}
	purged, err := h.nc.SubscribeSync(events.SubjectBillingUserPurged)
	if err != nil {
		t.Fatal(err)
	}
	h.publish(t, events.SubjectUserDeleted, &eventsv1.UserDeleted{UserId: alice, DeletionId: "del-1"})
	msg, err := purged.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no purge confirmation: %v", err)
	}
	var conf eventsv1.UserDataPurged
	if err := proto.Unmarshal(msg.Data, &conf); err != nil || conf.GetUserId() != alice || conf.GetDeletionId() != "del-1" || conf.GetService() != "billing" {
		t.Fatalf("confirmation = %v, %v", &conf, err)
	}
	b, err = h.public.GetBalance(actx, &billingv1.GetBalanceRequest{})
	if err != nil || b.GetAvailable() != 0 || b.GetHeld() != 0 {
		t.Fatalf("balance after deletion = %v, %v", b, err)
	}
	if d, _ := h.public.GetBillingDetails(actx, &billingv1.GetBillingDetailsRequest{}); d.GetDetails().GetCardLast4() != "" || d.GetDetails().GetName() != "" {
		t.Fatalf("details not anonymised: %v", d)
	}
	if ex, _ := h.internal.ExportUserData(ctx, &billingv1.ExportUserDataRequest{UserId: alice}); len(ex.GetTransactions()) != 8 {
		t.Fatalf("ledger not kept: %d transactions, want 8", len(ex.GetTransactions()))
	}

	pool, err := postgres.Open(ctx, h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	storetest.AssertInvariants(t, pool)
}

// TestMetricsOverHTTP does billing's work through its real interfaces (the
// user-created event, the internal RPCs, the reaper), with replays of each,
// and scrapes /metrics: every credit is counted once, when its ledger
// transaction committed, and RPC, consumer and outbox series agree.
func TestMetricsOverHTTP(t *testing.T) {
	t.Parallel()
	h := start(t, map[string]string{"HOLD_REAP_INTERVAL": "100ms"})
	ctx := t.Context()
	alice := uuid.NewString()
	actx := h.as(t, ctx, alice)

	// Two deliveries of user.created (two event ids): one trial grant.
	created := &eventsv1.UserCreated{UserId: alice}
	h.publish(t, events.SubjectUserCreated, created)
	h.publish(t, events.SubjectUserCreated, created)
	for range 2 {
		if _, err := h.internal.Grant(ctx, &billingv1.GrantRequest{UserId: alice, Amount: 7, Reason: billingv1.GrantReason_GRANT_REASON_PROMO, IdempotencyKey: "promo-1"}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() error {
		b, err := h.public.GetBalance(actx, &billingv1.GetBalanceRequest{})
		if err != nil || b.GetAvailable() != 5+7 {
			return fmt.Errorf("balance %v, %v; want 12 available", b, err)
		}
		return nil
	})
	reserve := func(job string, n int64, expire time.Time) string {
		t.Helper()
		req := &billingv1.ReserveRequest{JobId: job, UserId: alice, Amount: n}
		if !expire.IsZero() {
			req.ExpireTime = timestamppb.New(expire)
		}
		res, err := h.internal.Reserve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res.GetHold().GetId()
	}
	captured := reserve("job-capture", 4, time.Time{})
	for range 2 {
		if _, err := h.internal.Capture(ctx, &billingv1.CaptureRequest{HoldId: captured, Amount: 3}); err != nil {
			t.Fatal(err)
		}
	}
	released := reserve("job-release", 2, time.Time{})
	for range 2 {
		if _, err := h.internal.Release(ctx, &billingv1.ReleaseRequest{HoldId: released}); err != nil {
			t.Fatal(err)
		}
	}
	reserve("job-expire", 1, time.Now().Add(time.Second))
	_, err := h.internal.Reserve(ctx, &billingv1.ReserveRequest{JobId: "job-big", UserId: alice, Amount: 1000})
	wantCode(t, err, codes.FailedPrecondition)

	const svc = "photoshoot.billing.v1.BillingService/"
	want := []struct {
		name  string
		match []string
		value float64
	}{
		{"photoshoot_credits_granted_total", []string{"reason", "trial"}, 5},
		{"photoshoot_credits_granted_total", []string{"reason", "promo"}, 7},
		{"photoshoot_credits_captured_total", nil, 3},
		{"photoshoot_credits_released_total", []string{"cause", "capture_rest"}, 1},
		{"photoshoot_credits_released_total", []string{"cause", "release"}, 2},
		{"photoshoot_credits_released_total", []string{"cause", "expire"}, 1},
		{"rpc_server_call_duration_seconds_count", []string{"rpc_method", svc + "Capture", "rpc_response_status_code", "OK"}, 2},
		{"rpc_server_call_duration_seconds_count", []string{"rpc_method", svc + "Reserve", "rpc_response_status_code", "OK"}, 3},
		{"rpc_server_call_duration_seconds_count", []string{"rpc_method", svc + "Reserve", "rpc_response_status_code", "FAILED_PRECONDITION"}, 1},
		{"photoshoot_consumer_messages_total", []string{"consumer", "billing-user-created", "outcome", "handled"}, 2},
		// The trial and the promo grant each published CreditsGranted.
		{"photoshoot_outbox_depth", nil, 0},
		{"photoshoot_outbox_age_seconds", nil, 0},
	}
	m := telemetrytest.WaitFor(t, h.metrics, func(m telemetrytest.Metrics) error {
		for _, w := range want {
			if got, ok := m.Value(w.name, w.match...); !ok || got != w.value {
				return fmt.Errorf("%s%v = %v (present %v), want %v", w.name, w.match, got, ok, w.value)
			}
		}
		return nil
	})
	if _, ok := m.Value("photoshoot_credits_granted_total", "reason", "purchase"); ok {
		t.Errorf("a purchase grant was counted, though none happened")
	}
	pool, err := postgres.Open(ctx, h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var published int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE subject = $1 AND published_at IS NOT NULL`, events.SubjectCreditsGranted).Scan(&published); err != nil || published != 2 {
		t.Errorf("published CreditsGranted events = %d, %v; want 2", published, err)
	}
}

// TestStripeModeRefusesTestCheckout: with a Stripe key configured the
// test-mode confirmation is refused.
func TestStripeModeRefusesTestCheckout(t *testing.T) {
	t.Parallel()
	h := start(t, map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_API_BASE": "http://127.0.0.1:1"})
	_, err := h.public.ConfirmTestCheckout(h.as(t, t.Context(), uuid.NewString()), &billingv1.ConfirmTestCheckoutRequest{PurchaseId: uuid.NewString()})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = h.internal.HandleStripeWebhook(t.Context(), &billingv1.HandleStripeWebhookRequest{Payload: []byte("{}"), Signature: "t=1,v1=00"})
	wantCode(t, err, codes.InvalidArgument)
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"DATABASE_URL": "postgres://x", "NATS_URL": "nats://x", "ACCOUNT_ADDR": "x:1",
		"SERVICE_AUTH_SECRET": strings.Repeat("ab", 32),
	}
	cases := map[string]struct {
		env     map[string]string
		wantErr string // a variable the error must name
	}{
		"no_stripe_without_dev_mode":  {map[string]string{}, "STRIPE_SECRET_KEY"},
		"test_mode_in_dev":            {map[string]string{"DEV_MODE": "1"}, ""},
		"stripe_needs_webhook_secret": {map[string]string{"STRIPE_SECRET_KEY": "sk_x"}, "STRIPE_WEBHOOK_SECRET"},
		"stripe":                      {map[string]string{"STRIPE_SECRET_KEY": "sk_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}, ""},
		"bad_trial":                   {map[string]string{"DEV_MODE": "1", "TRIAL_CREDITS": "-1"}, "TRIAL_CREDITS"},
		"bad_packs":                   {map[string]string{"DEV_MODE": "1", "BILLING_PACKS": "x"}, "BILLING_PACKS"},
		"bad_hold_ttl":                {map[string]string{"DEV_MODE": "1", "HOLD_TTL": "0s"}, "HOLD_TTL"},
		"custom_packs_and_trial":      {map[string]string{"DEV_MODE": "1", "TRIAL_CREDITS": "0", "BILLING_PACKS": "a:A:1:100:eur"}, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range c.env {
				env[k] = v
			}
			_, err := app.LoadConfig(func(k string) string { return env[k] })
			if c.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want one naming %s", err, c.wantErr)
			}
		})
	}
}
