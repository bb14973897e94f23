package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
)

// PurgeUserInTx handles an account deletion inside the caller's (the
// consumer's) transaction: it releases the user's open holds, forfeits the
// available balance, closes the account against new grants and holds,
// anonymises the billing details, forgets the Stripe customer, and appends the UserDataPurged
// confirmation. The ledger and purchases are kept (retention). Running it
// again changes nothing but appends another confirmation. tx must take
// postgres.AfterCommit.
func (s *Store) PurgeUserInTx(ctx context.Context, tx pgx.Tx, userID, deletionID string, now time.Time) error {
	now = ts(now)
	if _, err := tx.Exec(ctx, `INSERT INTO accounts (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, userID); err != nil {
		return fmt.Errorf("purge %s: %w", userID, err)
	}
	if _, err := scanAccount(tx.QueryRow(ctx, lockAccountSQL, userID)); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT hold_id::text FROM open_holds WHERE user_id = $1 ORDER BY hold_id`, userID)
	if err != nil {
		return fmt.Errorf("list open holds of %s: %w", userID, err)
	}
	holds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list open holds of %s: %w", userID, err)
	}
	for _, id := range holds {
		if _, err := s.endHold(ctx, tx, id, userID, ledger.HoldReleased, 0, now); err != nil {
			return fmt.Errorf("release hold %s of deleted user: %w", id, err)
		}
	}
	acct, err := scanAccount(tx.QueryRow(ctx, lockAccountSQL, userID))
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	if entries, _ := acct.balance.Forfeit(); len(entries) > 0 {
		t := ledger.Transaction{
			ID: newID(), UserID: userID, Kind: ledger.KindForfeit, Entries: entries,
			Description: "balance forfeited on account deletion", CreateTime: now,
		}
		if _, err := s.book(ctx, tx, b, t, acct.balance); err != nil {
			return err
		}
	}
	b.Queue(`UPDATE accounts SET closed_at = coalesce(closed_at, $2) WHERE user_id = $1`, userID, now)
	b.Queue(`UPDATE billing_details SET name = '', email = '', line1 = '', line2 = '', city = '', postal_code = '',
		state = '', country = '', card_brand = '', card_last4 = '', updated_at = $2 WHERE user_id = $1`, userID, now)
	// The Stripe customer holds the name and email on Stripe's side; drop
	// our link to it so nothing here leads back to them.
	b.Queue(`DELETE FROM customers WHERE user_id = $1`, userID)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("purge %s: %w", userID, err)
	}
	return events.Append(ctx, tx, events.NewEvent(events.SubjectBillingUserPurged, &eventsv1.UserDataPurged{
		UserId: userID, DeletionId: deletionID, Service: "billing", PurgeTime: timestamppb.New(now),
	}))
}

// AllTransactions reads the user's whole history, newest first, for the
// data export.
func (s *Store) AllTransactions(ctx context.Context, userID string) ([]ledger.Transaction, error) {
	rows, err := s.pool.Query(ctx, transactionSQL+` WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("export transactions of %s: %w", userID, err)
	}
	return collectTransactions(rows)
}
