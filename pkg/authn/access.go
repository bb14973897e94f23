package authn

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// Defaults applied by NewVerifier to zero option fields.
const (
	DefaultLeeway          = 30 * time.Second
	DefaultRefreshInterval = 10 * time.Second
	DefaultMaxKeyAge       = 15 * time.Minute
)

// fetchTimeout bounds one call to the key source. The call is detached from
// the request that triggered it, so one impatient client cannot fail the
// fetch, and through the rate limit, everyone's verification.
const fetchTimeout = 5 * time.Second

// accessClaims is the payload of a user access token.
type accessClaims struct {
	SessionID string `json:"sid,omitempty"`
	Admin     bool   `json:"adm,omitempty"`
	jwt.RegisteredClaims
}

// PublicKey is one of the account service's token verification keys.
type PublicKey struct {
	KID string
	Key ed25519.PublicKey
}

// KeySource fetches the current verification keys, typically from the
// account service's GetSigningKeys RPC. It returns every key still in use,
// so that tokens signed just before a rotation stay valid.
type KeySource func(ctx context.Context) ([]PublicKey, error)

// VerifierOptions configures a Verifier. Issuer and Audience are required.
type VerifierOptions struct {
	Issuer   string
	Audience string
	// Leeway absorbs clock skew between pods; DefaultLeeway when zero.
	Leeway time.Duration
	// RefreshInterval is the minimum gap between key fetches, so a flood of
	// tokens with made-up key IDs cannot hammer the source;
	// DefaultRefreshInterval when zero.
	RefreshInterval time.Duration
	// MaxKeyAge is how long fetched keys are trusted before the next token
	// triggers a refresh, so a key the account service withdrew stops
	// verifying. If that refresh fails the old keys stay in use.
	// DefaultMaxKeyAge when zero.
	MaxKeyAge time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier checks user access tokens. It is safe for concurrent use.
type Verifier struct {
	src    KeySource
	opt    VerifierOptions
	parser *jwt.Parser

	mu       sync.RWMutex
	keys     map[string]ed25519.PublicKey
	loadedAt time.Time

	refreshMu   sync.Mutex // serialises calls to src; guards the fields below
	lastAttempt time.Time
	lastErr     error
}

// NewVerifier returns a Verifier that fetches keys from src on demand.
func NewVerifier(src KeySource, opt VerifierOptions) (*Verifier, error) {
	if src == nil {
		return nil, errors.New("new verifier: nil key source")
	}
	if opt.Issuer == "" || opt.Audience == "" {
		return nil, errors.New("new verifier: issuer and audience are required")
	}
	if opt.Leeway == 0 {
		opt.Leeway = DefaultLeeway
	}
	if opt.RefreshInterval == 0 {
		opt.RefreshInterval = DefaultRefreshInterval
	}
	if opt.MaxKeyAge == 0 {
		opt.MaxKeyAge = DefaultMaxKeyAge
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Verifier{
		src: src,
		opt: opt,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(opt.Issuer),
			jwt.WithAudience(opt.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(opt.Leeway),
			jwt.WithTimeFunc(opt.Now),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// Verify checks the token's algorithm (EdDSA only), key ID, signature,
// issuer, audience and lifetime, and returns the caller it names. A token
// signed with a key ID the Verifier has not seen triggers one rate-limited
// refresh from the key source, which is how key rotation is picked up.
//
// Rejections are apperr.Unauthenticated with a generic public message and
// the reason wrapped for the log; a key source outage while the key is
// unknown is apperr.Unavailable, since retrying may succeed.
func (v *Verifier) Verify(ctx context.Context, token string) (Caller, error) {
	var claims accessClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid header")
		}
		return v.key(ctx, kid)
	})
	if err != nil {
		var ue *sourceError
		if errors.As(err, &ue) {
			return Caller{}, apperr.Unavailable("access token keys unavailable", err)
		}
		return Caller{}, invalidAccessToken(err)
	}
	if err := checkLifetime(claims.RegisteredClaims, v.opt.Leeway); err != nil {
		return Caller{}, invalidAccessToken(err)
	}
	if claims.Subject == "" {
		return Caller{}, invalidAccessToken(errors.New("no subject"))
	}
	return Caller{
		UserID:    claims.Subject,
		SessionID: claims.SessionID,
		Admin:     claims.Admin,
		Token:     token,
		Expiry:    claims.ExpiresAt.Time,
	}, nil
}

func invalidAccessToken(cause error) error {
	return fmt.Errorf("%w: %w", apperr.Unauthenticated("invalid access token"), cause)
}

// checkLifetime enforces what the JWT library cannot: iat is present and the
// token was issued for at most MaxTokenTTL, so a leaked signing key or a
// buggy issuer cannot mint long-lived tokens that we would honour.
func checkLifetime(c jwt.RegisteredClaims, leeway time.Duration) error {
	if c.IssuedAt == nil {
		return errors.New("no iat claim")
	}
	if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life > MaxTokenTTL+leeway {
		return fmt.Errorf("lifetime %v exceeds %v", life, MaxTokenTTL)
	}
	return nil
}

// sourceError marks a failure to fetch keys, as opposed to a bad token.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "fetch signing keys: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// key returns the verification key for kid, refreshing the cache when kid is
// unknown or the cache is older than MaxKeyAge.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok, fresh := v.lookup(kid); ok && fresh {
		return k, nil
	}
	refreshErr := v.refresh(ctx, kid)
	if k, ok, _ := v.lookup(kid); ok {
		return k, nil
	}
	if refreshErr != nil {
		return nil, refreshErr
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

func (v *Verifier) lookup(kid string) (k ed25519.PublicKey, ok, fresh bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, ok = v.keys[kid]
	return k, ok, v.opt.Now().Sub(v.loadedAt) < v.opt.MaxKeyAge
}

// refresh fetches keys from the source unless another caller just did so
// (then kid is already there) or the last attempt was less than
// RefreshInterval ago. A rate-limited call reports the last attempt's error.
func (v *Verifier) refresh(ctx context.Context, kid string) error {
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	if _, ok, fresh := v.lookup(kid); ok && fresh {
		return nil
	}
	now := v.opt.Now()
	if !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.opt.RefreshInterval {
		return v.lastErr
	}
	v.lastAttempt = now
	keys, err := v.fetch(ctx)
	if err != nil {
		v.lastErr = &sourceError{err: err}
		return v.lastErr
	}
	v.lastErr = nil
	v.mu.Lock()
	v.keys, v.loadedAt = keys, now
	v.mu.Unlock()
	return nil
}

func (v *Verifier) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	list, err := v.src(ctx)
	if err != nil {
		return nil, err
	}
	keys := make(map[string]ed25519.PublicKey, len(list))
	for _, k := range list {
		if k.KID == "" || len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("malformed key %q (%d bytes)", k.KID, len(k.Key))
		}
		keys[k.KID] = k.Key
	}
	return keys, nil
}

