package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/billing/internal/checkout"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/payments"
)

// The *Store methods in this file implement checkout.Store.
var _ checkout.Store = (*Store)(nil)

// CreatePurchase records an open purchase.
func (s *Store) CreatePurchase(ctx context.Context, p checkout.Purchase) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO purchases (id, user_id, pack_id, credits, amount, currency, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`, p.ID, p.UserID, p.PackID, p.Credits, p.Amount, p.Currency, string(p.Status), p.CreateTime)
	if err != nil {
		return fmt.Errorf("create purchase %s: %w", p.ID, err)
	}
	return nil
}

const purchaseSQL = `SELECT id::text, user_id, pack_id, credits, amount, currency, status, stripe_session_id,
	stripe_payment_intent_id, stripe_charge_id, refunded_credits, created_at FROM purchases`

func scanPurchase(row pgx.Row) (checkout.Purchase, error) {
	var (
		p                       checkout.Purchase
		status                  string
		session, intent, charge *string
	)
	err := row.Scan(&p.ID, &p.UserID, &p.PackID, &p.Credits, &p.Amount, &p.Currency, &status, &session, &intent, &charge,
		&p.RefundedCredits, &p.CreateTime)
	p.Status, p.SessionID, p.PaymentIntentID, p.ChargeID = checkout.Status(status), str(session), str(intent), str(charge)
	return p, err
}

// Purchase reads a purchase, scoped to userID unless it is empty; another
// user's purchase is not found.
func (s *Store) Purchase(ctx context.Context, id, userID string) (checkout.Purchase, error) {
	return purchase(ctx, s.pool, id, userID, false)
}

func purchase(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id, userID string, lock bool) (checkout.Purchase, error) {
	if !validUUID(id) {
		return checkout.Purchase{}, apperr.NotFound("purchase %s not found", id)
	}
	sql := purchaseSQL + ` WHERE id = $1 AND ($2 = '' OR user_id = $2)`
	if lock {
		sql += ` FOR UPDATE`
	}
	p, err := scanPurchase(q.QueryRow(ctx, sql, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Purchase{}, apperr.NotFound("purchase %s not found", id)
	}
	if err != nil {
		return checkout.Purchase{}, fmt.Errorf("read purchase %s: %w", id, err)
	}
	return p, nil
}

// SetPurchaseSession records the provider's session for a purchase.
func (s *Store) SetPurchaseSession(ctx context.Context, id, sessionID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE purchases SET stripe_session_id = $2, updated_at = now() WHERE id = $1`, id, sessionID)
	if err != nil {
		return fmt.Errorf("set session of purchase %s: %w", id, err)
	}
	return nil
}

// Purchases reads every purchase of the user, newest first.
func (s *Store) Purchases(ctx context.Context, userID string) ([]checkout.Purchase, error) {
	rows, err := s.pool.Query(ctx, purchaseSQL+` WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list purchases of %s: %w", userID, err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (checkout.Purchase, error) { return scanPurchase(r) })
	if err != nil {
		return nil, fmt.Errorf("list purchases of %s: %w", userID, err)
	}
	return ps, nil
}

// Customer reads the user's Stripe customer id, "" when there is none.
func (s *Store) Customer(ctx context.Context, userID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT stripe_customer_id FROM customers WHERE user_id = $1`, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read customer of %s: %w", userID, err)
	}
	return id, nil
}

// SaveCustomer stores the customer id unless the user has one, and returns
// the stored id.
func (s *Store) SaveCustomer(ctx context.Context, userID, customerID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO customers (user_id, stripe_customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING stripe_customer_id)
		SELECT stripe_customer_id FROM ins UNION ALL SELECT stripe_customer_id FROM customers WHERE user_id = $1 LIMIT 1`,
		userID, customerID).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("save customer of %s: %w", userID, err)
	}
	return id, nil
}

// WebhookSeen reports whether the event was handled.
func (s *Store) WebhookSeen(ctx context.Context, eventID string) (bool, error) {
	var seen bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_events WHERE id = $1)`, eventID).Scan(&seen); err != nil {
		return false, fmt.Errorf("look up webhook event %s: %w", eventID, err)
	}
	return seen, nil
}

// RecordWebhook marks an event handled.
func (s *Store) RecordWebhook(ctx context.Context, eventID, eventType string) error {
	return s.withTx(ctx, "record webhook", func(tx pgx.Tx) error {
		_, err := recordEvent(ctx, tx, eventID, eventType)
		return err
	})
}

