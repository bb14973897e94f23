// Package keyring keeps the Ed25519 keys that sign access tokens and
// rotates them by kid. A new key is written (and so served by
// GetSigningKeys) PublishAhead before it signs anything: verifiers refresh
// their keys at most every few seconds, so by the time the first token
// carries the new kid, every verifier can already fetch it. A key that has
// been superseded is served until every token it signed has expired, then
// deleted. Keys live in the account database, so every replica signs with
// the same key and serves the same set.
package keyring

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/connectengine/photoshoot/pkg/authn"
)

// Key is one signing key.
type Key struct {
	KID        string
	Private    ed25519.PrivateKey
	Public     ed25519.PublicKey
	CreateTime time.Time
	// ActiveFrom is when the key starts signing; before that it is only
	// published.
	ActiveFrom time.Time
}

// Store persists keys; internal/store implements it.
type Store interface {
	SigningKeys(ctx context.Context) ([]Key, error)
	// RotateSigningKeys runs plan over the current keys under a lock that
	// serialises replicas, then adds and deletes what it returns.
	RotateSigningKeys(ctx context.Context, plan func(keys []Key) (add *Key, drop []string)) error
}

// Options tune the ring; zero values take the defaults noted.
type Options struct {
	// Issuer and Audience go into every token (platform.TokenIssuer,
	// platform.TokenAudience).
	Issuer, Audience string
	// TokenTTL is the access tokens' lifetime (default and maximum
	// authn.MaxTokenTTL).
	TokenTTL time.Duration
	// RotateEvery is how long a key signs before the next takes over
	// (default 24 h).
	RotateEvery time.Duration
	// PublishAhead is how long a new key is served before it signs
	// (default 2 min; verifiers refresh at most every 10 s).
	PublishAhead time.Duration
	// CacheFor is how long keys read from the store are reused (default
	// 10 s); it must be well under PublishAhead.
	CacheFor time.Duration
	// Now is the clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
}

// Ring signs access tokens with the current key and lists the keys in use.
// It is safe for concurrent use.
type Ring struct {
	store Store
	opt   Options

	mu       sync.Mutex
	keys     []Key
	loadedAt time.Time
	signers  map[string]*authn.Signer
}

// New returns a ring over store.
func New(store Store, opt Options) (*Ring, error) {
	if opt.Issuer == "" || opt.Audience == "" {
		return nil, errors.New("keyring: issuer and audience are required")
	}
	if opt.TokenTTL <= 0 || opt.TokenTTL > authn.MaxTokenTTL {
		opt.TokenTTL = authn.MaxTokenTTL
	}
	if opt.RotateEvery <= 0 {
		opt.RotateEvery = 24 * time.Hour
	}
	if opt.PublishAhead <= 0 {
		opt.PublishAhead = 2 * time.Minute
	}
	if opt.CacheFor <= 0 {
		opt.CacheFor = 10 * time.Second
	}
	if opt.CacheFor >= opt.PublishAhead {
		return nil, fmt.Errorf("keyring: cache time %v must be below the publish lead %v", opt.CacheFor, opt.PublishAhead)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Ring{store: store, opt: opt, signers: map[string]*authn.Signer{}}, nil
}

// TokenTTL is the lifetime of the tokens the ring signs.
func (r *Ring) TokenTTL() time.Duration { return r.opt.TokenTTL }

// retention is how long after its successor took over a key still verifies
// tokens: their lifetime plus the verifiers' clock-skew leeway.
func (r *Ring) retention() time.Duration { return r.opt.TokenTTL + authn.DefaultLeeway }

// Plan is the rotation rule: with no key, add one that signs at once (no
// verifier can hold a token yet); when the newest key has signed for
// RotateEvery minus PublishAhead, add its successor, active PublishAhead
// from now; drop keys whose successor took over more than the retention ago.
func (r *Ring) Plan(keys []Key, now time.Time) (add *Key, drop []string) {
	if len(keys) == 0 {
		k := newKey(now, now)
		return &k, nil
	}
	newest := keys[len(keys)-1]
	if !now.Before(newest.ActiveFrom.Add(r.opt.RotateEvery - r.opt.PublishAhead)) {
		k := newKey(now, now.Add(r.opt.PublishAhead))
		add = &k
	}
	for i := 0; i+1 < len(keys); i++ {
		if next := keys[i+1]; !next.ActiveFrom.After(now) && now.Sub(next.ActiveFrom) > r.retention() {
			drop = append(drop, keys[i].KID)
		}
	}
	return add, drop
}

func newKey(now, activeFrom time.Time) Key {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader) // crypto/rand never fails since Go 1.24
	id := make([]byte, 9)
	_, _ = rand.Read(id)
	return Key{KID: base64.RawURLEncoding.EncodeToString(id), Private: priv, Public: pub, CreateTime: now, ActiveFrom: activeFrom}
}

