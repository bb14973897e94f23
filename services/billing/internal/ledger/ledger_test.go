package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger/ledgertest"
)

func sum(entries []ledger.Entry) int64 {
	var s int64
	for _, e := range entries {
		s += e.Amount
	}
	return s
}

func TestRules(t *testing.T) {
	t.Parallel()
	open := ledger.Hold{ID: "h", Amount: 5, State: ledger.HoldHeld}
	ended := ledger.Hold{ID: "h", Amount: 5, State: ledger.HoldReleased}
	type result struct {
		entries []ledger.Entry
		after   ledger.Balance
		err     error
	}
	cases := map[string]struct {
		before ledger.Balance
		op     func(ledger.Balance) result
		want   ledger.Balance
		kind   apperr.Kind // 0 with wantErr false means success
		reason string
	}{
		"grant_adds_to_available": {ledger.Balance{Available: 1}, func(b ledger.Balance) result {
			_, e, a, err := b.Grant(ledger.ReasonTrial, 5)
			return result{e, a, err}
		}, ledger.Balance{Available: 6}, 0, ""},
		"grant_zero_is_invalid": {ledger.Balance{}, func(b ledger.Balance) result {
			_, e, a, err := b.Grant(ledger.ReasonTrial, 0)
			return result{e, a, err}
		}, ledger.Balance{}, apperr.KindInvalid, ""},
		"reserve_moves_to_held": {ledger.Balance{Available: 7}, func(b ledger.Balance) result {
			e, a, err := b.Reserve(5)
			return result{e, a, err}
		}, ledger.Balance{Available: 2, Held: 5}, 0, ""},
		"reserve_exactly_available": {ledger.Balance{Available: 5}, func(b ledger.Balance) result {
			e, a, err := b.Reserve(5)
			return result{e, a, err}
		}, ledger.Balance{Held: 5}, 0, ""},
		"reserve_more_than_available": {ledger.Balance{Available: 4, Held: 9}, func(b ledger.Balance) result {
			e, a, err := b.Reserve(5)
			return result{e, a, err}
		}, ledger.Balance{Available: 4, Held: 9}, apperr.KindPrecondition, ledger.ReasonInsufficientCredits},
		"capture_part_releases_rest": {ledger.Balance{Available: 1, Held: 5}, func(b ledger.Balance) result {
			e, a, err := b.Capture(open, 3)
			return result{e, a, err}
		}, ledger.Balance{Available: 3}, 0, ""},
		"capture_all": {ledger.Balance{Held: 5}, func(b ledger.Balance) result {
			e, a, err := b.Capture(open, 5)
			return result{e, a, err}
		}, ledger.Balance{}, 0, ""},
		"capture_nothing": {ledger.Balance{Held: 5}, func(b ledger.Balance) result {
			e, a, err := b.Capture(open, 0)
			return result{e, a, err}
		}, ledger.Balance{Available: 5}, 0, ""},
		"capture_more_than_held": {ledger.Balance{Held: 5}, func(b ledger.Balance) result {
			e, a, err := b.Capture(open, 6)
			return result{e, a, err}
		}, ledger.Balance{Held: 5}, apperr.KindInvalid, ""},
		"capture_ended_hold": {ledger.Balance{Held: 5}, func(b ledger.Balance) result {
			e, a, err := b.Capture(ended, 5)
			return result{e, a, err}
		}, ledger.Balance{Held: 5}, apperr.KindPrecondition, ledger.ReasonHoldEnded},
		"release_returns_all": {ledger.Balance{Held: 5}, func(b ledger.Balance) result {
			e, a, err := b.Release(open)
			return result{e, a, err}
		}, ledger.Balance{Available: 5}, 0, ""},
		"forfeit_takes_available": {ledger.Balance{Available: 8}, func(b ledger.Balance) result {
			e, a := b.Forfeit()
			return result{e, a, nil}
		}, ledger.Balance{}, 0, ""},
		"refund_within_available": {ledger.Balance{Available: 8}, func(b ledger.Balance) result {
			e, a, err := b.Refund(5)
			return result{e, a, err}
		}, ledger.Balance{Available: 3}, 0, ""},
		"refund_beyond_available_is_receivable": {ledger.Balance{Available: 2, Held: 4}, func(b ledger.Balance) result {
			e, a, err := b.Refund(5)
			return result{e, a, err}
		}, ledger.Balance{Held: 4}, 0, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := tc.op(tc.before)
			if tc.kind != 0 {
				if r.err == nil || apperr.KindOf(r.err) != tc.kind {
					t.Fatalf("err = %v, want kind %v", r.err, tc.kind)
				}
				var ae *apperr.Error
				if tc.reason != "" && (!errors.As(r.err, &ae) || ae.Reason() != tc.reason) {
					t.Fatalf("reason = %v, want %s", r.err, tc.reason)
				}
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.after != tc.want || tc.before.Apply(r.entries) != tc.want {
				t.Errorf("after = %+v (entries give %+v), want %+v", r.after, tc.before.Apply(r.entries), tc.want)
			}
			if s := sum(r.entries); s != 0 {
				t.Errorf("entries %v sum to %d", r.entries, s)
			}
		})
	}
}

