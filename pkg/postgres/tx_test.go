package postgres_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
)

func TestAfterCommit(t *testing.T) {
	t.Parallel()
	pool := postgrestest.New(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `CREATE TABLE things (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	count := func(id int) int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM things WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(tx pgx.Tx, id int) error {
		_, err := tx.Exec(ctx, `INSERT INTO things (id) VALUES ($1)`, id)
		return err
	}
	failure := errors.New("rule says no")

	for _, tc := range []struct {
		name    string
		fn      func(ran *[]string) func(pgx.Tx) error
		wantErr bool
		want    []string
	}{
		{
			name: "commit_runs_hooks_in_order_after_the_rows_are_visible",
			fn: func(ran *[]string) func(pgx.Tx) error {
				return func(tx pgx.Tx) error {
					for _, name := range []string{"first", "second"} {
						if err := postgres.AfterCommit(tx, func() {
							if count(1) != 1 {
								name += " (before commit)"
							}
							*ran = append(*ran, name)
						}); err != nil {
							return err
						}
					}
					return insert(tx, 1)
				}
			},
			want: []string{"first", "second"},
		},
		{
			name: "error_rolls_back_and_drops_hooks",
			fn: func(ran *[]string) func(pgx.Tx) error {
				return func(tx pgx.Tx) error {
					_ = postgres.AfterCommit(tx, func() { *ran = append(*ran, "ran") })
					if err := insert(tx, 2); err != nil {
						return err
					}
					return failure
				}
			},
			wantErr: true,
		},
		{
			name: "failed_commit_drops_hooks",
			fn: func(ran *[]string) func(pgx.Tx) error {
				return func(tx pgx.Tx) error {
					_ = postgres.AfterCommit(tx, func() { *ran = append(*ran, "ran") })
					if err := insert(tx, 3); err != nil {
						return err
					}
					return insert(tx, 3) // the deferred key check fails at COMMIT
				}
			},
			wantErr: true,
		},
		{
			name: "savepoint_rolled_back_drops_its_hooks_only",
			fn: func(ran *[]string) func(pgx.Tx) error {
				return func(tx pgx.Tx) error {
					_ = postgres.AfterCommit(tx, func() { *ran = append(*ran, "outer") })
					_ = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
						_ = postgres.AfterCommit(sp, func() { *ran = append(*ran, "rolled back") })
						return failure
					})
					return pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
						return postgres.AfterCommit(sp, func() { *ran = append(*ran, "released") })
					})
				}
			},
			want: []string{"outer", "released"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			err := postgres.BeginFunc(ctx, pool, tc.fn(&ran))
			if (err != nil) != tc.wantErr {
				t.Fatalf("BeginFunc = %v, want error %v", err, tc.wantErr)
			}
			if len(ran) != len(tc.want) {
				t.Fatalf("hooks ran %q, want %q", ran, tc.want)
			}
			for i := range ran {
				if ran[i] != tc.want[i] {
					t.Fatalf("hooks ran %q, want %q", ran, tc.want)
				}
			}
		})
	}

	// A transaction begun elsewhere refuses hooks rather than dropping them.
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return postgres.AfterCommit(tx, func() {})
	})
	if !errors.Is(err, postgres.ErrNoCommitHooks) {
		t.Errorf("AfterCommit on a plain transaction = %v, want ErrNoCommitHooks", err)
	}
}