// recordEvent inserts the event id; false when it was already there (a
// concurrent delivery won, and this transaction must change nothing).
func recordEvent(ctx context.Context, tx pgx.Tx, eventID, eventType string) (bool, error) {
	if eventID == "" {
		return true, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO webhook_events (id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING`, eventID, eventType)
	if err != nil {
		return false, fmt.Errorf("record webhook event %s: %w", eventID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Fulfil pays out a paid session's purchase exactly once.
func (s *Store) Fulfil(ctx context.Context, f checkout.Fulfilment) (granted bool, err error) {
	err = s.withTx(ctx, "fulfil", func(tx pgx.Tx) error {
		granted = false
		fresh, err := recordEvent(ctx, tx, f.EventID, f.EventType)
		if err != nil || !fresh {
			return err
		}
		p, err := purchase(ctx, tx, f.Session.PurchaseID, "", true)
		if err != nil {
			return err
		}
		if p.SessionID != "" && p.SessionID != f.Session.ID {
			return apperr.NotFound("session %s is not purchase %s's", f.Session.ID, p.ID)
		}
		var chargeID string
		var details payments.Details
		if f.Session.Charge != nil {
			chargeID, details = f.Session.Charge.ID, f.Session.Charge.Details
		}
		_, err = tx.Exec(ctx, `UPDATE purchases SET
				status = CASE WHEN status IN ('open', 'failed') THEN 'paid' ELSE status END,
				stripe_session_id = coalesce(stripe_session_id, $2),
				stripe_payment_intent_id = coalesce(nullif($3, ''), stripe_payment_intent_id),
				stripe_charge_id = coalesce(nullif($4, ''), stripe_charge_id),
				updated_at = $5
			WHERE id = $1`, p.ID, f.Session.ID, f.Session.PaymentIntentID, chargeID, f.Time)
		if err != nil {
			return fmt.Errorf("mark purchase %s paid: %w", p.ID, err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM transactions WHERE purchase_id = $1 AND kind = 'grant_purchase')`,
			p.ID).Scan(&exists); err != nil {
			return fmt.Errorf("look up grant of purchase %s: %w", p.ID, err)
		}
		if !exists {
			// The partial unique index on transactions(purchase_id) is
			// what guarantees one grant; this read only avoids a failed
			// insert on the common repeat.
			_, err = s.GrantInTx(ctx, tx, ledger.GrantRequest{
				UserID: p.UserID, Amount: p.Credits, Reason: ledger.ReasonPurchase, IdempotencyKey: checkout.GrantKey(p.ID),
				Description: fmt.Sprintf("%s pack", p.PackID), PurchaseID: p.ID, Time: f.Time,
			})
			if err != nil {
				return err
			}
			granted = true
		}
		if !details.Empty() {
			return saveDetails(ctx, tx, p.UserID, details)
		}
		return nil
	})
	return granted, err
}

func saveDetails(ctx context.Context, tx pgx.Tx, userID string, d payments.Details) error {
	_, err := tx.Exec(ctx, `INSERT INTO billing_details (user_id, name, email, line1, line2, city, postal_code, state, country,
			card_brand, card_last4, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
		ON CONFLICT (user_id) DO UPDATE SET name = $2, email = $3, line1 = $4, line2 = $5, city = $6, postal_code = $7,
			state = $8, country = $9, card_brand = $10, card_last4 = $11, updated_at = now()`,
		userID, d.Name, d.Email, d.Line1, d.Line2, d.City, d.PostalCode, d.State, d.Country, d.CardBrand, d.CardLast4)
	if err != nil {
		return fmt.Errorf("save billing details of %s: %w", userID, err)
	}
	return nil
}

// MarkFailed records a failed asynchronous payment: an open purchase
// becomes failed; nothing is granted.
func (s *Store) MarkFailed(ctx context.Context, eventID, eventType, purchaseID string) error {
	return s.withTx(ctx, "mark failed", func(tx pgx.Tx) error {
		fresh, err := recordEvent(ctx, tx, eventID, eventType)
		if err != nil || !fresh {
			return err
		}
		if !validUUID(purchaseID) {
			return apperr.NotFound("purchase %s not found", purchaseID)
		}
		tag, err := tx.Exec(ctx, `UPDATE purchases SET status = 'failed', updated_at = now() WHERE id = $1 AND status = 'open'`, purchaseID)
		if err != nil {
			return fmt.Errorf("mark purchase %s failed: %w", purchaseID, err)
		}
		if tag.RowsAffected() == 0 {
			if _, err := purchase(ctx, tx, purchaseID, "", false); err != nil {
				return err
			}
		}
		return nil
	})
}

