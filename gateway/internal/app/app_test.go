package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/gateway/internal/app"
	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/telemetry/telemetrytest"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"

	"github.com/connectengine/photoshoot/pkg/freeport"
)

// billing answers GetBalance and records the metadata it was called with;
// HandleStripeWebhook records what it received. Every other RPC of the five
// services is Unimplemented. These are the gateway's test peers: the real
// services have their own tests.
type billing struct {
	billingv1.UnimplementedBillingServiceServer
	md      chan metadata.MD
	webhook chan *billingv1.HandleStripeWebhookRequest
}

func (b *billing) GetBalance(ctx context.Context, _ *billingv1.GetBalanceRequest) (*billingv1.GetBalanceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	b.md <- md
	return &billingv1.GetBalanceResponse{Available: 3}, nil
}

func (b *billing) HandleStripeWebhook(_ context.Context, req *billingv1.HandleStripeWebhookRequest) (*billingv1.HandleStripeWebhookResponse, error) {
	b.webhook <- req
	if req.GetSignature() != "t=1,v1=good" {
		return nil, status.Error(codes.InvalidArgument, "bad signature")
	}
	return &billingv1.HandleStripeWebhookResponse{}, nil
}

// account authenticates a few credentials and counts Authenticate calls;
// "slow-session" is answered once slowGate is closed.
type account struct {
	accountv1.UnimplementedAccountServiceServer
	authCalls atomic.Int32
	slowCalls atomic.Int32
	slowGate  chan struct{}
}

func (a *account) Authenticate(_ context.Context, req *accountv1.AuthenticateRequest) (*accountv1.AuthenticateResponse, error) {
	a.authCalls.Add(1)
	exp := timestamppb.New(time.Now().Add(5 * time.Minute))
	switch {
	case req.GetSessionToken() == "slow-session":
		a.slowCalls.Add(1)
		<-a.slowGate
		return &accountv1.AuthenticateResponse{AccessToken: "access-slow", ExpireTime: exp}, nil
	case req.GetSessionToken() == "good-session":
		return &accountv1.AuthenticateResponse{AccessToken: "access-session", ExpireTime: exp}, nil
	case req.GetApiKey() == "ps_good":
		return &accountv1.AuthenticateResponse{AccessToken: "access-key", ExpireTime: exp}, nil
	case req.GetSessionToken() == "flaky":
		return nil, status.Error(codes.Unavailable, "account is restarting")
	}
	return nil, status.Error(codes.Unauthenticated, "unknown credential")
}

func (a *account) CreateSession(_ context.Context, req *accountv1.CreateSessionRequest) (*accountv1.CreateSessionResponse, error) {
	return &accountv1.CreateSessionResponse{SessionToken: "new-session", User: &accountv1.User{Id: "u1"}}, nil
}

func (a *account) CreateMagicLink(_ context.Context, req *accountv1.CreateMagicLinkRequest) (*accountv1.CreateMagicLinkResponse, error) {
	if req.GetEmail() == "limited@example.com" {
		st, _ := status.New(codes.ResourceExhausted, "too many links").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(90 * time.Second)})
		return nil, st.Err()
	}
	return &accountv1.CreateMagicLinkResponse{}, nil
}

func (a *account) DeleteCurrentSession(context.Context, *accountv1.DeleteCurrentSessionRequest) (*accountv1.DeleteCurrentSessionResponse, error) {
	return &accountv1.DeleteCurrentSessionResponse{}, nil
}

type upstream struct {
	addr   string
	health *health.Server
	bill   *billing
	acct   *account
}

