package store_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/services/account/internal/keyring"
	"github.com/connectengine/photoshoot/services/account/internal/store"
)

// TestSigningKeysSealedAtRest: the private half never reaches the database
// in the clear, reads back intact with the right secret, and a store with
// another secret refuses to use it rather than sign with garbage.
func TestSigningKeysSealedAtRest(t *testing.T) {
	t.Parallel()
	pool := postgrestest.New(t,
		postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
		postgrestest.Migrations{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable})
	secret := bytes.Repeat([]byte{7}, 32)
	s, err := store.New(pool, secret)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	key := keyring.Key{KID: "k1", Private: priv, Public: pub, CreateTime: now, ActiveFrom: now}
	if err := s.RotateSigningKeys(t.Context(), func([]keyring.Key) (*keyring.Key, []string) { return &key, nil }); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := pool.QueryRow(t.Context(), `SELECT private_key FROM signing_keys WHERE kid = 'k1'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, priv.Seed()) || bytes.Contains(raw, priv) {
		t.Fatal("the private key is stored in the clear")
	}
	keys, err := s.SigningKeys(t.Context())
	if err != nil || len(keys) != 1 || !keys[0].Private.Equal(priv) {
		t.Fatalf("read back %v, %v", keys, err)
	}

	other, err := store.New(pool, bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.SigningKeys(t.Context()); err == nil {
		t.Fatal("a store with another secret used the key")
	}
	// A sealed key moved to another kid does not open.
	if _, err := pool.Exec(t.Context(), `UPDATE signing_keys SET kid = 'k2'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SigningKeys(t.Context()); err == nil {
		t.Fatal("a sealed key opened under another kid")
	}
}
