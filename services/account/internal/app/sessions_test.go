package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	"github.com/connectengine/photoshoot/services/account/internal/password"
)

func sessionCred(tok string) *accountv1.AuthenticateRequest {
	return &accountv1.AuthenticateRequest{Credential: &accountv1.AuthenticateRequest_SessionToken{SessionToken: tok}}
}

// TestRevokeAllSessions_twoReplicas: sign-out everywhere on one replica
// invalidates every session on both at once.
func TestRevokeAllSessions_twoReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, b := e.start(nil), e.start(nil)
	s1, access := a.signIn(t, "two@example.com")
	s2, _ := b.signIn(t, "two@example.com")
	tokens := []string{s1.GetSessionToken(), s2.GetSessionToken()}
	for _, r := range []*replica{a, b} {
		for _, tok := range tokens {
			if _, err := r.client.Authenticate(t.Context(), sessionCred(tok)); err != nil {
				t.Fatalf("Authenticate before revoke: %v", err)
			}
		}
	}
	list, err := b.client.ListSessions(asUser(t.Context(), access), &accountv1.ListSessionsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetSessions()) != 1 || list.GetNextPageToken() == "" {
		t.Fatalf("first page = %v", list)
	}
	next, err := b.client.ListSessions(asUser(t.Context(), access), &accountv1.ListSessionsRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.GetSessions()) != 1 || next.GetNextPageToken() != "" || next.GetSessions()[0].GetId() == list.GetSessions()[0].GetId() {
		t.Fatalf("second page = %v", next)
	}
	if !next.GetSessions()[0].GetCurrent() && !list.GetSessions()[0].GetCurrent() {
		t.Error("no session marked current")
	}
	_, err = b.client.ListSessions(asUser(t.Context(), access), &accountv1.ListSessionsRequest{PageToken: list.GetNextPageToken() + "x"})
	wantCode(t, err, codes.InvalidArgument)

	resp, err := a.client.RevokeAllSessions(asUser(t.Context(), access), &accountv1.RevokeAllSessionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRevokedCount() != 2 {
		t.Errorf("revoked %d, want 2", resp.GetRevokedCount())
	}
	for _, r := range []*replica{a, b} {
		for _, tok := range tokens {
			_, err := r.client.Authenticate(t.Context(), sessionCred(tok))
			wantCode(t, err, codes.Unauthenticated)
		}
	}
}