// startUpstream serves all five services on one real gRPC listener.
func startUpstream(t *testing.T) *upstream {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	u := &upstream{
		addr: lis.Addr().String(), health: health.NewServer(), acct: &account{slowGate: make(chan struct{})},
		bill: &billing{md: make(chan metadata.MD, 1), webhook: make(chan *billingv1.HandleStripeWebhookRequest, 1)},
	}
	healthpb.RegisterHealthServer(srv, u.health)
	accountv1.RegisterAccountServiceServer(srv, u.acct)
	billingv1.RegisterBillingServiceServer(srv, u.bill)
	mediav1.RegisterMediaServiceServer(srv, mediav1.UnimplementedMediaServiceServer{})
	analysisv1.RegisterAnalysisServiceServer(srv, analysisv1.UnimplementedAnalysisServiceServer{})
	generationv1.RegisterGenerationServiceServer(srv, generationv1.UnimplementedGenerationServiceServer{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return u
}

// newGateway configures a gateway in front of u; extra are more
// environment variables as name, value pairs.
func newGateway(t *testing.T, u *upstream, extra ...string) (*app.App, []byte) {
	t.Helper()
	env := map[string]string{}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	a, secret, _ := startGateway(t, u, env)
	return a, secret
}

// startGateway builds a gateway on u with extra environment; with
// OTEL_METRICS_EXPORTER=prometheus it also returns where /metrics is served.
func startGateway(t *testing.T, u *upstream, extra map[string]string) (*app.App, []byte, string) {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	env := map[string]string{
		"ACCOUNT_ADDR": u.addr, "BILLING_ADDR": u.addr, "MEDIA_ADDR": u.addr,
		"ANALYSIS_ADDR": u.addr, "GENERATION_ADDR": u.addr,
		"SERVICE_AUTH_SECRET": hex.EncodeToString(secret),
		"LOG_FORMAT":          "text",
		"SHUTDOWN_TIMEOUT":    "5s",
	}
	maps.Copy(env, extra)
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.LogWriter = io.Discard
	metrics := ""
	if env["OTEL_METRICS_EXPORTER"] == "prometheus" {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.MetricsListener, metrics = lis, lis.Addr().String()
	}
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, secret, metrics
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, http.MethodGet, path, "", header...)
}

func do(t *testing.T, h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	r.RemoteAddr = "192.0.2.1:1234"
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLoadConfigNamesMissingVariables(t *testing.T) {
	t.Parallel()
	_, err := app.LoadConfig(func(string) string { return "" })
	if err == nil {
		t.Fatal("LoadConfig with an empty environment succeeded")
	}
	for _, name := range []string{"ACCOUNT_ADDR", "BILLING_ADDR", "MEDIA_ADDR", "ANALYSIS_ADDR", "GENERATION_ADDR", "SERVICE_AUTH_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	u := startUpstream(t)
	a, _ := newGateway(t, u)
	h := a.Handler()
	if w := get(t, h, "/healthz"); w.Code != http.StatusOK {
		t.Errorf("/healthz = %d", w.Code)
	}
	if w := get(t, h, "/readyz"); w.Code != http.StatusOK {
		t.Errorf("/readyz with every upstream SERVING = %d %s", w.Code, w.Body)
	}
	u.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	w := get(t, h, "/readyz")
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with upstreams NOT_SERVING = %d", w.Code)
	}
	var body struct{ NotReady []string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.NotReady) != 5 {
		t.Errorf("/readyz body %s: want the five services named (%v)", w.Body, err)
	}
}

func TestOpenAPIListsTheRESTSurface(t *testing.T) {
	t.Parallel()
	a, _ := newGateway(t, startUpstream(t))
	w := get(t, a.Handler(), "/openapi.json")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("/openapi.json = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var doc struct{ Paths map[string]map[string]any }
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/v1/auth/magic-links": "post", "/v1/auth/sessions": "post", "/v1/me": "delete",
		"/v1/billing/balance": "get", "/v1/billing/checkout-sessions": "post",
		"/v1/images": "post", "/v1/images/{imageId}/content": "get", "/v1/images/{imageId}:analyze": "post",
		"/v1/scenes": "get", "/v1/generations": "post", "/v1/generations/{jobId}:cancel": "post",
	}
	for path, method := range want {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("OpenAPI has no %s %s", strings.ToUpper(method), path)
		}
	}
	// Internal RPCs have no REST route, so the document cannot mention them.
	for path := range doc.Paths {
		for _, internal := range []string{"Reserve", "Capture", "Authenticate", "SigningKeys", "ExportUserData", "Webhook"} {
			if strings.Contains(path, internal) {
				t.Errorf("internal RPC %s exposed as %s", internal, path)
			}
		}
	}
}

func TestRESTReachesTheService(t *testing.T) {
	t.Parallel()
	u := startUpstream(t)
	a, secret := newGateway(t, u)
	w := get(t, a.Handler(), "/v1/billing/balance",
		"Cookie", "session=good-session",
		"Grpc-Metadata-X-Service-Authorization", "Bearer forged")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /v1/billing/balance = %d %s", w.Code, w.Body)
	}
	var bal map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &bal); err != nil {
		t.Fatal(err)
	}
	// protojson: lowerCamelCase, int64 as a string, zero values present.
	if bal["available"] != "3" || bal["held"] != "0" {
		t.Errorf("balance JSON = %s", w.Body)
	}
	md := <-u.bill.md
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer access-session" {
		t.Errorf("authorization forwarded as %q, want the access token account issued", got)
	}
	if got := md.Get("x-real-ip"); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Errorf("x-real-ip = %q", got)
	}
	// The only service credential is the gateway's own: a caller cannot
	// inject one through grpc-gateway's Grpc-Metadata-* convention.
	creds := md.Get("x-service-authorization")
	if len(creds) != 1 {
		t.Fatalf("x-service-authorization = %q, want the gateway's one", creds)
	}
	v, err := authn.NewServiceVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := v.Verify(strings.TrimPrefix(creds[0], "Bearer ")); err != nil || name != "gateway" {
		t.Errorf("service credential verifies as %q, %v", name, err)
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	u := startUpstream(t)
	a, _ := newGateway(t, u)
	h := a.Handler()
	cases := []struct {
		name       string
		header     []string
		wantToken  string
		wantStatus int
		clears     bool
	}{
		{name: "api_key", header: []string{"Authorization", "Bearer ps_good"}, wantToken: "Bearer access-key", wantStatus: 200},
		{name: "raw_token_not_forwarded", header: []string{"Authorization", "Bearer eyJhbGciOiJFZERTQSJ9.x.y"}, wantStatus: 200},
		{name: "revoked_cookie_cleared", header: []string{"Cookie", "session=revoked"}, wantStatus: 200, clears: true},
		{name: "account_unavailable", header: []string{"Cookie", "session=flaky"}, wantStatus: 503},
	}
	for _, tc := range cases {
		w := get(t, h, "/v1/billing/balance", tc.header...)
		if w.Code != tc.wantStatus {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, w.Code, tc.wantStatus, w.Body)
			continue
		}
		if w.Code == 200 {
			md := <-u.bill.md
			if got := strings.Join(md.Get("authorization"), ","); got != tc.wantToken {
				t.Errorf("%s: authorization %q, want %q", tc.name, got, tc.wantToken)
			}
		}
		if cleared := strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0"); cleared != tc.clears {
			t.Errorf("%s: Set-Cookie %q, clears=%v want %v", tc.name, w.Header().Get("Set-Cookie"), cleared, tc.clears)
		}
	}
	// A page's burst of requests costs one Authenticate per credential.
	before := u.acct.authCalls.Load()
	for range 3 {
		get(t, h, "/v1/billing/balance", "Cookie", "session=good-session")
		<-u.bill.md
	}
	if n := u.acct.authCalls.Load() - before; n != 1 {
		t.Errorf("three requests made %d Authenticate calls, want 1 (cached)", n)
	}
}

