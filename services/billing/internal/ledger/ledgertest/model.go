// Package ledgertest is an in-memory model of the ledger: the oracle that
// property tests compare the PostgreSQL store against, and a ledger.Store
// for testing the ledger service's clock-driven parts (the reaper) under
// testing/synctest. It follows the rules in package ledger but none of the
// store's code.
package ledgertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
)

// Model is an in-memory ledger.Store. It is safe for concurrent use.
type Model struct {
	mu       sync.Mutex
	seq      int
	balances map[string]ledger.Balance
	holds    map[string]*ledger.Hold // by id
	byJob    map[string]string       // job id → hold id
	grants   map[string]ledger.Transaction
	txs      []ledger.Transaction
	// Totals per user and account, for the identity check.
	totals map[string]map[ledger.Account]int64
}

var _ ledger.Store = (*Model)(nil)

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{
		balances: map[string]ledger.Balance{},
		holds:    map[string]*ledger.Hold{},
		byJob:    map[string]string{},
		grants:   map[string]ledger.Transaction{},
		totals:   map[string]map[ledger.Account]int64{},
	}
}

func (m *Model) id() string {
	m.seq++
	return fmt.Sprintf("00000000-0000-7000-8000-%012d", m.seq)
}

func (m *Model) book(t ledger.Transaction) {
	m.txs = append(m.txs, t)
	m.balances[t.UserID] = m.balances[t.UserID].Apply(t.Entries)
	if m.totals[t.UserID] == nil {
		m.totals[t.UserID] = map[ledger.Account]int64{}
	}
	for _, e := range t.Entries {
		m.totals[t.UserID][e.Account] += e.Amount
	}
}

// Balance is the user's balance.
func (m *Model) Balance(_ context.Context, userID string) (ledger.Balance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.balances[userID], nil
}

// Totals returns a copy of the user's per-account totals.
func (m *Model) Totals(userID string) map[ledger.Account]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[ledger.Account]int64{}
	for a, n := range m.totals[userID] {
		out[a] = n
	}
	return out
}

// Grant books a grant once per key.
func (m *Model) Grant(_ context.Context, g ledger.GrantRequest) (ledger.Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.balances[g.UserID]
	kind, entries, _, err := b.Grant(g.Reason, g.Amount)
	if err != nil {
		return ledger.Transaction{}, err
	}
	if prev, ok := m.grants[g.IdempotencyKey]; ok {
		if prev.UserID != g.UserID || prev.Delta(ledger.Available) != g.Amount || prev.Kind != kind {
			return ledger.Transaction{}, ledger.ErrIdempotencyConflict
		}
		return prev, nil
	}
	t := ledger.Transaction{ID: m.id(), UserID: g.UserID, Kind: kind, Entries: entries, IdempotencyKey: g.IdempotencyKey, CreateTime: g.Time}
	m.grants[g.IdempotencyKey] = t
	m.book(t)
	return t, nil
}

// Reserve books a hold once per job.
func (m *Model) Reserve(_ context.Context, r ledger.ReserveRequest) (ledger.Hold, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.byJob[r.JobID]; ok {
		h := *m.holds[id]
		if h.UserID != r.UserID || h.Amount != r.Amount {
			return ledger.Hold{}, ledger.ErrIdempotencyConflict
		}
		return h, nil
	}
	entries, _, err := m.balances[r.UserID].Reserve(r.Amount)
	if err != nil {
		return ledger.Hold{}, err
	}
	h := &ledger.Hold{ID: m.id(), JobID: r.JobID, UserID: r.UserID, Amount: r.Amount, State: ledger.HoldHeld,
		ExpireTime: r.ExpireTime, CreateTime: r.Time}
	m.holds[h.ID], m.byJob[r.JobID] = h, h.ID
	m.book(ledger.Transaction{ID: m.id(), UserID: r.UserID, Kind: ledger.KindReserve, Entries: entries, JobID: r.JobID, HoldID: h.ID, CreateTime: r.Time})
	return *h, nil
}

// HoldID is the id of the job's hold, if any.
func (m *Model) HoldID(jobID string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byJob[jobID]
	return id, ok
}

// Capture ends a hold by consuming amount.
func (m *Model) Capture(_ context.Context, holdID, userID string, amount int64, now time.Time) (ledger.Hold, error) {
	return m.end(holdID, userID, ledger.HoldCaptured, amount, now)
}

// Release ends a hold by returning it.
func (m *Model) Release(_ context.Context, holdID, userID string, now time.Time) (ledger.Hold, error) {
	return m.end(holdID, userID, ledger.HoldReleased, 0, now)
}

func (m *Model) end(holdID, userID string, outcome ledger.HoldState, amount int64, now time.Time) (ledger.Hold, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.endLocked(holdID, userID, outcome, amount, now)
}

func (m *Model) endLocked(holdID, userID string, outcome ledger.HoldState, amount int64, now time.Time) (ledger.Hold, error) {
	h, ok := m.holds[holdID]
	if !ok || (userID != "" && h.UserID != userID) {
		return ledger.Hold{}, apperr.NotFound("hold %s not found", holdID)
	}
	if !h.Open() {
		if (outcome == ledger.HoldCaptured && h.State == ledger.HoldCaptured && h.Captured == amount) ||
			(outcome == ledger.HoldReleased && (h.State == ledger.HoldReleased || h.State == ledger.HoldExpired)) {
			return *h, nil
		}
		return *h, ledger.ErrHoldEnded
	}
	b := m.balances[h.UserID]
	var (
		entries []ledger.Entry
		err     error
		kind    = ledger.KindRelease
	)
	if outcome == ledger.HoldCaptured {
		entries, _, err = b.Capture(*h, amount)
		kind = ledger.KindCapture
	} else {
		entries, _, err = b.Release(*h)
		if outcome == ledger.HoldExpired {
			kind = ledger.KindExpire
		}
	}
	if err != nil {
		return ledger.Hold{}, err
	}
	h.State, h.EndTime = outcome, now
	h.Captured = amount
	h.Released = h.Amount - amount
	m.book(ledger.Transaction{ID: m.id(), UserID: h.UserID, Kind: kind, Entries: entries, JobID: h.JobID, HoldID: h.ID, CreateTime: now})
	return *h, nil
}

// ExpireDue expires up to limit open holds due at now, soonest first.
func (m *Model) ExpireDue(_ context.Context, now time.Time, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*ledger.Hold
	for _, h := range m.holds {
		if h.Open() && !h.ExpireTime.After(now) {
			due = append(due, h)
		}
	}
	slices.SortFunc(due, func(a, b *ledger.Hold) int { return a.ExpireTime.Compare(b.ExpireTime) })
	n := 0
	for _, h := range due[:min(limit, len(due))] {
		if _, err := m.endLocked(h.ID, "", ledger.HoldExpired, 0, now); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Hold returns a copy of a hold.
func (m *Model) Hold(id string) (ledger.Hold, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.holds[id]
	if !ok {
		return ledger.Hold{}, false
	}
	return *h, true
}

// Transactions pages the user's history, newest first (booking order).
func (m *Model) Transactions(_ context.Context, userID string, after *ledger.Cursor, limit int) ([]ledger.Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ledger.Transaction
	skipping := after != nil
	for i := len(m.txs) - 1; i >= 0 && len(out) < limit; i-- {
		t := m.txs[i]
		if t.UserID != userID {
			continue
		}
		if skipping {
			skipping = t.ID != after.ID
			continue
		}
		out = append(out, t)
	}
	return out, nil
}
