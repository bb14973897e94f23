package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger/ledgertest"
)

// TestLedgerMatchesModel is a property test: random sequences of grants,
// reserves, partial and full captures, releases, repeats and expiry (a
// clock moved forward explicitly) give the same results, errors and
// balances on PostgreSQL as on the in-memory model, and the invariants
// hold afterwards (checked by newStore's cleanup).
func TestLedgerMatchesModel(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	rapid.Check(t, func(rt *rapid.T) {
		ctx := t.Context()
		model := ledgertest.NewModel()
		prefix := uuid.NewString()[:8]
		users := []string{prefix + "-a", prefix + "-b"}
		now := t0
		var jobs []string
		type pair struct{ store, model string } // hold ids
		holds := map[string]pair{}              // by job

		sameErr := func(op string, got, want error) {
			if (got == nil) != (want == nil) || apperr.KindOf(got) != apperr.KindOf(want) {
				rt.Fatalf("%s: store err %v, model err %v", op, got, want)
			}
		}
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for range steps {
			user := rapid.SampledFrom(users).Draw(rt, "user")
			switch rapid.IntRange(0, 6).Draw(rt, "op") {
			case 0: // grant, sometimes a repeat of an earlier key
				key := prefix + rapid.SampledFrom([]string{"g1", "g2", uuid.NewString()}).Draw(rt, "key")
				n := rapid.Int64Range(1, 10).Draw(rt, "n")
				g := ledger.GrantRequest{UserID: user, Amount: n, Reason: ledger.ReasonPromo, IdempotencyKey: key + fmt.Sprint(n) + user, Time: now}
				_, err := s.Grant(ctx, g)
				_, merr := model.Grant(ctx, g)
				sameErr("grant", err, merr)
			case 1, 2: // reserve a new job or repeat one
				job := prefix + uuid.NewString()
				if len(jobs) > 0 && rapid.Bool().Draw(rt, "repeat") {
					job = rapid.SampledFrom(jobs).Draw(rt, "job")
				}
				n := rapid.Int64Range(1, 8).Draw(rt, "n")
				r := ledger.ReserveRequest{UserID: user, JobID: job, Amount: n, ExpireTime: now.Add(time.Duration(rapid.IntRange(1, 90).Draw(rt, "ttl")) * time.Minute), Time: now}
				h, err := s.Reserve(ctx, r)
				mh, merr := model.Reserve(ctx, r)
				sameErr("reserve", err, merr)
				if err == nil {
					if _, ok := holds[job]; !ok {
						jobs = append(jobs, job)
						holds[job] = pair{h.ID, mh.ID}
					}
					if holds[job].store != h.ID {
						rt.Fatalf("repeat reserve of %s gave hold %s, first was %s", job, h.ID, holds[job].store)
					}
				}
			case 3: // capture part or all
				if len(jobs) == 0 {
					continue
				}
				job := rapid.SampledFrom(jobs).Draw(rt, "job")
				mh, _ := model.Hold(holds[job].model)
				m := rapid.Int64Range(0, mh.Amount).Draw(rt, "m")
				h, err := s.Capture(ctx, holds[job].store, "", m, now)
				mh, merr := model.Capture(ctx, holds[job].model, "", m, now)
				sameErr("capture", err, merr)
				if err == nil && (h.State != mh.State || h.Captured != mh.Captured || h.Released != mh.Released) {
					rt.Fatalf("capture: store %+v, model %+v", h, mh)
				}
			case 4: // release
				if len(jobs) == 0 {
					continue
				}
				job := rapid.SampledFrom(jobs).Draw(rt, "job")
				h, err := s.Release(ctx, holds[job].store, "", now)
				mh, merr := model.Release(ctx, holds[job].model, "", now)
				sameErr("release", err, merr)
				if err == nil && h.State != mh.State {
					rt.Fatalf("release: store %s, model %s", h.State, mh.State)
				}
			case 5: // time passes; the reaper runs
				now = now.Add(time.Duration(rapid.IntRange(1, 60).Draw(rt, "minutes")) * time.Minute)
				// The store's reaper also sees earlier iterations' holds, so
				// counts differ; this iteration's holds are compared below.
				if _, err := s.ExpireDue(ctx, now, 1000); err != nil {
					rt.Fatal(err)
				}
				if _, err := model.ExpireDue(ctx, now, 1000); err != nil {
					rt.Fatal(err)
				}
			case 6: // capture by the wrong user is not found, and changes nothing
				if len(jobs) == 0 {
					continue
				}
				job := rapid.SampledFrom(jobs).Draw(rt, "job")
				_, err := s.Capture(ctx, holds[job].store, prefix+"-stranger", 0, now)
				if apperr.KindOf(err) != apperr.KindNotFound {
					rt.Fatalf("stranger's capture: %v", err)
				}
			}
			for _, u := range users {
				b, err := s.Balance(ctx, u)
				if err != nil {
					rt.Fatal(err)
				}
				mb, _ := model.Balance(ctx, u)
				if b != mb {
					rt.Fatalf("balance of %s: store %+v, model %+v", u, b, mb)
				}
				if !b.Valid() {
					rt.Fatalf("negative balance %+v", b)
				}
			}
			for job, p := range holds {
				h, err := s.Hold(ctx, p.store, "")
				mh, _ := model.Hold(p.model)
				if err != nil || h.State != mh.State || h.Captured != mh.Captured {
					rt.Fatalf("hold of %s: store %+v (%v), model %+v", job, h, err, mh)
				}
			}
		}
	})
}
