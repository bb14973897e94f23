package ledger

import (
	"fmt"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// The rules below are pure: given a balance (and a hold), they return the
// entries to book and the resulting balance, or a domain error. The store
// runs them with the user's account row locked.

// Grant books n credits from the reason's source account into Available.
func (b Balance) Grant(reason Reason, n int64) (Kind, []Entry, Balance, error) {
	g, ok := grantAccounts[reason]
	if !ok {
		return "", nil, b, apperr.Invalid("unknown grant reason", apperr.Violation{Field: "reason", Description: "must be trial, purchase, admin or promo"})
	}
	if n <= 0 {
		return "", nil, b, apperr.Invalid("grant must be positive", apperr.Violation{Field: "amount", Description: "must be > 0"})
	}
	entries := []Entry{{g.source, -n}, {Available, n}}
	return g.kind, entries, b.Apply(entries), nil
}

// Reserve moves n credits from Available to Held, refused when available
// cannot cover them.
func (b Balance) Reserve(n int64) ([]Entry, Balance, error) {
	if n <= 0 {
		return nil, b, apperr.Invalid("hold must be positive", apperr.Violation{Field: "amount", Description: "must be > 0"})
	}
	if b.Available < n {
		return nil, b, ErrInsufficientCredits
	}
	entries := []Entry{{Available, -n}, {Held, n}}
	return entries, b.Apply(entries), nil
}

// Capture consumes m of an open hold's credits and releases the rest, in
// the same transaction.
func (b Balance) Capture(h Hold, m int64) ([]Entry, Balance, error) {
	if m < 0 || m > h.Amount {
		return nil, b, apperr.Invalid("capture must be between 0 and the hold's amount",
			apperr.Violation{Field: "amount", Description: fmt.Sprintf("must be 0..%d", h.Amount)})
	}
	if !h.Open() {
		return nil, b, ErrHoldEnded
	}
	entries := []Entry{{Held, -h.Amount}}
	if m > 0 {
		entries = append(entries, Entry{Consumed, m})
	}
	if rest := h.Amount - m; rest > 0 {
		entries = append(entries, Entry{Available, rest})
	}
	return entries, b.Apply(entries), b.check(entries)
}

// Release returns an open hold's credits to Available; the reaper's expiry
// books the same entries under KindExpire.
func (b Balance) Release(h Hold) ([]Entry, Balance, error) {
	if !h.Open() {
		return nil, b, ErrHoldEnded
	}
	entries := []Entry{{Held, -h.Amount}, {Available, h.Amount}}
	return entries, b.Apply(entries), b.check(entries)
}

// Forfeit takes all available credits on account deletion. It books nothing
// when available is zero.
func (b Balance) Forfeit() ([]Entry, Balance) {
	if b.Available == 0 {
		return nil, b
	}
	entries := []Entry{{Available, -b.Available}, {Forfeited, b.Available}}
	return entries, b.Apply(entries)
}

// Refund takes back n refunded credits: from Available down to zero, the
// rest booked as owed (Receivable). Held credits are left alone: they pay
// for jobs already running.
func (b Balance) Refund(n int64) ([]Entry, Balance, error) {
	if n <= 0 {
		return nil, b, apperr.Invalid("refund must be positive", apperr.Violation{Field: "amount", Description: "must be > 0"})
	}
	d := min(b.Available, n)
	entries := []Entry{{Refunds, n}}
	if d > 0 {
		entries = append(entries, Entry{Available, -d})
	}
	if owed := n - d; owed > 0 {
		entries = append(entries, Entry{Receivable, -owed})
	}
	return entries, b.Apply(entries), nil
}

// check is the invariant every rule's result must keep; a failure is a bug
// in the rules, never the caller's fault.
func (b Balance) check(entries []Entry) error {
	if err := balanced(entries); err != nil {
		return err
	}
	if nb := b.Apply(entries); !nb.Valid() {
		return fmt.Errorf("entries %v would leave balance %+v negative", entries, nb)
	}
	return nil
}

// Check verifies a transaction's entries before they are written: they
// balance and leave b valid. The store calls it on every write.
func (b Balance) Check(entries []Entry) error { return b.check(entries) }