// TestRefundBooksReceivable checks the refund's split between available
// and the amount owed.
func TestRefundBooksReceivable(t *testing.T) {
	t.Parallel()
	entries, _, err := ledger.Balance{Available: 2}.Refund(5)
	if err != nil {
		t.Fatal(err)
	}
	got := map[ledger.Account]int64{}
	for _, e := range entries {
		got[e.Account] += e.Amount
	}
	want := map[ledger.Account]int64{ledger.Refunds: 5, ledger.Available: -2, ledger.Receivable: -3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("entries = %v, want %v", got, want)
	}
}

// TestReaperExpiresOnTime runs the reaper under a fake clock: holds are
// released at the first tick after their expiry, not before, and a hold
// captured before its expiry is left alone.
func TestReaperExpiresOnTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		model := ledgertest.NewModel()
		svc := ledger.NewService(model, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Hour, time.Now)
		if _, err := svc.Grant(ctx, ledger.GrantRequest{UserID: "u", Amount: 10, Reason: ledger.ReasonTrial, IdempotencyKey: "k"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		short, err := svc.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: "short", Amount: 3, ExpireTime: start.Add(10 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		capped, err := svc.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: "capped", Amount: 2, ExpireTime: start.Add(48 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if !capped.ExpireTime.Equal(start.Add(time.Hour)) {
			t.Errorf("expiry = %v, want capped at the TTL %v", capped.ExpireTime, start.Add(time.Hour))
		}
		done, err := svc.Reserve(ctx, ledger.ReserveRequest{UserID: "u", JobID: "done", Amount: 1, ExpireTime: start.Add(5 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Capture(ctx, done.ID, "", 1); err != nil {
			t.Fatal(err)
		}

		stopped := make(chan error)
		go func() { stopped <- svc.RunReaper(ctx, time.Minute) }()
		state := func(id string) ledger.HoldState {
			h, _ := model.Hold(id)
			return h.State
		}
		time.Sleep(9*time.Minute + 30*time.Second)
		synctest.Wait()
		if s := state(short.ID); s != ledger.HoldHeld {
			t.Fatalf("before expiry: %s", s)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if s := state(short.ID); s != ledger.HoldExpired {
			t.Fatalf("a tick after expiry: %s, want expired", s)
		}
		if s := state(capped.ID); s != ledger.HoldHeld {
			t.Fatalf("capped hold: %s before its hour", s)
		}
		time.Sleep(51 * time.Minute)
		synctest.Wait()
		if s := state(capped.ID); s != ledger.HoldExpired {
			t.Fatalf("capped hold after an hour: %s", s)
		}
		if s := state(done.ID); s != ledger.HoldCaptured {
			t.Fatalf("captured hold became %s", s)
		}
		b, _ := model.Balance(ctx, "u")
		if b != (ledger.Balance{Available: 9}) {
			t.Errorf("balance = %+v, want 9 available", b)
		}
		cancel()
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
	})
}
