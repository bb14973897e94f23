package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/postgres"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
)

// The *Store methods in this file implement ledger.Store.
var _ ledger.Store = (*Store)(nil)

// account is a user's locked account row.
type account struct {
	exists  bool
	closed  bool
	balance ledger.Balance
}

const lockAccountSQL = `SELECT available, held, closed_at IS NOT NULL FROM accounts WHERE user_id = $1 FOR UPDATE`

func scanAccount(row pgx.Row) (account, error) {
	var a account
	err := row.Scan(&a.balance.Available, &a.balance.Held, &a.closed)
	if errors.Is(err, pgx.ErrNoRows) {
		return account{}, nil
	}
	if err != nil {
		return account{}, fmt.Errorf("lock account: %w", err)
	}
	a.exists = true
	return a, nil
}

// queueTransaction adds the statements that book t and store the account's
// new balance to b. The entries are checked against the rules once more
// here, so nothing unbalanced or negative is ever sent.
func queueTransaction(b *pgx.Batch, t ledger.Transaction, before ledger.Balance) (ledger.Balance, error) {
	if err := before.Check(t.Entries); err != nil {
		return before, fmt.Errorf("book %s for %s: %w", t.Kind, t.UserID, err)
	}
	after := before.Apply(t.Entries)
	b.Queue(`INSERT INTO transactions (id, user_id, kind, available_delta, held_delta, job_id, hold_id, purchase_id,
			idempotency_key, description, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		t.ID, t.UserID, string(t.Kind), t.Delta(ledger.Available), t.Delta(ledger.Held), nullable(t.JobID),
		nullable(t.HoldID), nullable(t.PurchaseID), nullable(t.IdempotencyKey), t.Description, t.CreateTime)
	accounts := make([]string, len(t.Entries))
	amounts := make([]int64, len(t.Entries))
	for i, e := range t.Entries {
		accounts[i], amounts[i] = string(e.Account), e.Amount
	}
	b.Queue(`INSERT INTO entries (transaction_id, account, user_id, amount)
		SELECT $1, a, $2, n FROM unnest($3::text[], $4::bigint[]) AS e (a, n)`, t.ID, t.UserID, accounts, amounts)
	b.Queue(`UPDATE accounts SET available = $2, held = $3, updated_at = $4 WHERE user_id = $1`,
		t.UserID, after.Available, after.Held, t.CreateTime)
	return after, nil
}

// book queues t on b (see queueTransaction) and counts its credits in the
// metrics once tx commits. Every ledger transaction is booked through here,
// so the counters follow the ledger exactly.
func (s *Store) book(ctx context.Context, tx pgx.Tx, b *pgx.Batch, t ledger.Transaction, before ledger.Balance) (ledger.Balance, error) {
	after, err := queueTransaction(b, t, before)
	if err != nil {
		return before, err
	}
	if err := postgres.AfterCommit(tx, func() { s.metrics.count(ctx, t) }); err != nil {
		return before, fmt.Errorf("book %s for %s: %w", t.Kind, t.UserID, err)
	}
	return after, nil
}

// Balance reads the user's balance.
func (s *Store) Balance(ctx context.Context, userID string) (ledger.Balance, error) {
	var b ledger.Balance
	err := s.pool.QueryRow(ctx, `SELECT available, held FROM accounts WHERE user_id = $1`, userID).Scan(&b.Available, &b.Held)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Balance{}, nil
	}
	if err != nil {
		return ledger.Balance{}, fmt.Errorf("read balance of %s: %w", userID, err)
	}
	return b, nil
}

// Grant books a grant, once per idempotency key, with its CreditsGranted
// event.
func (s *Store) Grant(ctx context.Context, g ledger.GrantRequest) (t ledger.Transaction, err error) {
	err = s.withTx(ctx, "grant", func(tx pgx.Tx) error {
		t, err = s.GrantInTx(ctx, tx, g)
		return err
	})
	return t, err
}

// GrantInTx is Grant inside the caller's transaction (a consumer's), which
// must take postgres.AfterCommit.
func (s *Store) GrantInTx(ctx context.Context, tx pgx.Tx, g ledger.GrantRequest) (ledger.Transaction, error) {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO accounts (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, g.UserID)
	b.Queue(lockAccountSQL, g.UserID)
	b.Queue(transactionSQL+` WHERE idempotency_key = $1`, g.IdempotencyKey)
	res := tx.SendBatch(ctx, b)
	if _, err := res.Exec(); err != nil {
		res.Close()
		return ledger.Transaction{}, fmt.Errorf("create account %s: %w", g.UserID, err)
	}
	acct, err := scanAccount(res.QueryRow())
	if err != nil {
		res.Close()
		return ledger.Transaction{}, err
	}
	prev, found, err := scanTransaction(res.QueryRow())
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ledger.Transaction{}, fmt.Errorf("grant %s: %w", g.IdempotencyKey, err)
	}
	kind, entries, _, err := acct.balance.Grant(g.Reason, g.Amount)
	if err != nil {
		return ledger.Transaction{}, err
	}
	if found {
		if prev.UserID != g.UserID || prev.Kind != kind || prev.Delta(ledger.Available) != g.Amount {
			return ledger.Transaction{}, ledger.ErrIdempotencyConflict
		}
		return prev, nil
	}
	if acct.closed && g.Reason != ledger.ReasonPurchase {
		return ledger.Transaction{}, ledger.ErrAccountClosed
	}
	t := ledger.Transaction{
		ID: newID(), UserID: g.UserID, Kind: kind, Entries: entries, PurchaseID: g.PurchaseID,
		IdempotencyKey: g.IdempotencyKey, Description: g.Description, CreateTime: ts(g.Time),
	}
	wb := &pgx.Batch{}
	if _, err := s.book(ctx, tx, wb, t, acct.balance); err != nil {
		return ledger.Transaction{}, err
	}
	if err := tx.SendBatch(ctx, wb).Close(); err != nil {
		return ledger.Transaction{}, fmt.Errorf("book grant %s: %w", g.IdempotencyKey, err)
	}
	ev := events.Event{ID: t.ID, Subject: events.SubjectCreditsGranted, Payload: &eventsv1.CreditsGranted{
		UserId: t.UserID, TransactionId: t.ID, Amount: g.Amount, Reason: string(g.Reason),
		GrantTime: timestamppb.New(t.CreateTime),
	}}
	if err := events.Append(ctx, tx, ev); err != nil {
		return ledger.Transaction{}, err
	}
	return t, nil
}

// Reserve books a hold, once per job id.
func (s *Store) Reserve(ctx context.Context, r ledger.ReserveRequest) (h ledger.Hold, err error) {
	err = s.withTx(ctx, "reserve", func(tx pgx.Tx) error {
		h, err = s.reserve(ctx, tx, r)
		return err
	})
	return h, err
}

func (s *Store) reserve(ctx context.Context, tx pgx.Tx, r ledger.ReserveRequest) (ledger.Hold, error) {
	b := &pgx.Batch{}
	b.Queue(lockAccountSQL, r.UserID)
	b.Queue(holdSQL+` WHERE h.job_id = $1`, r.JobID)
	res := tx.SendBatch(ctx, b)
	acct, err := scanAccount(res.QueryRow())
	if err != nil {
		res.Close()
		return ledger.Hold{}, err
	}
	prev, found, err := scanHold(res.QueryRow())
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ledger.Hold{}, fmt.Errorf("reserve for job %s: %w", r.JobID, err)
	}
	if found {
		if prev.UserID != r.UserID || prev.Amount != r.Amount {
			return ledger.Hold{}, ledger.ErrIdempotencyConflict
		}
		return prev, nil
	}
	if acct.closed {
		return ledger.Hold{}, ledger.ErrAccountClosed
	}
	entries, _, err := acct.balance.Reserve(r.Amount)
	if err != nil {
		return ledger.Hold{}, err
	}
	now := ts(r.Time)
	h := ledger.Hold{
		ID: newID(), JobID: r.JobID, UserID: r.UserID, Amount: r.Amount, State: ledger.HoldHeld,
		ExpireTime: ts(r.ExpireTime), CreateTime: now,
	}
	t := ledger.Transaction{
		ID: newID(), UserID: r.UserID, Kind: ledger.KindReserve, Entries: entries, JobID: r.JobID, HoldID: h.ID,
		Description: "credits held for a generation", CreateTime: now,
	}
	wb := &pgx.Batch{}
	if _, err := s.book(ctx, tx, wb, t, acct.balance); err != nil {
		return ledger.Hold{}, err
	}
	wb.Queue(`INSERT INTO holds (id, job_id, user_id, amount, expire_at, created_at, reserve_transaction_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, h.ID, h.JobID, h.UserID, h.Amount, h.ExpireTime, h.CreateTime, t.ID)
	wb.Queue(`INSERT INTO open_holds (hold_id, user_id, expire_at) VALUES ($1, $2, $3)`, h.ID, h.UserID, h.ExpireTime)
	if err := tx.SendBatch(ctx, wb).Close(); err != nil {
		return ledger.Hold{}, fmt.Errorf("book hold for job %s: %w", r.JobID, err)
	}
	return h, nil
}

// Capture ends a hold by consuming amount and releasing the rest.
func (s *Store) Capture(ctx context.Context, holdID, userID string, amount int64, now time.Time) (h ledger.Hold, err error) {
	err = s.withTx(ctx, "capture", func(tx pgx.Tx) error {
		h, err = s.endHold(ctx, tx, holdID, userID, ledger.HoldCaptured, amount, now)
		return err
	})
	return h, err
}

// Release ends a hold by returning all of it.
func (s *Store) Release(ctx context.Context, holdID, userID string, now time.Time) (h ledger.Hold, err error) {
	err = s.withTx(ctx, "release", func(tx pgx.Tx) error {
		h, err = s.endHold(ctx, tx, holdID, userID, ledger.HoldReleased, 0, now)
		return err
	})
	return h, err
}

// ExpireDue releases up to limit holds past their expiry, each in its own
// transaction, and counts those it ended (a hold captured or released
// meanwhile is skipped).
func (s *Store) ExpireDue(ctx context.Context, now time.Time, limit int) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT hold_id FROM open_holds WHERE expire_at <= $1 ORDER BY expire_at LIMIT $2`, now, limit)
	if err != nil {
		return 0, fmt.Errorf("find expired holds: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("find expired holds: %w", err)
	}
	n := 0
	for _, id := range ids {
		err := s.withTx(ctx, "expire", func(tx pgx.Tx) error {
			_, err := s.endHold(ctx, tx, id, "", ledger.HoldExpired, 0, now)
			return err
		})
		switch {
		case err == nil:
			n++
		case errors.Is(err, ledger.ErrHoldEnded), apperr.KindOf(err) == apperr.KindNotFound:
			// Ended (or its account closed) meanwhile.
		default:
			return n, fmt.Errorf("expire hold %s: %w", id, err)
		}
	}
	return n, nil
}

// endHold captures, releases or expires a hold. A repeat of the same ending
// returns the ended hold (a release or expiry satisfies a later release);
// any other repeat is ErrHoldEnded.
func (s *Store) endHold(ctx context.Context, tx pgx.Tx, holdID, userID string, outcome ledger.HoldState, amount int64, now time.Time) (ledger.Hold, error) {
	if !validUUID(holdID) {
		return ledger.Hold{}, apperr.NotFound("hold %s not found", holdID)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT available, held, closed_at IS NOT NULL FROM accounts
		WHERE user_id = (SELECT user_id FROM holds WHERE id = $1 AND ($2 = '' OR user_id = $2)) FOR UPDATE`, holdID, userID)
	b.Queue(holdSQL+` WHERE h.id = $1 AND ($2 = '' OR h.user_id = $2)`, holdID, userID)
	res := tx.SendBatch(ctx, b)
	acct, err := scanAccount(res.QueryRow())
	if err != nil {
		res.Close()
		return ledger.Hold{}, err
	}
	h, found, err := scanHold(res.QueryRow())
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ledger.Hold{}, fmt.Errorf("end hold %s: %w", holdID, err)
	}
	if !found || !acct.exists {
		return ledger.Hold{}, apperr.NotFound("hold %s not found", holdID)
	}
	if !h.Open() {
		switch {
		case outcome == ledger.HoldCaptured && h.State == ledger.HoldCaptured && h.Captured == amount,
			outcome == ledger.HoldReleased && (h.State == ledger.HoldReleased || h.State == ledger.HoldExpired):
			return h, nil
		}
		return h, ledger.ErrHoldEnded
	}
	var (
		entries []ledger.Entry
		kind    ledger.Kind
		desc    string
	)
	switch outcome {
	case ledger.HoldCaptured:
		entries, _, err = acct.balance.Capture(h, amount)
		kind, desc = ledger.KindCapture, "credits used by a generation"
		h.Captured, h.Released = amount, h.Amount-amount
	case ledger.HoldReleased:
		entries, _, err = acct.balance.Release(h)
		kind, desc = ledger.KindRelease, "held credits returned"
		h.Released = h.Amount
	case ledger.HoldExpired:
		entries, _, err = acct.balance.Release(h)
		kind, desc = ledger.KindExpire, "held credits returned after the hold expired"
		h.Released = h.Amount
	}
	if err != nil {
		return ledger.Hold{}, err
	}
	h.State, h.EndTime = outcome, ts(now)
	t := ledger.Transaction{
		ID: newID(), UserID: h.UserID, Kind: kind, Entries: entries, JobID: h.JobID, HoldID: h.ID,
		Description: desc, CreateTime: h.EndTime,
	}
	wb := &pgx.Batch{}
	if _, err := s.book(ctx, tx, wb, t, acct.balance); err != nil {
		return ledger.Hold{}, err
	}
	wb.Queue(`INSERT INTO hold_ends (hold_id, outcome, captured, released, transaction_id, ended_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, h.ID, string(outcome), h.Captured, h.Released, t.ID, h.EndTime)
	wb.Queue(`DELETE FROM open_holds WHERE hold_id = $1`, h.ID)
	if err := tx.SendBatch(ctx, wb).Close(); err != nil {
		return ledger.Hold{}, fmt.Errorf("end hold %s: %w", h.ID, err)
	}
	return h, nil
}

// Transactions reads a page of the user's history, newest first. Each
// transaction carries only the user's side (its Available and Held
// entries); the system side is in the ledger for audits.
func (s *Store) Transactions(ctx context.Context, userID string, after *ledger.Cursor, limit int) ([]ledger.Transaction, error) {
	var (
		afterTime any
		afterID   any
	)
	if after != nil {
		afterTime, afterID = after.Time, after.ID
	}
	rows, err := s.pool.Query(ctx, transactionSQL+`
		WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
		ORDER BY created_at DESC, id DESC LIMIT $4`, userID, afterTime, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list transactions of %s: %w", userID, err)
	}
	return collectTransactions(rows)
}

const transactionSQL = `SELECT id::text, user_id, kind, available_delta, held_delta, job_id, hold_id::text,
	purchase_id::text, idempotency_key, description, created_at FROM transactions`

func scanTransactionRow(row pgx.Row) (ledger.Transaction, error) {
	var (
		t                            ledger.Transaction
		kind                         string
		avail, held                  int64
		job, hold, purchase, idemKey *string
	)
	if err := row.Scan(&t.ID, &t.UserID, &kind, &avail, &held, &job, &hold, &purchase, &idemKey, &t.Description, &t.CreateTime); err != nil {
		return t, err
	}
	t.Kind, t.JobID, t.HoldID, t.PurchaseID, t.IdempotencyKey = ledger.Kind(kind), str(job), str(hold), str(purchase), str(idemKey)
	if avail != 0 {
		t.Entries = append(t.Entries, ledger.Entry{Account: ledger.Available, Amount: avail})
	}
	if held != 0 {
		t.Entries = append(t.Entries, ledger.Entry{Account: ledger.Held, Amount: held})
	}
	return t, nil
}

func scanTransaction(row pgx.Row) (ledger.Transaction, bool, error) {
	t, err := scanTransactionRow(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	return t, err == nil, err
}

func collectTransactions(rows pgx.Rows) ([]ledger.Transaction, error) {
	txs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Transaction, error) { return scanTransactionRow(r) })
	if err != nil {
		return nil, fmt.Errorf("read transactions: %w", err)
	}
	return txs, nil
}

const holdSQL = `SELECT h.id::text, h.job_id, h.user_id, h.amount, h.expire_at, h.created_at,
	e.outcome, coalesce(e.captured, 0), coalesce(e.released, 0), e.ended_at
	FROM holds h LEFT JOIN hold_ends e ON e.hold_id = h.id`

func scanHold(row pgx.Row) (ledger.Hold, bool, error) {
	var (
		h       ledger.Hold
		outcome *string
		ended   *time.Time
	)
	err := row.Scan(&h.ID, &h.JobID, &h.UserID, &h.Amount, &h.ExpireTime, &h.CreateTime, &outcome, &h.Captured, &h.Released, &ended)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	h.State = ledger.HoldHeld
	if outcome != nil {
		h.State = ledger.HoldState(*outcome)
	}
	if ended != nil {
		h.EndTime = *ended
	}
	return h, true, nil
}

// Hold reads one hold, scoped to userID unless it is empty.
func (s *Store) Hold(ctx context.Context, holdID, userID string) (ledger.Hold, error) {
	if !validUUID(holdID) {
		return ledger.Hold{}, apperr.NotFound("hold %s not found", holdID)
	}
	h, found, err := scanHold(s.pool.QueryRow(ctx, holdSQL+` WHERE h.id = $1 AND ($2 = '' OR h.user_id = $2)`, holdID, userID))
	if err != nil {
		return ledger.Hold{}, fmt.Errorf("read hold %s: %w", holdID, err)
	}
	if !found {
		return ledger.Hold{}, apperr.NotFound("hold %s not found", holdID)
	}
	return h, nil
}
