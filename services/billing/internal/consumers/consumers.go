// Package consumers applies the account service's events to billing: trial
// credits when a user is created, and the purge when one is deleted. Each
// handler runs inside the consumer's inbox transaction, so its effects
// happen exactly once per event; they are also idempotent by key (one
// trial grant per user), so a replayed or duplicated event changes nothing.
package consumers

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/store"
)

// Durable consumer names on the ACCOUNT stream.
const (
	DurableUserCreated = "billing-user-created"
	DurableUserDeleted = "billing-user-deleted"
)

// TrialKey is the idempotency key of a user's trial grant: one per user.
func TrialKey(userID string) string { return "trial:" + userID }

// UserCreated grants trialCredits once per user. A user deleted before this
// event arrived (events are not ordered) gets nothing.
func UserCreated(st *store.Store, trialCredits int64, now func() time.Time) events.Handler {
	return func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		var ev eventsv1.UserCreated
		if err := msg.Unmarshal(&ev); err != nil {
			return err
		}
		if trialCredits <= 0 || ev.GetUserId() == "" {
			return nil
		}
		_, err := st.GrantInTx(ctx, tx, ledger.GrantRequest{
			UserID: ev.GetUserId(), Amount: trialCredits, Reason: ledger.ReasonTrial,
			IdempotencyKey: TrialKey(ev.GetUserId()), Description: "trial credits", Time: now(),
		})
		if errors.Is(err, ledger.ErrAccountClosed) {
			return nil
		}
		return err
	}
}

// UserDeleted forfeits the user's balance, releases open holds, anonymises
// billing details, keeps the ledger and payment records, and confirms with
// UserDataPurged.
func UserDeleted(st *store.Store, now func() time.Time) events.Handler {
	return func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		var ev eventsv1.UserDeleted
		if err := msg.Unmarshal(&ev); err != nil {
			return err
		}
		if ev.GetUserId() == "" {
			return nil
		}
		return st.PurgeUserInTx(ctx, tx, ev.GetUserId(), ev.GetDeletionId(), now())
	}
}
