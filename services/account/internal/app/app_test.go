package app_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

func TestSignIn_magicLinkCreatesUserAndSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	resp, access := r.signIn(t, "Seller@Example.com")
	u := resp.GetUser()
	if u.GetEmail() != "seller@example.com" || u.GetState() != accountv1.UserState_USER_STATE_ACTIVE || resp.GetSessionToken() == "" {
		t.Fatalf("CreateSession = %v", resp)
	}
	if !resp.GetSession().GetCurrent() || resp.GetSession().GetUserAgent() != "TestBrowser/1.0" || resp.GetSession().GetIpAddress() != "198.51.100.7" {
		t.Errorf("session = %v", resp.GetSession())
	}
	if got := e.count(t, "SELECT count(*) FROM outbox WHERE subject = $1", events.SubjectUserCreated); got != 1 {
		t.Errorf("UserCreated events = %d, want 1", got)
	}
	me, err := r.client.GetMe(asUser(t.Context(), access), &accountv1.GetMeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if me.GetUser().GetId() != u.GetId() || me.GetUser().GetPreferences().GetDefaultSize() != "1K" {
		t.Errorf("GetMe = %v", me)
	}
	r.mailLink(t, "seller@example.com", "Welcome", 0)

	// The second sign-in finds the same user and emits nothing new.
	again, _ := r.signIn(t, "seller@example.com")
	if again.GetUser().GetId() != u.GetId() || again.GetSession().GetId() == resp.GetSession().GetId() {
		t.Errorf("second sign-in: user %s session %s", again.GetUser().GetId(), again.GetSession().GetId())
	}
	if got := e.count(t, "SELECT count(*) FROM outbox WHERE subject = $1", events.SubjectUserCreated); got != 1 {
		t.Errorf("UserCreated events after second sign-in = %d, want 1", got)
	}
	// Only hashes are stored.
	if got := e.count(t, "SELECT count(*) FROM sessions WHERE token_hash = convert_to($1, 'UTF8')", resp.GetSessionToken()); got != 0 {
		t.Error("session token stored in clear")
	}

	// The access token verifies with the keys GetSigningKeys serves.
	v, err := authn.NewVerifier(platform.AccountKeys(r.client), authn.VerifierOptions{Issuer: platform.TokenIssuer, Audience: platform.TokenAudience})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(t.Context(), access)
	if err != nil {
		t.Fatalf("verify access token: %v", err)
	}
	if c.UserID != u.GetId() || c.SessionID != resp.GetSession().GetId() || c.Admin || time.Until(c.Expiry) > authn.MaxTokenTTL {
		t.Errorf("claims = %+v", c)
	}
}

// TestCreateSession_concurrentRedemptions: 100 redemptions of one token at
// once open exactly one session; the other 99 get the same error.
func TestCreateSession_concurrentRedemptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	tok := r.requestLink(t, "race@example.com")
	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = r.client.CreateSession(t.Context(), &accountv1.CreateSessionRequest{Token: tok})
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	var failures []*status.Status
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		failures = append(failures, status.Convert(err))
	}
	if ok != 1 {
		t.Fatalf("%d redemptions succeeded, want 1", ok)
	}
	for _, st := range failures {
		if st.Code() != codes.Unauthenticated || st.Message() != failures[0].Message() {
			t.Fatalf("failure %v differs from %v", st, failures[0])
		}
	}
	if got := e.count(t, "SELECT count(*) FROM sessions"); got != 1 {
		t.Errorf("sessions = %d, want 1", got)
	}
	if got := e.count(t, "SELECT count(*) FROM users"); got != 1 {
		t.Errorf("users = %d, want 1", got)
	}
}

// TestCreateMagicLink_knownAndUnknownIdentical: the marshalled responses
// are byte-identical and the same rows are written.
func TestCreateMagicLink_knownAndUnknownIdentical(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	r.signIn(t, "known@example.com")
	rows := func() [3]int {
		return [3]int{
			e.count(t, "SELECT count(*) FROM magic_links"),
			e.count(t, "SELECT count(*) FROM outbox WHERE subject = $1", events.SubjectMailRequested),
			e.count(t, "SELECT count(*) FROM outbox"),
		}
	}
	var bodies [][]byte
	var deltas [][3]int
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		before := rows()
		resp, err := r.client.CreateMagicLink(t.Context(), &accountv1.CreateMagicLinkRequest{Email: email})
		if err != nil {
			t.Fatalf("CreateMagicLink(%s): %v", email, err)
		}
		b, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
		after := rows()
		deltas = append(deltas, [3]int{after[0] - before[0], after[1] - before[1], after[2] - before[2]})
		if got := e.count(t, "SELECT count(*) FROM magic_links WHERE email = $1 AND used_at IS NULL", email); got != 1 {
			t.Errorf("%s: open links = %d, want 1", email, got)
		}
	}
	if string(bodies[0]) != string(bodies[1]) {
		t.Errorf("responses differ: %x vs %x", bodies[0], bodies[1])
	}
	if deltas[0] != deltas[1] || deltas[0] != [3]int{1, 1, 1} {
		t.Errorf("rows written: known %v, unknown %v, want {1 1 1} each", deltas[0], deltas[1])
	}
}

// TestCreateSession_expiredAndForeignTokens: a token past its ten minutes
// is refused (fake clock); a token opens only its own email's account.
func TestCreateSession_expiredAndForeignTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	r.signIn(t, "b@example.com") // b has an account already
	tokA := r.requestLink(t, "a@example.com")
	tokB := r.requestLink(t, "b@example.com")

	sa, err := r.client.CreateSession(t.Context(), &accountv1.CreateSessionRequest{Token: tokA})
	if err != nil {
		t.Fatal(err)
	}
	if sa.GetUser().GetEmail() != "a@example.com" {
		t.Errorf("a's token signed in %s", sa.GetUser().GetEmail())
	}
	tampered := tokB[:len(tokB)-1] + map[bool]string{true: "A", false: "B"}[tokB[len(tokB)-1] != 'A']
	_, err = r.client.CreateSession(t.Context(), &accountv1.CreateSessionRequest{Token: tampered})
	wantCode(t, err, codes.Unauthenticated)

	e.clock.Advance(10*time.Minute + time.Second)
	_, err = r.client.CreateSession(t.Context(), &accountv1.CreateSessionRequest{Token: tokB})
	wantCode(t, err, codes.Unauthenticated)
}
