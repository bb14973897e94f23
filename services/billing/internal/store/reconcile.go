package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Violation is one broken invariant found by Reconcile.
type Violation struct {
	// Invariant names the rule, e.g. "conservation".
	Invariant string
	// Detail says where it broke.
	Detail string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// check is one invariant: a query that returns one text row per violation.
type check struct {
	invariant string
	query     string
}

// checks are the invariants, each as a query over the whole ledger.
var checks = []check{
	{"conservation", `SELECT 'all entries sum to ' || sum(amount) FROM entries HAVING sum(amount) <> 0`},
	{"balanced transactions", `SELECT 'transaction ' || t.id || ' sums to ' || coalesce(sum(e.amount), 0) || ' over ' || count(e.*) || ' entries'
		FROM transactions t LEFT JOIN entries e ON e.transaction_id = t.id
		GROUP BY t.id HAVING coalesce(sum(e.amount), 0) <> 0 OR count(e.*) < 2`},
	{"entries belong to their transaction's user", `SELECT 'entry of transaction ' || t.id || ' names user ' || e.user_id
		FROM entries e JOIN transactions t ON t.id = e.transaction_id WHERE e.user_id <> t.user_id`},
	{"transaction deltas match entries", `SELECT 'transaction ' || t.id || ' deltas differ from its entries'
		FROM transactions t JOIN (SELECT transaction_id,
			sum(amount) FILTER (WHERE account = 'available') AS a, sum(amount) FILTER (WHERE account = 'held') AS h
			FROM entries GROUP BY transaction_id) e ON e.transaction_id = t.id
		WHERE coalesce(e.a, 0) <> t.available_delta OR coalesce(e.h, 0) <> t.held_delta`},
	{"non-negative balances", `SELECT 'user ' || user_id || ' has available ' || available || ', held ' || held
		FROM accounts WHERE available < 0 OR held < 0`},
	{"balances equal entries", `SELECT 'user ' || coalesce(a.user_id, e.user_id) || ' cached ' || coalesce(a.available, 0) || '/' ||
			coalesce(a.held, 0) || ', entries ' || coalesce(e.available, 0) || '/' || coalesce(e.held, 0)
		FROM accounts a FULL JOIN (SELECT user_id,
			coalesce(sum(amount) FILTER (WHERE account = 'available'), 0) AS available,
			coalesce(sum(amount) FILTER (WHERE account = 'held'), 0) AS held
			FROM entries GROUP BY user_id) e ON e.user_id = a.user_id
		WHERE coalesce(a.available, 0) <> coalesce(e.available, 0) OR coalesce(a.held, 0) <> coalesce(e.held, 0)`},
	{"granted = available + held + consumed + expired + forfeited + refunds + receivable",
		`SELECT 'user ' || user_id || ': granted ' || granted || ' <> ' || accounted FROM (
			SELECT user_id,
				-coalesce(sum(amount) FILTER (WHERE account IN ('purchases', 'trial', 'promo', 'admin')), 0) AS granted,
				coalesce(sum(amount) FILTER (WHERE account NOT IN ('purchases', 'trial', 'promo', 'admin')), 0) AS accounted
			FROM entries GROUP BY user_id) u WHERE granted <> accounted`},
	{"held equals open holds", `SELECT 'user ' || a.user_id || ' holds ' || a.held || ' but open holds total ' || coalesce(o.total, 0)
		FROM accounts a LEFT JOIN (SELECT h.user_id, sum(h.amount) AS total FROM open_holds o JOIN holds h ON h.id = o.hold_id
			GROUP BY h.user_id) o ON o.user_id = a.user_id
		WHERE a.held <> coalesce(o.total, 0)`},
	{"each hold ends exactly once", `SELECT 'hold ' || h.id || CASE WHEN e.hold_id IS NULL AND o.hold_id IS NULL THEN ' neither open nor ended'
			ELSE ' both open and ended' END
		FROM holds h LEFT JOIN hold_ends e ON e.hold_id = h.id LEFT JOIN open_holds o ON o.hold_id = h.id
		WHERE (e.hold_id IS NULL) = (o.hold_id IS NULL)`},
	{"captured ≤ reserved", `SELECT 'hold ' || h.id || ' of ' || h.amount || ' ended with captured ' || e.captured || ', released ' || e.released
		FROM holds h JOIN hold_ends e ON e.hold_id = h.id
		WHERE e.captured > h.amount OR e.captured + e.released <> h.amount OR (e.outcome <> 'captured' AND e.captured <> 0)`},
	{"hold endings are booked", `SELECT 'hold ' || h.id || ' ended ' || e.outcome || ' by transaction ' || e.transaction_id || ' of kind ' || coalesce(t.kind, 'none')
		FROM holds h JOIN hold_ends e ON e.hold_id = h.id LEFT JOIN transactions t ON t.id = e.transaction_id
		WHERE t.kind IS DISTINCT FROM CASE e.outcome WHEN 'captured' THEN 'capture' WHEN 'released' THEN 'release' ELSE 'expire' END
			OR t.hold_id IS DISTINCT FROM h.id`},
	{"one reserve, one ending per hold", `SELECT 'hold ' || hold_id || ' has ' || count(*) FILTER (WHERE kind = 'reserve') || ' reserves and ' ||
			count(*) FILTER (WHERE kind <> 'reserve') || ' endings'
		FROM transactions WHERE hold_id IS NOT NULL GROUP BY hold_id
		HAVING count(*) FILTER (WHERE kind = 'reserve') <> 1 OR count(*) FILTER (WHERE kind <> 'reserve') > 1`},
	{"one capture per job", `SELECT 'job ' || job_id || ' captured ' || count(*) || ' times'
		FROM transactions WHERE kind = 'capture' GROUP BY job_id HAVING count(*) > 1`},
	{"at most one grant per checkout session", `SELECT 'purchase ' || purchase_id || ' granted ' || count(*) || ' times'
		FROM transactions WHERE kind = 'grant_purchase' GROUP BY purchase_id HAVING count(*) > 1`},
	{"grants match purchases", `SELECT 'purchase ' || p.id || ' (' || p.status || ', ' || p.credits || ' credits) granted ' || coalesce(t.available_delta, 0)
		FROM purchases p LEFT JOIN transactions t ON t.purchase_id = p.id AND t.kind = 'grant_purchase'
		WHERE (p.status IN ('open', 'failed') AND t.id IS NOT NULL)
			OR (p.status IN ('paid', 'refunded', 'disputed') AND t.available_delta IS DISTINCT FROM p.credits)`},
	{"entries never change", `SELECT 'trigger ' || name || ' is missing or disabled' FROM unnest(ARRAY[
			'transactions_append_only', 'transactions_no_truncate', 'entries_append_only', 'entries_no_truncate',
			'holds_append_only', 'holds_no_truncate', 'hold_ends_append_only', 'hold_ends_no_truncate', 'entries_balance']) AS name
		WHERE NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = name AND tgenabled IN ('O', 'A'))`},
}

// Reconcile checks every invariant of the ledger on the live database, in
// one REPEATABLE READ snapshot so concurrent writes cannot produce false
// alarms, and returns what broke (nothing when all hold).
func (s *Store) Reconcile(ctx context.Context) ([]Violation, error) {
	var out []Violation
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		out = nil
		for _, c := range checks {
			rows, err := tx.Query(ctx, c.query)
			if err != nil {
				return fmt.Errorf("check %s: %w", c.invariant, err)
			}
			details, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("check %s: %w", c.invariant, err)
			}
			for _, d := range details {
				out = append(out, Violation{Invariant: c.invariant, Detail: d})
			}
		}
		return nil
	})
	return out, err
}
