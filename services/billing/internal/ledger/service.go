package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
)

// maxKeyLen bounds caller-chosen keys (job ids, idempotency keys).
const maxKeyLen = 200

// Store persists the rules' decisions. Its one implementation is
// internal/store; the interface exists because store imports this package
// for the rules, so this package cannot import store.
//
// Every write method is idempotent by its key (job id, hold id, idempotency
// key) through unique constraints, and runs its rule with the user's
// account row locked.
type Store interface {
	Balance(ctx context.Context, userID string) (Balance, error)
	Grant(ctx context.Context, g GrantRequest) (Transaction, error)
	Reserve(ctx context.Context, r ReserveRequest) (Hold, error)
	// Capture and Release scope the hold to userID unless it is empty
	// (a service acting with no user token).
	Capture(ctx context.Context, holdID, userID string, amount int64, now time.Time) (Hold, error)
	Release(ctx context.Context, holdID, userID string, now time.Time) (Hold, error)
	// ExpireDue releases up to limit open holds whose expiry is ≤ now and
	// reports how many it ended.
	ExpireDue(ctx context.Context, now time.Time, limit int) (int, error)
	Transactions(ctx context.Context, userID string, after *Cursor, limit int) ([]Transaction, error)
}

// GrantRequest asks for credits to be granted.
type GrantRequest struct {
	UserID string
	Amount int64
	Reason Reason
	// IdempotencyKey is unique per grant: a repeat returns the first grant.
	IdempotencyKey string
	Description    string
	// PurchaseID is the purchase a purchase grant pays out (one grant each).
	PurchaseID string
	Time       time.Time
}

// ReserveRequest asks for a hold.
type ReserveRequest struct {
	UserID     string
	JobID      string
	Amount     int64
	ExpireTime time.Time
	Time       time.Time
}

// Cursor is a position in a user's history, newest first.
type Cursor struct {
	Time time.Time
	ID   string
}

// Service is the ledger's use cases: it validates requests, applies the
// clock and the hold-expiry cap, and hands the work to the store.
type Service struct {
	store   Store
	logger  *slog.Logger
	now     func() time.Time
	holdTTL time.Duration
}

// NewService returns the ledger's use cases. holdTTL is both the default
// and the maximum lifetime of a hold; now is the clock (time.Now).
func NewService(store Store, logger *slog.Logger, holdTTL time.Duration, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, logger: logger, now: now, holdTTL: holdTTL}
}

// Balance is the user's balance; a user with no ledger yet has zero.
func (s *Service) Balance(ctx context.Context, userID string) (Balance, error) {
	if err := checkKey("user_id", userID); err != nil {
		return Balance{}, err
	}
	return s.store.Balance(ctx, userID)
}

// Grant grants credits, once per idempotency key.
func (s *Service) Grant(ctx context.Context, g GrantRequest) (Transaction, error) {
	if err := checkKey("user_id", g.UserID); err != nil {
		return Transaction{}, err
	}
	if err := checkKey("idempotency_key", g.IdempotencyKey); err != nil {
		return Transaction{}, err
	}
	if _, _, _, err := (Balance{}).Grant(g.Reason, g.Amount); err != nil {
		return Transaction{}, err
	}
	if g.Time.IsZero() {
		g.Time = s.now()
	}
	return s.store.Grant(ctx, g)
}

// Reserve holds credits for a job, once per job id. The expiry defaults to,
// and is capped at, now + the hold TTL.
func (s *Service) Reserve(ctx context.Context, r ReserveRequest) (Hold, error) {
	if err := checkKey("user_id", r.UserID); err != nil {
		return Hold{}, err
	}
	if err := checkKey("job_id", r.JobID); err != nil {
		return Hold{}, err
	}
	if r.Amount <= 0 {
		return Hold{}, apperr.Invalid("hold must be positive", apperr.Violation{Field: "amount", Description: "must be > 0"})
	}
	r.Time = s.now()
	limit := r.Time.Add(s.holdTTL)
	switch {
	case r.ExpireTime.IsZero() || r.ExpireTime.After(limit):
		r.ExpireTime = limit
	case !r.ExpireTime.After(r.Time):
		return Hold{}, apperr.Invalid("expiry must be in the future", apperr.Violation{Field: "expire_time", Description: "must be after now"})
	}
	return s.store.Reserve(ctx, r)
}

// Capture consumes amount of the hold and releases the rest. Repeating it
// returns the captured hold; a hold that ended another way is ErrHoldEnded.
func (s *Service) Capture(ctx context.Context, holdID, userID string, amount int64) (Hold, error) {
	if err := checkKey("hold_id", holdID); err != nil {
		return Hold{}, err
	}
	if amount < 0 {
		return Hold{}, apperr.Invalid("capture must not be negative", apperr.Violation{Field: "amount", Description: "must be ≥ 0"})
	}
	return s.store.Capture(ctx, holdID, userID, amount, s.now())
}

// Release returns the hold's credits. Repeating it, or releasing a hold the
// reaper expired, returns the hold; a captured hold is ErrHoldEnded.
func (s *Service) Release(ctx context.Context, holdID, userID string) (Hold, error) {
	if err := checkKey("hold_id", holdID); err != nil {
		return Hold{}, err
	}
	return s.store.Release(ctx, holdID, userID, s.now())
}

// Transactions pages through the user's history, newest first, returning
// the cursor of the next page (nil on the last).
func (s *Service) Transactions(ctx context.Context, userID string, after *Cursor, limit int) ([]Transaction, *Cursor, error) {
	if err := checkKey("user_id", userID); err != nil {
		return nil, nil, err
	}
	txs, err := s.store.Transactions(ctx, userID, after, limit+1)
	if err != nil {
		return nil, nil, err
	}
	if len(txs) <= limit {
		return txs, nil, nil
	}
	txs = txs[:limit]
	last := txs[limit-1]
	return txs, &Cursor{Time: last.CreateTime, ID: last.ID}, nil
}

// reapBatch bounds one reaper transaction batch.
const reapBatch = 200

// ExpireDue releases every hold past its expiry, in batches.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.ExpireDue(ctx, s.now(), reapBatch)
		total += n
		if err != nil || n < reapBatch {
			return total, err
		}
	}
}

// RunReaper expires due holds every interval until ctx ends. A failed pass
// is logged and retried at the next tick: holds stay held meanwhile, which
// is safe.
func (s *Service) RunReaper(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.ExpireDue(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.WarnContext(ctx, "hold reaper pass failed", "error", err)
		case n > 0:
			s.logger.InfoContext(ctx, "expired holds", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func checkKey(field, v string) error {
	switch {
	case v == "":
		return apperr.Invalid(field+" is required", apperr.Violation{Field: field, Description: "must not be empty"})
	case len(v) > maxKeyLen:
		return apperr.Invalid(field+" is too long", apperr.Violation{Field: field, Description: fmt.Sprintf("at most %d bytes", maxKeyLen)})
	}
	return nil
}