// TestConcurrentMissesShareOneAuthenticate: requests that arrive together
// with a credential not (or no longer) cached cost account one
// Authenticate, not one each.
func TestConcurrentMissesShareOneAuthenticate(t *testing.T) {
	t.Parallel()
	u := startUpstream(t)
	a, _ := newGateway(t, u)
	h := a.Handler()
	const n = 20
	statuses := make(chan int, n)
	for range n {
		go func() { statuses <- get(t, h, "/v1/api-keys", "Cookie", "session=slow-session").Code }()
	}
	// Hold the first call until the others have had time to arrive.
	for u.acct.slowCalls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(u.acct.slowGate)
	for range n {
		// ListApiKeys is unimplemented by the test peer: authenticated
		// requests reach it and get 501.
		if c := <-statuses; c != http.StatusNotImplemented {
			t.Errorf("status %d, want 501 from the upstream", c)
		}
	}
	if got := u.acct.slowCalls.Load(); got != 1 {
		t.Errorf("%d concurrent requests made %d Authenticate calls, want 1", n, got)
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	a, _ := newGateway(t, startUpstream(t))
	h := a.Handler()
	w := do(t, h, http.MethodPost, "/v1/auth/sessions", `{"token":"abc"}`, "Content-Type", "application/json")
	if w.Code != http.StatusOK {
		t.Fatalf("POST /v1/auth/sessions = %d %s", w.Code, w.Body)
	}
	c := w.Result().Cookies()
	if len(c) != 1 || c[0].Name != "session" || c[0].Value != "new-session" || !c[0].HttpOnly ||
		c[0].SameSite != http.SameSiteLaxMode || c[0].Path != "/" || c[0].Domain != "" {
		t.Errorf("cookie = %+v", c)
	}
	if strings.Contains(w.Body.String(), "new-session") {
		t.Errorf("session token leaked into the body: %s", w.Body)
	}
	w = do(t, h, http.MethodDelete, "/v1/auth/sessions/current", "", "Cookie", "session=good-session")
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign-out = %d, Set-Cookie %q", w.Code, w.Header().Get("Set-Cookie"))
	}
	w = do(t, h, http.MethodPost, "/v1/auth/magic-links", `{"email":"a@example.com"}`)
	if w.Code != http.StatusAccepted {
		t.Errorf("magic link = %d, want 202", w.Code)
	}
	w = do(t, h, http.MethodPost, "/v1/auth/magic-links", `{"email":"limited@example.com"}`)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "90" {
		t.Errorf("rate-limited magic link = %d, Retry-After %q; want 429, 90", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestBrowserSafety(t *testing.T) {
	t.Parallel()
	u := startUpstream(t)
	a, _ := newGateway(t, u)
	h := a.Handler()
	// A cross-site form post carrying a valid session cookie is refused.
	w := do(t, h, http.MethodPost, "/v1/auth/sessions", `{"token":"abc"}`,
		"Cookie", "session=good-session", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site POST = %d, want 403", w.Code)
	}
	// Stripe's webhook is exempt and gets the raw body and signature.
	body := `{"id":"evt_1","type":"checkout.session.completed"}`
	w = do(t, h, http.MethodPost, "/webhooks/stripe", body, "Stripe-Signature", "t=1,v1=good", "Sec-Fetch-Site", "cross-site")
	if w.Code != http.StatusOK {
		t.Errorf("webhook = %d %s", w.Code, w.Body)
	}
	if got := <-u.bill.webhook; string(got.GetPayload()) != body || got.GetSignature() != "t=1,v1=good" {
		t.Errorf("billing got %q / %q", got.GetPayload(), got.GetSignature())
	}
	w = do(t, h, http.MethodPost, "/webhooks/stripe", body, "Stripe-Signature", "t=1,v1=forged")
	<-u.bill.webhook
	if w.Code != http.StatusBadRequest {
		t.Errorf("webhook with a bad signature = %d, want 400", w.Code)
	}
	w = get(t, h, "/healthz")
	for _, hdr := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Request-Id"} {
		if w.Header().Get(hdr) == "" {
			t.Errorf("response lacks %s", hdr)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	// The expensive routes are rate limited per client.
	limited := false
	for range 30 {
		if w := do(t, h, http.MethodPost, "/v1/auth/magic-links", `{"email":"a@example.com"}`); w.Code == http.StatusTooManyRequests {
			limited = w.Header().Get("Retry-After") != ""
			break
		}
	}
	if !limited {
		t.Error("30 sign-in link requests from one IP were never limited")
	}
}

func TestErrorsAreStatusJSON(t *testing.T) {
	t.Parallel()
	a, _ := newGateway(t, startUpstream(t))
	w := get(t, a.Handler(), "/v1/scenes")
	if w.Code != http.StatusNotImplemented {
		t.Fatalf("unimplemented RPC = %d, want 501", w.Code)
	}
	var st struct {
		Code    int
		Message string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Code != 12 {
		t.Errorf("error body %s is not a google.rpc.Status with code 12 (%v)", w.Body, err)
	}
	if w := get(t, a.Handler(), "/v1/no-such-route"); w.Code != http.StatusNotFound {
		t.Errorf("unknown route = %d, want 404", w.Code)
	}
}

func TestServeStopsGracefully(t *testing.T) {
	t.Parallel()
	a, _ := newGateway(t, startUpstream(t))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, lis) }()
	resp, err := http.Get("http://" + lis.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// TestMetrics serves real HTTP requests through the gateway and scrapes
// /metrics: request counts and latency per route (the ServeMux pattern or,
// for REST, the google.api.http template, never a raw path) and status, the
// gRPC calls behind them per method, and one fixed server name whatever
// Host a client sends.
func TestMetrics(t *testing.T) {
	t.Parallel()
	u := startUpstream(t)
	a, _, metrics := startGateway(t, u, map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, lis) }()
	base := "http://" + lis.Addr().String()
	request := func(path, host string, header ...string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, host := range []string{"localhost:8080", "attacker.example:1234"} {
		if code := request("/healthz", host); code != http.StatusOK {
			t.Fatalf("/healthz = %d", code)
		}
	}
	if code := request("/v1/billing/balance", "localhost:8080", "Cookie", "session=good-session"); code != http.StatusOK {
		t.Fatalf("/v1/billing/balance = %d", code)
	}
	<-u.bill.md
	if code := request("/v1/images/abc123/content", "localhost:8080", "Cookie", "session=good-session"); code != http.StatusNotImplemented {
		t.Fatalf("/v1/images/abc123/content = %d, want 501 from the stub media service", code)
	}

	const dur = "http_server_request_duration_seconds_count"
	m := telemetrytest.WaitFor(t, metrics, func(m telemetrytest.Metrics) error {
		for _, w := range []struct {
			match []string
			value float64
		}{
			{[]string{"http_route", "/healthz", "http_response_status_code", "200", "http_request_method", "GET"}, 2},
			{[]string{"http_route", "/v1/billing/balance", "http_response_status_code", "200"}, 1},
			{[]string{"http_route", "/v1/images/{image_id}/content", "http_response_status_code", "501"}, 1},
		} {
			if got, ok := m.Value(dur, w.match...); !ok || got != w.value {
				return fmt.Errorf("%s%v = %v (present %v), want %v", dur, w.match, got, ok, w.value)
			}
		}
		const getBalance = "photoshoot.billing.v1.BillingService/GetBalance"
		if got, _ := m.Value("rpc_client_call_duration_seconds_count", "rpc_method", getBalance, "rpc_response_status_code", "OK"); got != 1 {
			return fmt.Errorf("GetBalance client calls = %v, want 1", got)
		}
		return nil
	})
	for _, l := range m.Labels("http_server_request_duration_seconds") {
		if l["server_address"] != "localhost" || l["server_port"] != "8080" {
			t.Errorf("series with server %s:%s, want localhost:8080 (the public origin): %v", l["server_address"], l["server_port"], l)
		}
		if strings.Contains(l["http_route"], "abc123") {
			t.Errorf("raw path in http_route: %v", l)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v", err)
	}
	if resp, err := http.Get("http://" + metrics + "/metrics"); err == nil {
		resp.Body.Close()
		t.Errorf("metrics still served after shutdown")
	}
}

func TestPprofOnlyOnItsOwnListener(t *testing.T) {
	t.Parallel()
	port, err := freeport.Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	a, _ := newGateway(t, startUpstream(t), "GATEWAY_PPROF_ADDR", debugAddr)
	for _, path := range []string{"/debug/pprof/", "/debug/vars"} {
		if w := get(t, a.Handler(), path); w.Code == http.StatusOK {
			t.Errorf("the public handler serves %s (%d)", path, w.Code)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
	}()
	// Serve opens the debug listener as it starts: poll until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + debugAddr + "/debug/pprof/cmdline")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /debug/pprof/cmdline on GATEWAY_PPROF_ADDR = %d", resp.StatusCode)
			}
			resp, err := http.Get("http://" + debugAddr + "/debug/vars")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var vars struct{ Memstats struct{ Mallocs uint64 } }
			if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil || vars.Memstats.Mallocs == 0 {
				t.Errorf("GET /debug/vars on GATEWAY_PPROF_ADDR: no memstats (%v)", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GATEWAY_PPROF_ADDR never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
