package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/connectengine/photoshoot/gateway/internal/app"
	"github.com/connectengine/photoshoot/pkg/authn"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	analysisv1 "github.com/connectengine/photoshoot/proto/photoshoot/analysis/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
)

// billing answers GetBalance and records the metadata it was called with;
// every other RPC of the five services is Unimplemented.
type billing struct {
	billingv1.UnimplementedBillingServiceServer
	md chan metadata.MD
}

func (b *billing) GetBalance(ctx context.Context, _ *billingv1.GetBalanceRequest) (*billingv1.GetBalanceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	b.md <- md
	return &billingv1.GetBalanceResponse{Available: 3}, nil
}

type upstream struct {
	addr   string
	health *health.Server
	bill   *billing
}

// startUpstream serves all five services on one real gRPC listener.
func startUpstream(t *testing.T) *upstream {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	u := &upstream{addr: lis.Addr().String(), health: health.NewServer(), bill: &billing{md: make(chan metadata.MD, 1)}}
	healthpb.RegisterHealthServer(srv, u.health)
	accountv1.RegisterAccountServiceServer(srv, accountv1.UnimplementedAccountServiceServer{})
	billingv1.RegisterBillingServiceServer(srv, u.bill)
	mediav1.RegisterMediaServiceServer(srv, mediav1.UnimplementedMediaServiceServer{})
	analysisv1.RegisterAnalysisServiceServer(srv, analysisv1.UnimplementedAnalysisServiceServer{})
	generationv1.RegisterGenerationServiceServer(srv, generationv1.UnimplementedGenerationServiceServer{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return u
}

func newGateway(t *testing.T, u *upstream) (*app.App, []byte) {
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
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.LogWriter = io.Discard
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, secret
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
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
		"Authorization", "Bearer user-token",
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
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer user-token" {
		t.Errorf("authorization forwarded as %q", got)
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
