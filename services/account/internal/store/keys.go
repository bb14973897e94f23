package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/services/account/internal/keyring"
)

// SigningKeys implements keyring.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]keyring.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT kid, private_key, public_key, created_at, active_from FROM signing_keys ORDER BY active_from`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return pgx.CollectRows(rows, s.scanKey)
}

// sealedV1 marks a private key sealed with AES-256-GCM: 0x01, the nonce,
// then the ciphertext, with the kid as additional data (a sealed key
// cannot be moved to another kid). The AES key is derived from
// SERVICE_AUTH_SECRET, so a copy of the database alone cannot forge
// access tokens.
const sealedV1 = 0x01

func (s *Store) seal(kid string, priv ed25519.PrivateKey) []byte {
	nonce := make([]byte, s.keys.NonceSize())
	_, _ = rand.Read(nonce)
	out := append([]byte{sealedV1}, nonce...)
	return s.keys.Seal(out, nonce, priv, []byte(kid))
}

func (s *Store) open(kid string, sealed []byte) (ed25519.PrivateKey, error) {
	n := s.keys.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealedV1 {
		return nil, fmt.Errorf("signing key %s is not sealed", kid)
	}
	priv, err := s.keys.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(kid))
	if err != nil || len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("signing key %s cannot be opened: was SERVICE_AUTH_SECRET changed? (see docs/operations.md, rotating secrets)", kid)
	}
	return priv, nil
}

func (s *Store) scanKey(r pgx.CollectableRow) (keyring.Key, error) {
	var k keyring.Key
	var sealed, pub []byte
	if err := r.Scan(&k.KID, &sealed, &pub, &k.CreateTime, &k.ActiveFrom); err != nil {
		return k, err
	}
	priv, err := s.open(k.KID, sealed)
	k.Private, k.Public = priv, ed25519.PublicKey(pub)
	return k, err
}

// RotateSigningKeys implements keyring.Store: under a transaction-scoped
// advisory lock (so replicas rotating at once add one key, not two), plan
// sees the current keys and returns the key to add, if any, and the kids
// to delete.
func (s *Store) RotateSigningKeys(ctx context.Context, plan func(keys []keyring.Key) (add *keyring.Key, drop []string)) error {
	return s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('signing_keys', 0))"); err != nil {
			return fmt.Errorf("lock signing keys: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT kid, private_key, public_key, created_at, active_from FROM signing_keys ORDER BY active_from`)
		if err != nil {
			return fmt.Errorf("list signing keys: %w", err)
		}
		keys, err := pgx.CollectRows(rows, s.scanKey)
		if err != nil {
			return fmt.Errorf("list signing keys: %w", err)
		}
		add, drop := plan(keys)
		if add != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (kid, private_key, public_key, created_at, active_from)
				VALUES ($1, $2, $3, $4, $5)`, add.KID, s.seal(add.KID, add.Private), []byte(add.Public), add.CreateTime, add.ActiveFrom); err != nil {
				return fmt.Errorf("insert signing key: %w", err)
			}
		}
		if len(drop) > 0 {
			if _, err := tx.Exec(ctx, "DELETE FROM signing_keys WHERE kid = ANY($1)", drop); err != nil {
				return fmt.Errorf("delete signing keys: %w", err)
			}
		}
		return nil
	})
}
