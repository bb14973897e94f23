package app_test

import (
	"context"
	"encoding/hex"

	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/platform/platformtest"
	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/pkg/rpc"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	"github.com/connectengine/photoshoot/services/account/internal/app"
	"github.com/connectengine/photoshoot/services/account/internal/store"
)

const adminEmail = "admin@example.com"

// clock is the fake clock injected into the app; it runs with real time
// plus an offset the test moves.
type clock struct {
	mu     sync.Mutex
	off    time.Duration
	frozen time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen.Add(c.off)
	}
	return time.Now().Add(c.off)
}

// Freeze stops the clock where it is; only Advance moves it then.
func (c *clock) Freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = time.Now()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// env is one database, one NATS server and the peers' test double, shared
// by the replicas a test starts.
type env struct {
	t       testing.TB
	dbURL   string
	db      *pgxpool.Pool
	nats    *eventstest.Server
	peers   *peers
	secret  []byte
	clock   *clock
	mailDir string
}

func newEnv(t testing.TB, analysisReady bool) *env {
	t.Helper()
	url := postgrestest.NewDatabase(t,
		postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
		postgrestest.Migrations{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable},
	)
	pool, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	secret, _ := hex.DecodeString(strings.Repeat("ab", 32))
	return &env{t: t, dbURL: url, db: pool, nats: eventstest.New(t), peers: startPeers(t, analysisReady),
		secret: secret, clock: &clock{}, mailDir: t.TempDir()}
}

// replica is one running account app and a client to it.
type replica struct {
	client accountv1.AccountServiceClient
}

// start runs an app on the env (edit adjusts its configuration) and stops
// it when the test ends.
func (e *env) start(edit func(*app.Config)) *replica {
	t := e.t
	t.Helper()
	cfg := app.Config{
		Config: platform.Config{
			Service: "account", DatabaseURL: e.dbURL, NATSURL: e.nats.URL(), AccountAddr: "self",
			ServiceAuthSecret: e.secret, PublicURL: "http://studio.test", DevMode: true,
			ShutdownTimeout: 10 * time.Second, StreamReplicas: 1, Getenv: func(string) string { return "" },
			LogWriter: io.Discard,
		},
		BillingAddr: e.peers.addr, MediaAddr: e.peers.addr, AnalysisAddr: e.peers.addr, GenerationAddr: e.peers.addr,
		MailFrom: "Photoshoot Studio <studio@example.com>", SupportEmail: "support@example.com",
		MailDir: e.mailDir, AdminEmails: []string{adminEmail}, HashConcurrency: 4, Now: e.clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(cancel) // after the server has stopped: cleanups run last first
	srv := platformtest.Serve(t, a.Serve)
	svc, err := authn.NewServiceToken(e.secret, "test")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(srv.Addr, rpc.ClientOptions{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	platformtest.WaitServing(t, conn)
	return &replica{client: accountv1.NewAccountServiceClient(conn)}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// asUser adds the user's access token (and optionally a client IP).
func asUser(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func fromIP(ctx context.Context, ip string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-real-ip", ip, "x-forwarded-user-agent", "TestBrowser/1.0")
}

func wantCode(t testing.TB, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

func retryAfter(t testing.TB, err error) time.Duration {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("no RetryInfo in %v", err)
	return 0
}

// mailLink waits for the newest dev mail to `to` with template subject
// containing subj, and returns its first link.
func (r *replica) mailLink(t testing.TB, to, subj string, skip int) string {
	t.Helper()
	var link string
	eventually(t, "mail to "+to, func() bool {
		resp, err := r.client.ListDevMail(t.Context(), &accountv1.ListDevMailRequest{PageSize: 200})
		if err != nil {
			t.Fatalf("ListDevMail: %v", err)
		}
		n := 0
		for _, m := range resp.GetMails() {
			if m.GetTo() == to && strings.Contains(m.GetSubject(), subj) && len(m.GetLinks()) > 0 {
				if n == skip {
					link = m.GetLinks()[0]
					return true
				}
				n++
			}
		}
		return false
	})
	return link
}

func tokenOf(t testing.TB, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "#token=")
	if !ok || !strings.HasPrefix(link, "http://studio.test/auth/confirm#token=") {
		t.Fatalf("link %q is not a confirm link", link)
	}
	return tok
}

// requestLink asks for a sign-in link and returns its token once the new
// mail is in the dev mailbox.
func (r *replica) requestLink(t testing.TB, email string) string {
	t.Helper()
	ctx := fromIP(t.Context(), "198.51.100.7")
	normalized := strings.ToLower(email)
	before := r.countMails(t, normalized)
	if _, err := r.client.CreateMagicLink(ctx, &accountv1.CreateMagicLinkRequest{Email: email}); err != nil {
		t.Fatalf("CreateMagicLink: %v", err)
	}
	eventually(t, "sign-in mail", func() bool { return r.countMails(t, normalized) > before })
	return tokenOf(t, r.mailLink(t, normalized, "sign-in link", 0))
}

// signIn asks for a link, reads it from the dev mailbox and redeems it.
func (r *replica) signIn(t testing.TB, email string) (*accountv1.CreateSessionResponse, string) {
	t.Helper()
	tok := r.requestLink(t, email)
	resp, err := r.client.CreateSession(fromIP(t.Context(), "198.51.100.7"), &accountv1.CreateSessionRequest{Token: tok})
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return resp, r.accessToken(t, resp.GetSessionToken())
}

func (r *replica) countMails(t testing.TB, to string) int {
	t.Helper()
	resp, err := r.client.ListDevMail(t.Context(), &accountv1.ListDevMailRequest{PageSize: 200})
	if err != nil {
		t.Fatalf("ListDevMail: %v", err)
	}
	n := 0
	for _, m := range resp.GetMails() {
		if m.GetTo() == to && strings.Contains(m.GetSubject(), "sign-in link") {
			n++
		}
	}
	return n
}

func (r *replica) accessToken(t testing.TB, sessionToken string) string {
	t.Helper()
	resp, err := r.client.Authenticate(t.Context(), &accountv1.AuthenticateRequest{Credential: &accountv1.AuthenticateRequest_SessionToken{SessionToken: sessionToken}})
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return resp.GetAccessToken()
}

func (e *env) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitMail waits for a dev mail to `to` whose subject contains subj.
func (r *replica) waitMail(t testing.TB, to, subj string) *accountv1.DevMail {
	t.Helper()
	var found *accountv1.DevMail
	eventually(t, "mail "+subj+" to "+to, func() bool {
		resp, err := r.client.ListDevMail(t.Context(), &accountv1.ListDevMailRequest{PageSize: 200})
		if err != nil {
			t.Fatalf("ListDevMail: %v", err)
		}
		for _, m := range resp.GetMails() {
			if m.GetTo() == to && strings.Contains(m.GetSubject(), subj) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}
