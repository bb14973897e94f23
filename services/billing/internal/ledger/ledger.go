// Package ledger holds the rules of the credit ledger: integer credits,
// double entry, and holds that end exactly once. It knows nothing about
// gRPC or SQL; internal/store persists what these rules decide, in one
// database transaction per rule, and internal/api translates requests.
//
// Every operation is a set of entries that sums to zero. A user has two
// accounts that must never go negative, Available and Held; the system
// accounts are the other side of each movement:
//
//	grant    source (Purchases | Trial | Promo | Admin) −n   Available +n
//	reserve  Available −n                                     Held +n
//	capture  Held −n   Consumed +m   Available +(n−m)
//	release  Held −n   Available +n        (expire: the same, by the reaper)
//	forfeit  Available −a   Forfeited +a   (and open holds released first)
//	refund   Available −d   Receivable −(n−d)   Refunds +n   (d = min(available, n))
//
// Expiry returns held credits to the user: a job that never finished never
// costs anything, so the Expired system account exists for the identity
// below but is never booked to. For each user the entries therefore satisfy
// granted = available + held + consumed + expired + forfeited + refunds +
// receivable, where receivable is negative when a refund took back more than
// was available: the issue's "granted = available + held + consumed +
// expired + forfeited (− refunds)".
package ledger

import (
	"fmt"
	"time"
)

// Account names one account of a user. The user accounts are Available and
// Held; the rest are system accounts kept per user for the identity above.
type Account string

// The accounts.
const (
	Available  Account = "available"
	Held       Account = "held"
	Purchases  Account = "purchases"
	Trial      Account = "trial"
	Promo      Account = "promo"
	Admin      Account = "admin"
	Consumed   Account = "consumed"
	Expired    Account = "expired"
	Forfeited  Account = "forfeited"
	Refunds    Account = "refunds"
	Receivable Account = "receivable"
)

// SourceAccounts are where granted credits come from.
var SourceAccounts = []Account{Purchases, Trial, Promo, Admin}

// Kind says why a transaction moved credits.
type Kind string

// The transaction kinds.
const (
	KindGrantTrial    Kind = "grant_trial"
	KindGrantPurchase Kind = "grant_purchase"
	KindGrantAdmin    Kind = "grant_admin"
	KindGrantPromo    Kind = "grant_promo"
	KindReserve       Kind = "reserve"
	KindCapture       Kind = "capture"
	KindRelease       Kind = "release"
	KindExpire        Kind = "expire"
	KindRefund        Kind = "refund"
	KindForfeit       Kind = "forfeit"
)

// Reason says why credits are granted.
type Reason string

// The grant reasons.
const (
	ReasonTrial    Reason = "trial"
	ReasonPurchase Reason = "purchase"
	ReasonAdmin    Reason = "admin"
	ReasonPromo    Reason = "promo"
)

// grantAccounts maps each reason to its source account and transaction kind.
var grantAccounts = map[Reason]struct {
	source Account
	kind   Kind
}{
	ReasonTrial:    {Trial, KindGrantTrial},
	ReasonPurchase: {Purchases, KindGrantPurchase},
	ReasonAdmin:    {Admin, KindGrantAdmin},
	ReasonPromo:    {Promo, KindGrantPromo},
}

// Entry is one line of a transaction.
type Entry struct {
	Account Account
	Amount  int64
}

// Transaction is a booked set of entries. Its fields are plain data: it is
// only ever built by the rules below or read back from the store.
type Transaction struct {
	ID     string
	UserID string
	Kind   Kind
	// Entries sum to zero.
	Entries []Entry
	// JobID and HoldID are set for reserve, capture, release and expire.
	JobID  string
	HoldID string
	// PurchaseID is set for purchase grants and refunds.
	PurchaseID string
	// IdempotencyKey makes grants and refunds idempotent.
	IdempotencyKey string
	Description    string
	CreateTime     time.Time
}

// Delta is the transaction's change to account a.
func (t Transaction) Delta(a Account) int64 {
	var d int64
	for _, e := range t.Entries {
		if e.Account == a {
			d += e.Amount
		}
	}
	return d
}

// Balance is a user's two accounts.
type Balance struct {
	Available int64
	Held      int64
}

// Apply returns the balance after entries; it is how every rule computes
// the new cached balance, so the cache cannot drift from the entries.
func (b Balance) Apply(entries []Entry) Balance {
	for _, e := range entries {
		switch e.Account {
		case Available:
			b.Available += e.Amount
		case Held:
			b.Held += e.Amount
		}
	}
	return b
}

// Valid reports whether both accounts are non-negative.
func (b Balance) Valid() bool { return b.Available >= 0 && b.Held >= 0 }

// HoldState is where a hold is in its life.
type HoldState string

// The hold states; a hold leaves HoldHeld exactly once.
const (
	HoldHeld     HoldState = "held"
	HoldCaptured HoldState = "captured"
	HoldReleased HoldState = "released"
	HoldExpired  HoldState = "expired"
)

// Hold is credits reserved for one job.
type Hold struct {
	ID         string
	JobID      string
	UserID     string
	Amount     int64
	Captured   int64
	Released   int64
	State      HoldState
	ExpireTime time.Time
	CreateTime time.Time
	// EndTime is zero while held.
	EndTime time.Time
}

// Open reports whether the hold still holds its credits.
func (h Hold) Open() bool { return h.State == HoldHeld }

// balanced checks the double-entry rule.
func balanced(entries []Entry) error {
	var sum int64
	for _, e := range entries {
		sum += e.Amount
	}
	if sum != 0 {
		return fmt.Errorf("entries %v sum to %d, not 0", entries, sum)
	}
	return nil
}
