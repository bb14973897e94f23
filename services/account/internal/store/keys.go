package store

import (
	"context"
	"crypto/ed25519"
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
	return pgx.CollectRows(rows, scanKey)
}

func scanKey(r pgx.CollectableRow) (keyring.Key, error) {
	var k keyring.Key
	var priv, pub []byte
	err := r.Scan(&k.KID, &priv, &pub, &k.CreateTime, &k.ActiveFrom)
	k.Private, k.Public = ed25519.PrivateKey(priv), ed25519.PublicKey(pub)
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
		keys, err := pgx.CollectRows(rows, scanKey)
		if err != nil {
			return fmt.Errorf("list signing keys: %w", err)
		}
		add, drop := plan(keys)
		if add != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (kid, private_key, public_key, created_at, active_from)
				VALUES ($1, $2, $3, $4, $5)`, add.KID, []byte(add.Private), []byte(add.Public), add.CreateTime, add.ActiveFrom); err != nil {
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