// purchaseByCharge finds and locks the purchase a charge paid for.
func purchaseByCharge(ctx context.Context, tx pgx.Tx, ch payments.Charge) (checkout.Purchase, error) {
	p, err := scanPurchase(tx.QueryRow(ctx, purchaseSQL+`
		WHERE (stripe_charge_id = $1 AND $1 <> '') OR (stripe_payment_intent_id = $2 AND $2 <> '')
		ORDER BY created_at LIMIT 1 FOR UPDATE`, ch.ID, ch.PaymentIntentID))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Purchase{}, apperr.NotFound("no purchase for charge %s", ch.ID)
	}
	if err != nil {
		return checkout.Purchase{}, fmt.Errorf("find purchase of charge %s: %w", ch.ID, err)
	}
	return p, nil
}

// Refund takes back the credits of a charge's refunded amount that were
// not taken back yet: from available down to zero, the rest owed.
func (s *Store) Refund(ctx context.Context, r checkout.Refund) error {
	return s.withTx(ctx, "refund", func(tx pgx.Tx) error {
		fresh, err := recordEvent(ctx, tx, r.EventID, r.EventType)
		if err != nil || !fresh {
			return err
		}
		p, err := purchaseByCharge(ctx, tx, r.Charge)
		if err != nil {
			return err
		}
		target := checkout.RefundCredits(p, r.Charge.AmountRefunded)
		if target <= p.RefundedCredits {
			return nil
		}
		acct, err := scanAccount(tx.QueryRow(ctx, lockAccountSQL, p.UserID))
		if err != nil {
			return err
		}
		entries, _, err := acct.balance.Refund(target - p.RefundedCredits)
		if err != nil {
			return err
		}
		t := ledger.Transaction{
			ID: newID(), UserID: p.UserID, Kind: ledger.KindRefund, Entries: entries, PurchaseID: p.ID,
			// One refund transaction per cumulative refunded level.
			IdempotencyKey: fmt.Sprintf("refund:%s:%d", p.ID, target),
			Description:    fmt.Sprintf("%s pack refunded", p.PackID), CreateTime: ts(r.Time),
		}
		b := &pgx.Batch{}
		if _, err := s.book(ctx, tx, b, t, acct.balance); err != nil {
			return err
		}
		b.Queue(`UPDATE purchases SET refunded_credits = $2, status = 'refunded', updated_at = $3 WHERE id = $1`, p.ID, target, r.Time)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("book refund of purchase %s: %w", p.ID, err)
		}
		return nil
	})
}

// MarkDisputed flags the purchase a disputed charge paid for. The credits
// stay: the dispute's outcome is decided later, and a lost dispute arrives
// as a refund.
func (s *Store) MarkDisputed(ctx context.Context, eventID, eventType string, ch payments.Charge) error {
	return s.withTx(ctx, "mark disputed", func(tx pgx.Tx) error {
		fresh, err := recordEvent(ctx, tx, eventID, eventType)
		if err != nil || !fresh {
			return err
		}
		p, err := purchaseByCharge(ctx, tx, ch)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE purchases SET status = 'disputed', updated_at = now() WHERE id = $1`, p.ID)
		if err != nil {
			return fmt.Errorf("mark purchase %s disputed: %w", p.ID, err)
		}
		return nil
	})
}

// Details reads the user's billing details.
func (s *Store) Details(ctx context.Context, userID string) (payments.Details, error) {
	var d payments.Details
	err := s.pool.QueryRow(ctx, `SELECT name, email, line1, line2, city, postal_code, state, country, card_brand, card_last4
		FROM billing_details WHERE user_id = $1`, userID).
		Scan(&d.Name, &d.Email, &d.Line1, &d.Line2, &d.City, &d.PostalCode, &d.State, &d.Country, &d.CardBrand, &d.CardLast4)
	if errors.Is(err, pgx.ErrNoRows) {
		return payments.Details{}, nil
	}
	if err != nil {
		return payments.Details{}, fmt.Errorf("read billing details of %s: %w", userID, err)
	}
	return d, nil
}
