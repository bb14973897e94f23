package store_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/store"
)

func newLook(t *testing.T, s *store.Store, user, name string) *job.Look {
	t.Helper()
	l := &job.Look{
		ID: uuid.NewString(), UserID: user, Name: name, SceneID: "marble", Variants: 2, Aspect: "1:1", Size: "1K",
		Seed: 3, CreateTime: t0, UpdateTime: t0,
	}
	if err := s.CreateLook(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLooksPageByKeysetWithTiedTimes(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	want := map[string]bool{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		want[newLook(t, s, "alice", n).ID] = true // all at t0: the id breaks the tie
	}
	newLook(t, s, "bob", "other")
	seen := map[string]bool{}
	var after *job.Cursor
	for pages := 0; ; pages++ {
		looks, next, err := s.ListLooks(t.Context(), "alice", 2, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range looks {
			if seen[l.ID] || !want[l.ID] {
				t.Fatalf("page %d: look %s seen twice or not alice's", pages, l.ID)
			}
			seen[l.ID] = true
		}
		if after = next; after == nil {
			break
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("paged through %d of %d looks", len(seen), len(want))
	}
}

func TestUpdateLookWritesNothingWhenTheRuleFails(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	l := newLook(t, s, "alice", "before")
	refused := apperr.Invalid("no")
	_, err := s.UpdateLook(t.Context(), "alice", l.ID, func(l *job.Look) error { l.Name = "after"; return refused })
	if !errors.Is(err, refused) {
		t.Fatalf("update error %v", err)
	}
	got, err := s.GetLook(t.Context(), "alice", l.ID)
	if err != nil || got.Name != "before" {
		t.Fatalf("after a refused update: %+v, %v", got, err)
	}
	if _, err := s.UpdateLook(t.Context(), "bob", l.ID, func(*job.Look) error { return nil }); apperr.KindOf(err) != apperr.KindNotFound {
		t.Fatalf("bob's update: %v", err)
	}
}

func TestDeleteUserTakesOnlyThatUser(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	a := create(t, s, "alice", t0)
	done := create(t, s, "alice", t0)
	if _, err := s.UpdateJob(t.Context(), "alice", done.ID, func(j *job.Job) ([]events.Event, error) { return nil, j.Cancel(t0) }); err != nil {
		t.Fatal(err)
	}
	newLook(t, s, "alice", "mine")
	b := create(t, s, "bob", t0)
	bl := newLook(t, s, "bob", "his")

	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		holds, err := store.LockUserJobs(t.Context(), tx, "alice")
		if err != nil {
			return err
		}
		if len(holds) != 1 || holds[0] != a.HoldID {
			t.Errorf("active holds %v, want only the queued job's %s", holds, a.HoldID)
		}
		jobs, looks, err := store.DeleteUser(t.Context(), tx, "alice")
		if jobs != 2 || looks != 1 {
			t.Errorf("deleted %d jobs and %d looks, want 2 and 1", jobs, looks)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var outputs int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM job_outputs WHERE job_id = $1`, a.ID).Scan(&outputs); err != nil || outputs != 0 {
		t.Errorf("%d outputs of a deleted job left, %v", outputs, err)
	}
	if _, err := s.GetJob(t.Context(), "bob", b.ID); err != nil {
		t.Errorf("bob's job: %v", err)
	}
	if _, err := s.GetLook(t.Context(), "bob", bl.ID); err != nil {
		t.Errorf("bob's look: %v", err)
	}
}