// Signer issues access tokens. The account service uses it in production;
// tests use it to mint tokens for the Verifier.
type Signer struct {
	kid      string
	key      ed25519.PrivateKey
	issuer   string
	audience string
	ttl      time.Duration
}

// NewSigner returns a Signer for tokens valid for ttl, at most MaxTokenTTL.
func NewSigner(kid string, key ed25519.PrivateKey, issuer, audience string, ttl time.Duration) (*Signer, error) {
	switch {
	case kid == "":
		return nil, errors.New("new signer: empty kid")
	case len(key) != ed25519.PrivateKeySize:
		return nil, fmt.Errorf("new signer: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	case issuer == "" || audience == "":
		return nil, errors.New("new signer: issuer and audience are required")
	case ttl <= 0 || ttl > MaxTokenTTL:
		return nil, fmt.Errorf("new signer: ttl %v outside (0, %v]", ttl, MaxTokenTTL)
	}
	return &Signer{kid: kid, key: key, issuer: issuer, audience: audience, ttl: ttl}, nil
}

// Sign issues a token for c.UserID, c.SessionID and c.Admin, valid from now
// for the Signer's ttl. c.Token and c.Expiry are ignored.
func (s *Signer) Sign(c Caller, now time.Time) (string, error) {
	if c.UserID == "" {
		return "", errors.New("sign access token: empty user id")
	}
	claims := accessClaims{
		SessionID: c.SessionID,
		Admin:     c.Admin,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   c.UserID,
			Audience:  jwt.ClaimStrings{s.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
			ID:        uuid.NewString(),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return signed, nil
}

// PublicKey is the key verifiers need for this Signer's tokens.
func (s *Signer) PublicKey() PublicKey {
	return PublicKey{KID: s.kid, Key: s.key.Public().(ed25519.PublicKey)}
}