// Rotate applies Plan once and forgets the cached keys.
func (r *Ring) Rotate(ctx context.Context) error {
	now := r.opt.Now()
	err := r.store.RotateSigningKeys(ctx, func(keys []Key) (*Key, []string) {
		add, drop := r.Plan(keys, now)
		if add != nil {
			r.opt.Logger.InfoContext(ctx, "signing key added", "kid", add.KID, "active_from", add.ActiveFrom)
		}
		return add, drop
	})
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	r.mu.Lock()
	r.loadedAt = time.Time{}
	r.mu.Unlock()
	return nil
}

// Run rotates every minute until ctx ends. A failed rotation is logged and
// retried on the next tick: the current key keeps signing meanwhile.
func (r *Ring) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := r.Rotate(ctx); err != nil && ctx.Err() == nil {
				r.opt.Logger.WarnContext(ctx, "signing key rotation failed; retrying next minute", "err", err)
			}
		}
	}
}

func (r *Ring) load(ctx context.Context) ([]Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opt.Now()
	if r.keys != nil && now.Sub(r.loadedAt) < r.opt.CacheFor && !now.Before(r.loadedAt) {
		return r.keys, nil
	}
	keys, err := r.store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	r.keys, r.loadedAt = keys, now
	return keys, nil
}

// Signer returns the signer of the current key: the newest active one.
func (r *Ring) Signer(ctx context.Context) (*authn.Signer, error) {
	keys, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	now := r.opt.Now()
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if k.ActiveFrom.After(now) {
			continue
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if s, ok := r.signers[k.KID]; ok {
			return s, nil
		}
		s, err := authn.NewSigner(k.KID, k.Private, r.opt.Issuer, r.opt.Audience, r.opt.TokenTTL)
		if err != nil {
			return nil, fmt.Errorf("signer %s: %w", k.KID, err)
		}
		r.signers[k.KID] = s
		return s, nil
	}
	return nil, errors.New("no active signing key")
}

// Published is a public key with the time its tokens stop verifying, zero
// while it is current or upcoming.
type Published struct {
	authn.PublicKey
	CreateTime time.Time
	ExpireTime time.Time
}

// PublicKeys lists every key that is upcoming, current, or may have signed
// a token that is still valid.
func (r *Ring) PublicKeys(ctx context.Context) ([]Published, error) {
	keys, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	now := r.opt.Now()
	out := make([]Published, 0, len(keys))
	for i, k := range keys {
		p := Published{PublicKey: authn.PublicKey{KID: k.KID, Key: k.Public}, CreateTime: k.ActiveFrom}
		if i+1 < len(keys) && !keys[i+1].ActiveFrom.After(now) {
			p.ExpireTime = keys[i+1].ActiveFrom.Add(r.retention())
			if now.After(p.ExpireTime) {
				continue
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// KeySource serves the ring's public keys to account's own token verifier.
func (r *Ring) KeySource() authn.KeySource {
	return func(ctx context.Context) ([]authn.PublicKey, error) {
		pub, err := r.PublicKeys(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]authn.PublicKey, len(pub))
		for i, p := range pub {
			out[i] = p.PublicKey
		}
		return out, nil
	}
}