func TestSessions_signOutAndRevokeOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	s1, access1 := r.signIn(t, "one@example.com")
	s2, access2 := r.signIn(t, "one@example.com")
	other, accessOther := r.signIn(t, "other@example.com")

	// Another user's session reads as not found.
	_, err := r.client.RevokeSession(asUser(t.Context(), accessOther), &accountv1.RevokeSessionRequest{SessionId: s1.GetSession().GetId()})
	wantCode(t, err, codes.NotFound)
	if _, err := r.client.RevokeSession(asUser(t.Context(), access1), &accountv1.RevokeSessionRequest{SessionId: s2.GetSession().GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = r.client.Authenticate(t.Context(), sessionCred(s2.GetSessionToken()))
	wantCode(t, err, codes.Unauthenticated)
	_ = access2
	if _, err := r.client.DeleteCurrentSession(asUser(t.Context(), access1), &accountv1.DeleteCurrentSessionRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = r.client.Authenticate(t.Context(), sessionCred(s1.GetSessionToken()))
	wantCode(t, err, codes.Unauthenticated)
	if _, err := r.client.Authenticate(t.Context(), sessionCred(other.GetSessionToken())); err != nil {
		t.Errorf("other user's session affected: %v", err)
	}
	// Unauthenticated calls to public RPCs are refused.
	_, err = r.client.GetMe(t.Context(), &accountv1.GetMeRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

func TestSessions_idleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	s, _ := r.signIn(t, "idle@example.com")
	e.clock.Advance(6 * 24 * time.Hour)
	if _, err := r.client.Authenticate(t.Context(), sessionCred(s.GetSessionToken())); err != nil {
		t.Fatalf("Authenticate after 6 idle days: %v", err)
	}
	e.clock.Advance(7*24*time.Hour + time.Minute)
	_, err := r.client.Authenticate(t.Context(), sessionCred(s.GetSessionToken()))
	wantCode(t, err, codes.Unauthenticated)
}

// TestRateLimits_twoReplicas: the limits are counted in Postgres, so they
// hold across replicas, and a refusal carries a retry delay.
func TestRateLimits_twoReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, b := e.start(nil), e.start(nil)
	ask := func(r *replica, email, ip string) error {
		_, err := r.client.CreateMagicLink(fromIP(t.Context(), ip), &accountv1.CreateMagicLinkRequest{Email: email})
		return err
	}
	for i := range 5 {
		if err := ask([]*replica{a, b}[i%2], "limited@example.com", fmt.Sprintf("203.0.113.%d", i)); err != nil {
			t.Fatalf("link %d: %v", i+1, err)
		}
	}
	err := ask(a, "LIMITED@example.com", "203.0.113.99")
	wantCode(t, err, codes.ResourceExhausted)
	if d := retryAfter(t, err); d <= 0 || d > 15*time.Minute {
		t.Errorf("retry after %v, want within 15 minutes", d)
	}
	for i := range 20 {
		if err := ask([]*replica{a, b}[i%2], fmt.Sprintf("ip%d@example.com", i), "192.0.2.1"); err != nil {
			t.Fatalf("link %d from one IP: %v", i+1, err)
		}
	}
	err = ask(b, "ip-last@example.com", "192.0.2.1")
	wantCode(t, err, codes.ResourceExhausted)
	retryAfter(t, err)
	// Other addresses are unaffected, and the window slides.
	if err := ask(a, "free@example.com", "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(15*time.Minute + time.Second)
	if err := ask(b, "limited@example.com", "192.0.2.3"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

// TestPassword_argon2idRehashAndGenericErrors covers setting, signing in,
// the stored parameters, rehashing an old hash, the generic error and the
// revocation of other sessions.
func TestPassword_argon2idRehashAndGenericErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.start(nil)
	keep, access := r.signIn(t, "pw@example.com")
	other, _ := r.signIn(t, "pw@example.com")
	ctx := asUser(t.Context(), access)
	_, err := r.client.SetPassword(ctx, &accountv1.SetPasswordRequest{NewPassword: "short"})
	wantCode(t, err, codes.InvalidArgument)
	if _, err := r.client.SetPassword(ctx, &accountv1.SetPasswordRequest{NewPassword: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	var phc string
	if err := e.db.QueryRow(t.Context(), "SELECT password_hash FROM users WHERE email = 'pw@example.com'").Scan(&phc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("stored hash %q, want argon2id m=19456,t=2,p=1", phc)
	}
	// Other sessions were revoked, this one kept.
	if _, err := r.client.Authenticate(t.Context(), sessionCred(keep.GetSessionToken())); err != nil {
		t.Errorf("own session revoked: %v", err)
	}
	_, err = r.client.Authenticate(t.Context(), sessionCred(other.GetSessionToken()))
	wantCode(t, err, codes.Unauthenticated)
	// Changing it needs the current one.
	_, err = r.client.SetPassword(ctx, &accountv1.SetPasswordRequest{NewPassword: "another good one"})
	wantCode(t, err, codes.FailedPrecondition)

	signIn := func(email, pw string) error {
		_, err := r.client.CreatePasswordSession(t.Context(), &accountv1.CreatePasswordSessionRequest{Email: email, Password: pw})
		return err
	}
	if err := signIn("PW@example.com", "correct horse battery"); err != nil {
		t.Fatalf("password sign-in: %v", err)
	}
	r.signIn(t, "nopw@example.com")
	errWrong, errUnknown, errNoPw := signIn("pw@example.com", "wrong horse"), signIn("nobody@example.com", "whatever-pw"), signIn("nopw@example.com", "whatever-pw")
	for _, err := range []error{errWrong, errUnknown, errNoPw} {
		wantCode(t, err, codes.Unauthenticated)
	}
	if a, b, c := errWrong.Error(), errUnknown.Error(), errNoPw.Error(); a != b || b != c {
		t.Errorf("errors differ: %q %q %q", a, b, c)
	}

	// A hash made with other parameters is replaced on the next sign-in.
	h, err := password.NewHasher(password.Params{Memory: 19 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	old, err := h.Hash(t.Context(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(t.Context(), "UPDATE users SET password_hash = $1 WHERE email = 'pw@example.com'", old); err != nil {
		t.Fatal(err)
	}
	if err := signIn("pw@example.com", "correct horse battery"); err != nil {
		t.Fatalf("sign-in with old hash: %v", err)
	}
	if err := e.db.QueryRow(t.Context(), "SELECT password_hash FROM users WHERE email = 'pw@example.com'").Scan(&phc); err != nil {
		t.Fatal(err)
	}
	if phc == old || !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash not rehashed with current parameters: %q", phc)
	}
}

// TestPassword_failedAttemptsDelay: ten failures per window, then a
// growing delay with a retry time; never a permanent lock-out.
func TestPassword_failedAttemptsDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, b := e.start(nil), e.start(nil)
	_, access := a.signIn(t, "guess@example.com")
	if _, err := a.client.SetPassword(asUser(t.Context(), access), &accountv1.SetPasswordRequest{NewPassword: "the real password"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Freeze() // delays are compared exactly; no more tokens are needed
	try := func(r *replica, pw string) error {
		_, err := r.client.CreatePasswordSession(t.Context(), &accountv1.CreatePasswordSessionRequest{Email: "guess@example.com", Password: pw})
		return err
	}
	for i := range 10 {
		wantCode(t, try([]*replica{a, b}[i%2], "wrong"), codes.Unauthenticated)
	}
	err := try(a, "the real password")
	wantCode(t, err, codes.ResourceExhausted)
	first := retryAfter(t, err)
	if first != time.Second {
		t.Errorf("first delay %v, want 1s", first)
	}
	e.clock.Advance(2 * time.Second)
	wantCode(t, try(b, "wrong again"), codes.Unauthenticated)
	err = try(a, "wrong again")
	wantCode(t, err, codes.ResourceExhausted)
	if second := retryAfter(t, err); second != 2*time.Second {
		t.Errorf("delay did not grow: %v then %v, want 2s", first, second)
	}
	e.clock.Advance(15*time.Minute + time.Second)
	if err := try(b, "the real password"); err != nil {
		t.Errorf("after the window the right password is refused: %v", err)
	}
}
