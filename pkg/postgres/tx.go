package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// ErrNoCommitHooks is AfterCommit's error for a transaction that was not
// begun with BeginFunc or wrapped by WithCommitHooks: nothing would ever run
// the function, and failing loudly beats losing it silently.
var ErrNoCommitHooks = errors.New("postgres: transaction takes no commit hooks; begin it with postgres.BeginFunc")

// hookTx is a transaction that remembers functions to run once it commits.
type hookTx struct {
	pgx.Tx
	hooks []func()
	// parent is the enclosing transaction of a savepoint: releasing the
	// savepoint hands its hooks up, rolling it back drops them.
	parent *hookTx
}

// Begin starts a savepoint whose hooks join this transaction's on release.
func (t *hookTx) Begin(ctx context.Context) (pgx.Tx, error) {
	inner, err := t.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &hookTx{Tx: inner, parent: t}, nil
}

// Commit commits (releases a savepoint), then hands a savepoint's hooks to
// its parent. A top-level transaction's hooks are run by whoever wrapped it.
func (t *hookTx) Commit(ctx context.Context) error {
	if err := t.Tx.Commit(ctx); err != nil {
		return err
	}
	if t.parent != nil {
		t.parent.hooks = append(t.parent.hooks, t.hooks...)
		t.hooks = nil
	}
	return nil
}

// WithCommitHooks wraps tx so that AfterCommit accepts it. The caller
// commits tx itself and then calls committed, which runs the hooks
// registered meanwhile, in order; after a rollback it must not call it.
func WithCommitHooks(tx pgx.Tx) (wrapped pgx.Tx, committed func()) {
	h := &hookTx{Tx: tx}
	return h, func() {
		hooks := h.hooks
		h.hooks = nil
		for _, fn := range hooks {
			fn()
		}
	}
}

// AfterCommit arranges for fn to run once tx has committed, and never if it
// rolls back: in-memory effects of a write, such as counting it in a metric,
// then happen exactly when the write does. A commit that fails, even one
// whose outcome the server never reported, counts as not committed.
func AfterCommit(tx pgx.Tx, fn func()) error {
	h, ok := tx.(*hookTx)
	if !ok {
		return ErrNoCommitHooks
	}
	h.hooks = append(h.hooks, fn)
	return nil
}

// BeginFunc is pgx.BeginFunc whose transaction takes AfterCommit: fn runs in
// a transaction that commits when fn returns nil and rolls back otherwise,
// and the hooks fn registered run after a successful commit, before
// BeginFunc returns.
func BeginFunc(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, fn func(pgx.Tx) error) error {
	var committed func()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var wrapped pgx.Tx
		wrapped, committed = WithCommitHooks(tx)
		return fn(wrapped)
	})
	if err != nil {
		return err
	}
	committed()
	return nil
}
