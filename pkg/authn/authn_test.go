package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/authn"
)

const (
	issuer   = "photoshoot-account"
	audience = "photoshoot"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable time source for the Verifier.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// keySet is a KeySource whose keys the test can rotate and whose calls it
// counts.
type keySet struct {
	mu    sync.Mutex
	keys  []authn.PublicKey
	err   error
	calls int
}

func (s *keySet) Source(context.Context) ([]authn.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return append([]authn.PublicKey(nil), s.keys...), s.err
}

func (s *keySet) Set(err error, keys ...authn.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.err = keys, err
}

func (s *keySet) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type fixture struct {
	clock  *clock
	keys   *keySet
	signer *authn.Signer
	priv   ed25519.PrivateKey
	v      *authn.Verifier
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{now: t0}, keys: &keySet{}}
	f.signer, f.priv = newSigner(t, "k1")
	f.keys.Set(nil, f.signer.PublicKey())
	v, err := authn.NewVerifier(f.keys.Source, authn.VerifierOptions{
		Issuer:          issuer,
		Audience:        audience,
		Leeway:          10 * time.Second,
		RefreshInterval: time.Minute,
		MaxKeyAge:       time.Hour,
		Now:             f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func newSigner(t *testing.T, kid string) (*authn.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := authn.NewSigner(kid, priv, issuer, audience, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

type testClaims struct {
	SessionID string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

func goodClaims() testClaims {
	return testClaims{
		SessionID: "s1",
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   "u1",
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(t0),
			ExpiresAt: jwt.NewNumericDate(t0.Add(5 * time.Minute)),
		},
	}
}

func mint(t *testing.T, m jwt.SigningMethod, key any, kid string, c testClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify_acceptsGoodToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, err := f.signer.Sign(authn.Caller{UserID: "u1", SessionID: "s1", Admin: true}, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := authn.Caller{UserID: "u1", SessionID: "s1", Admin: true, Token: tok, Expiry: t0.Add(5 * time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("caller (-want +got):\n%s", diff)
	}
	// Near the end of its life, within leeway, it still verifies.
	f.clock.Advance(5*time.Minute + 5*time.Second)
	if _, err := f.v.Verify(t.Context(), tok); err != nil {
		t.Errorf("Verify within leeway: %v", err)
	}
}

func TestVerify_rejects(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		token func(f *fixture) string
	}{
		{"alg_none", func(f *fixture) string {
			return mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", goodClaims())
		}},
		{"hs256_with_public_key_as_secret", func(f *fixture) string {
			return mint(t, jwt.SigningMethodHS256, []byte(f.signer.PublicKey().Key), "k1", goodClaims())
		}},
		{"rs256", func(f *fixture) string { return mint(t, jwt.SigningMethodRS256, rsaKey, "k1", goodClaims()) }},
		{"es256", func(f *fixture) string { return mint(t, jwt.SigningMethodES256, ecKey, "k1", goodClaims()) }},
		{"expired", func(f *fixture) string {
			c := goodClaims()
			c.IssuedAt = jwt.NewNumericDate(t0.Add(-10 * time.Minute))
			c.ExpiresAt = jwt.NewNumericDate(t0.Add(-5 * time.Minute))
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"exp_too_far_in_future", func(f *fixture) string {
			c := goodClaims()
			c.ExpiresAt = jwt.NewNumericDate(t0.Add(time.Hour))
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"missing_exp", func(f *fixture) string {
			c := goodClaims()
			c.ExpiresAt = nil
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"missing_iat", func(f *fixture) string {
			c := goodClaims()
			c.IssuedAt = nil
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"issued_in_future", func(f *fixture) string {
			c := goodClaims()
			c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Minute))
			c.ExpiresAt = jwt.NewNumericDate(t0.Add(5 * time.Minute))
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"missing_subject", func(f *fixture) string {
			c := goodClaims()
			c.Subject = ""
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"wrong_audience", func(f *fixture) string {
			c := goodClaims()
			c.Audience = jwt.ClaimStrings{"someone-else"}
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"service_audience", func(f *fixture) string {
			c := goodClaims()
			c.Audience = jwt.ClaimStrings{authn.ServiceAudience}
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"wrong_issuer", func(f *fixture) string {
			c := goodClaims()
			c.Issuer = "evil"
			return mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)
		}},
		{"missing_kid", func(f *fixture) string { return mint(t, jwt.SigningMethodEdDSA, f.priv, "", goodClaims()) }},
		{"unknown_kid", func(f *fixture) string { return mint(t, jwt.SigningMethodEdDSA, f.priv, "k9", goodClaims()) }},
		{"other_key_with_known_kid", func(f *fixture) string {
			return mint(t, jwt.SigningMethodEdDSA, otherKey, "k1", goodClaims())
		}},
		{"tampered_payload", func(f *fixture) string {
			tok := mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", goodClaims())
			return tamper(t, tok, func(c map[string]any) { c["sub"] = "admin-user" })
		}},
		{"garbage", func(*fixture) string { return "not.a.jwt" }},
		{"empty", func(*fixture) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tok := tt.token(f)
			c, err := f.v.Verify(t.Context(), tok)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", c)
			}
			t.Logf("rejected: %v", err)
			if k := apperr.KindOf(err); k != apperr.KindUnauthenticated {
				t.Errorf("kind = %v, want unauthenticated (err: %v)", k, err)
			}
		})
	}
}

// tamper rewrites the payload of a signed token and keeps its signature.
func tamper(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	edit(claims)
	raw, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func TestVerify_unknownKidRefreshesOnceRateLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	unknown := mint(t, jwt.SigningMethodEdDSA, f.priv, "k9", goodClaims())

	// The first token loads the keys; the kid is still unknown.
	if _, err := f.v.Verify(t.Context(), unknown); apperr.KindOf(err) != apperr.KindUnauthenticated {
		t.Fatalf("Verify = %v, want unauthenticated", err)
	}
	if got := f.keys.Calls(); got != 1 {
		t.Fatalf("source calls = %d, want 1", got)
	}
	// A flood of unknown kids within the refresh interval costs no fetches.
	for range 5 {
		if _, err := f.v.Verify(t.Context(), unknown); apperr.KindOf(err) != apperr.KindUnauthenticated {
			t.Fatalf("Verify = %v, want unauthenticated", err)
		}
	}
	if got := f.keys.Calls(); got != 1 {
		t.Fatalf("source calls after flood = %d, want 1", got)
	}
	// Known kids do not refresh either.
	good := mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", goodClaims())
	if _, err := f.v.Verify(t.Context(), good); err != nil {
		t.Fatalf("Verify good: %v", err)
	}
	// After the interval one more fetch is allowed.
	f.clock.Advance(61 * time.Second)
	late := goodClaims()
	late.IssuedAt = jwt.NewNumericDate(f.clock.Now())
	late.ExpiresAt = jwt.NewNumericDate(f.clock.Now().Add(time.Minute))
	if _, err := f.v.Verify(t.Context(), mint(t, jwt.SigningMethodEdDSA, f.priv, "k9", late)); apperr.KindOf(err) != apperr.KindUnauthenticated {
		t.Fatalf("Verify = %v, want unauthenticated", err)
	}
	if got := f.keys.Calls(); got != 2 {
		t.Fatalf("source calls after interval = %d, want 2", got)
	}
}

func TestVerify_acceptsKeyAfterRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old, err := f.signer.Sign(authn.Caller{UserID: "u1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(t.Context(), old); err != nil {
		t.Fatalf("Verify old: %v", err)
	}

	// Account publishes k2 beside k1 and starts signing with it.
	next, _ := newSigner(t, "k2")
	f.keys.Set(nil, f.signer.PublicKey(), next.PublicKey())
	f.clock.Advance(2 * time.Minute)
	tok, err := next.Sign(authn.Caller{UserID: "u2"}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify rotated: %v", err)
	}
	if c.UserID != "u2" {
		t.Errorf("UserID = %q, want u2", c.UserID)
	}
	// Tokens from the old key remain valid until they expire.
	if _, err := f.v.Verify(t.Context(), old); err != nil {
		t.Errorf("Verify old after rotation: %v", err)
	}
}

func TestVerify_concurrentUnknownKidFetchesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, err := f.signer.Sign(authn.Caller{UserID: "u1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := f.v.Verify(t.Context(), tok); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Verify: %v", err)
	}
	if got := f.keys.Calls(); got != 1 {
		t.Errorf("source calls = %d, want 1", got)
	}
}

func TestVerify_withdrawnKeyStopsVerifyingAfterMaxKeyAge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.v.Verify(t.Context(), mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", goodClaims())); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	next, _ := newSigner(t, "k2")
	f.keys.Set(nil, next.PublicKey()) // k1 withdrawn, e.g. after a leak
	f.clock.Advance(time.Hour + time.Second)

	c := goodClaims()
	c.IssuedAt = jwt.NewNumericDate(f.clock.Now())
	c.ExpiresAt = jwt.NewNumericDate(f.clock.Now().Add(time.Minute))
	if _, err := f.v.Verify(t.Context(), mint(t, jwt.SigningMethodEdDSA, f.priv, "k1", c)); apperr.KindOf(err) != apperr.KindUnauthenticated {
		t.Fatalf("Verify with withdrawn key = %v, want unauthenticated", err)
	}
}

func TestVerify_sourceOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	outage := errors.New("account unavailable")
	f.keys.Set(outage)
	tok, err := f.signer.Sign(authn.Caller{UserID: "u1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.v.Verify(t.Context(), tok)
	if k := apperr.KindOf(err); k != apperr.KindUnavailable {
		t.Fatalf("kind = %v, want unavailable (err: %v)", k, err)
	}
	if !errors.Is(err, outage) {
		t.Errorf("error %v does not wrap the source error", err)
	}
	// Rate-limited retries report the same outage without calling the source.
	if _, err := f.v.Verify(t.Context(), tok); apperr.KindOf(err) != apperr.KindUnavailable {
		t.Errorf("second Verify = %v, want unavailable", err)
	}
	if got := f.keys.Calls(); got != 1 {
		t.Errorf("source calls = %d, want 1", got)
	}
	// Once the source recovers and the interval has passed, tokens verify.
	f.keys.Set(nil, f.signer.PublicKey())
	f.clock.Advance(time.Minute)
	tok, err = f.signer.Sign(authn.Caller{UserID: "u1"}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(t.Context(), tok); err != nil {
		t.Errorf("Verify after recovery: %v", err)
	}
}

func TestNewVerifier_requiresIssuerAndAudience(t *testing.T) {
	t.Parallel()
	src := (&keySet{}).Source
	for _, opt := range []authn.VerifierOptions{{Issuer: issuer}, {Audience: audience}} {
		if _, err := authn.NewVerifier(src, opt); err == nil {
			t.Errorf("NewVerifier(%+v) accepted", opt)
		}
	}
	if _, err := authn.NewVerifier(nil, authn.VerifierOptions{Issuer: issuer, Audience: audience}); err == nil {
		t.Error("NewVerifier(nil source) accepted")
	}
}

func TestNewSigner_rejectsLongTTL(t *testing.T) {
	t.Parallel()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, ttl := range []time.Duration{0, -time.Second, 5*time.Minute + time.Second, time.Hour} {
		if _, err := authn.NewSigner("k1", priv, issuer, audience, ttl); err == nil {
			t.Errorf("NewSigner(ttl %v) accepted", ttl)
		}
	}
	if _, err := authn.NewSigner("", priv, issuer, audience, time.Minute); err == nil {
		t.Error("NewSigner(empty kid) accepted")
	}
}

var (
	secret      = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
)

func TestServiceToken_roundTrip(t *testing.T) {
	t.Parallel()
	src, err := authn.NewServiceToken(secret, "billing")
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.NewServiceVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(src.Token(time.Now()))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got != "billing" {
		t.Errorf("service = %q, want billing", got)
	}
}

func TestServiceToken_cachedAndRenewed(t *testing.T) {
	t.Parallel()
	src, err := authn.NewServiceToken(secret, "media")
	if err != nil {
		t.Fatal(err)
	}
	first := src.Token(t0)
	if again := src.Token(t0.Add(3 * time.Minute)); again != first {
		t.Error("token not reused within its life")
	}
	if renewed := src.Token(t0.Add(4*time.Minute + 30*time.Second)); renewed == first {
		t.Error("token not renewed in its last minute")
	}
}

func TestServiceVerifier_rejects(t *testing.T) {
	t.Parallel()
	v, err := authn.NewServiceVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	userToken, err := f.signer.Sign(authn.Caller{UserID: "u1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret, err := authn.NewServiceToken(otherSecret, "billing")
	if err != nil {
		t.Fatal(err)
	}
	good, err := authn.NewServiceToken(secret, "billing")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(edit func(*jwt.RegisteredClaims)) string {
		c := jwt.RegisteredClaims{
			Subject:   "billing",
			Audience:  jwt.ClaimStrings{authn.ServiceAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		}
		edit(&c)
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	tests := map[string]string{
		"user_eddsa_token":   userToken,
		"wrong_secret":       wrongSecret.Token(now),
		"expired":            good.Token(now.Add(-10 * time.Minute)),
		"user_audience":      claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{audience} }),
		"exp_too_far":        claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour)) }),
		"missing_iat":        claims(func(c *jwt.RegisteredClaims) { c.IssuedAt = nil }),
		"missing_subject":    claims(func(c *jwt.RegisteredClaims) { c.Subject = "" }),
		"alg_none":           noneToken(t, jwt.RegisteredClaims{Subject: "billing", Audience: jwt.ClaimStrings{authn.ServiceAudience}}),
		"tampered_signature": flipSignature(good.Token(now)),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc, err := v.Verify(tok)
			if err == nil {
				t.Fatalf("Verify accepted, service %q", svc)
			}
			if k := apperr.KindOf(err); k != apperr.KindUnauthenticated {
				t.Errorf("kind = %v, want unauthenticated", k)
			}
		})
	}
}

// flipSignature changes the first character of the signature.
func flipSignature(tok string) string {
	i := strings.LastIndex(tok, ".") + 1
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func noneToken(t *testing.T, c jwt.RegisteredClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifier_rejectsServiceToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src, err := authn.NewServiceToken(secret, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(t.Context(), src.Token(t0)); apperr.KindOf(err) != apperr.KindUnauthenticated {
		t.Errorf("user Verifier on service token = %v, want unauthenticated", err)
	}
}

func TestServiceSecret_tooShortRefused(t *testing.T) {
	t.Parallel()
	for _, s := range [][]byte{nil, {}, []byte("short")} {
		if _, err := authn.NewServiceToken(s, "billing"); err == nil {
			t.Errorf("NewServiceToken(%q) accepted", s)
		}
		if _, err := authn.NewServiceVerifier(s); err == nil {
			t.Errorf("NewServiceVerifier(%q) accepted", s)
		}
	}
}

func TestCallerContext(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	if _, ok := authn.CallerFrom(ctx); ok {
		t.Error("empty context has a caller")
	}
	if _, ok := authn.ServiceFrom(ctx); ok {
		t.Error("empty context has a service")
	}
	ctx = authn.WithService(authn.WithCaller(ctx, authn.Caller{UserID: "u1"}), "gateway")
	if c, ok := authn.CallerFrom(ctx); !ok || c.UserID != "u1" {
		t.Errorf("CallerFrom = %+v, %v", c, ok)
	}
	if s, ok := authn.ServiceFrom(ctx); !ok || s != "gateway" {
		t.Errorf("ServiceFrom = %q, %v", s, ok)
	}
}

func BenchmarkVerify(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := authn.NewSigner("k1", priv, issuer, audience, 5*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	v, err := authn.NewVerifier(func(context.Context) ([]authn.PublicKey, error) {
		return []authn.PublicKey{s.PublicKey()}, nil
	}, authn.VerifierOptions{Issuer: issuer, Audience: audience})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := s.Sign(authn.Caller{UserID: "u1", SessionID: "s1"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := v.Verify(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServiceVerify(b *testing.B) {
	src, err := authn.NewServiceToken(secret, "billing")
	if err != nil {
		b.Fatal(err)
	}
	v, err := authn.NewServiceVerifier(secret)
	if err != nil {
		b.Fatal(err)
	}
	tok := src.Token(time.Now())
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerify_canceledRequestDoesNotFailTheFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v, err := authn.NewVerifier(func(ctx context.Context) ([]authn.PublicKey, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return f.keys.Source(ctx)
	}, authn.VerifierOptions{Issuer: issuer, Audience: audience, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tok, err := f.signer.Sign(authn.Caller{UserID: "u1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify with a canceled context: %v", err)
	}
}
