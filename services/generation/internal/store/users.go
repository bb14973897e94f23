package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

// LockUserJobs locks every job of userID for the rest of tx, in id order,
// and returns the credit holds of those not finished yet (queued or
// running). A worker finishing one of them meanwhile waits for tx and then
// finds the job gone.
func LockUserJobs(ctx context.Context, tx pgx.Tx, userID string) (activeHolds []string, err error) {
	rows, err := tx.Query(ctx, `SELECT state, hold_id FROM jobs WHERE user_id = $1 ORDER BY id FOR UPDATE`, userID)
	if err != nil {
		return nil, fmt.Errorf("lock jobs of user %s: %w", userID, err)
	}
	type row struct{ state, hold string }
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.state, &x.hold)
	})
	if err != nil {
		return nil, fmt.Errorf("lock jobs of user %s: %w", userID, err)
	}
	for _, x := range all {
		if !job.State(x.state).Terminal() {
			activeHolds = append(activeHolds, x.hold)
		}
	}
	return activeHolds, nil
}

// DeleteUser deletes every job (with its outputs) and Look of userID in tx
// and reports how many of each went.
func DeleteUser(ctx context.Context, tx pgx.Tx, userID string) (jobs, looks int64, err error) {
	tag, err := tx.Exec(ctx, `DELETE FROM jobs WHERE user_id = $1`, userID)
	if err != nil {
		return 0, 0, fmt.Errorf("delete jobs of user %s: %w", userID, err)
	}
	jobs = tag.RowsAffected()
	if tag, err = tx.Exec(ctx, `DELETE FROM looks WHERE user_id = $1`, userID); err != nil {
		return 0, 0, fmt.Errorf("delete looks of user %s: %w", userID, err)
	}
	return jobs, tag.RowsAffected(), nil
}
