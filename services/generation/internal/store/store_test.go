package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/market"
	"github.com/connectengine/photoshoot/services/generation/internal/store"
)

func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool := postgrestest.New(t,
		postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
		postgrestest.Migrations{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable},
	)
	return store.New(pool), pool
}

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func create(t *testing.T, s *store.Store, user string, at time.Time) *job.Job {
	t.Helper()
	j, err := job.New(uuid.NewString(), user, job.Spec{
		ImageID: "img-1", SceneID: "marble", Variants: 2, Aspect: "1:1", Size: "1K", ProductLock: true, Seed: 4,
	}, "hold-"+user, at)
	if err != nil {
		t.Fatal(err)
	}
	ev := events.Event{
		ID: job.AttemptMessageID(j.ID, 1), Subject: events.SubjectJobRequested,
		Payload: &eventsv1.JobRequested{JobId: j.ID, UserId: user, Attempt: 1},
	}
	if err := s.CreateJob(t.Context(), j, ev); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestCreateWritesJobAndWorkItemTogether(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	j := create(t, s, "alice", t0)
	got, err := s.GetJob(t.Context(), "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != job.Queued || len(got.Outputs) != 2 || got.Reserved != 2 || got.Spec != j.Spec || !got.CreateTime.Equal(t0) {
		t.Fatalf("stored job %+v", got)
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE id = $1 AND subject = $2`,
		job.AttemptMessageID(j.ID, 1), events.SubjectJobRequested).Scan(&n); err != nil || n != 1 {
		t.Fatalf("work item rows %d, %v; want 1", n, err)
	}
	if err := s.CreateJob(t.Context(), j); apperr.KindOf(err) != apperr.KindConflict {
		t.Fatalf("duplicate create: %v, want Conflict", err)
	}
}

func TestOtherUsersJobIsNotFound(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	j := create(t, s, "alice", t0)
	if _, err := s.GetJob(t.Context(), "bob", j.ID); apperr.KindOf(err) != apperr.KindNotFound {
		t.Fatalf("bob read alice's job: %v", err)
	}
	if _, err := s.UpdateJob(t.Context(), "bob", j.ID, func(j *job.Job) ([]events.Event, error) {
		return nil, j.Cancel(t0)
	}); apperr.KindOf(err) != apperr.KindNotFound {
		t.Fatalf("bob canceled alice's job: %v", err)
	}
	if _, err := s.GetJob(t.Context(), "alice", "not-a-uuid"); apperr.KindOf(err) != apperr.KindNotFound {
		t.Fatalf("malformed id: %v", err)
	}
	jobs, _, err := s.ListJobs(t.Context(), "bob", 10, nil)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("bob lists %d jobs, %v", len(jobs), err)
	}
}

func TestUpdateJobLifecycle(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	j := create(t, s, "alice", t0)
	ctx := t.Context()
	if _, err := s.UpdateJob(ctx, "alice", j.ID, func(j *job.Job) ([]events.Event, error) {
		return nil, j.Claim("w1", 1, t0.Add(time.Minute), t0)
	}); err != nil {
		t.Fatal(err)
	}
	verdict := &market.Verdict{Marketplace: "amazon", Passed: true, Checks: []market.Check{{Name: "size", Passed: true, Value: 1, Threshold: 1}}}
	done := events.NewEvent(events.SubjectJobCompleted, &eventsv1.JobCompleted{JobId: j.ID})
	got, err := s.UpdateJob(ctx, "alice", j.ID, func(j *job.Job) ([]events.Event, error) {
		_, err := j.Finish([]job.Output{
			{Index: 0, State: job.OutputSucceeded, ImageID: "out-0", Fidelity: 0.995, Compliance: verdict},
			{Index: 1, State: job.OutputFailed, Error: "provider returned fewer images"},
		}, t0.Add(time.Second))
		return []events.Event{done}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	reread, err := s.GetJob(ctx, "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if reread.State != job.PartiallySucceeded || reread.Captured != 1 || reread.Released != 1 || got.State != reread.State {
		t.Fatalf("finished job %+v", reread)
	}
	o := reread.Outputs[0]
	if o.ImageID != "out-0" || o.Fidelity != 0.995 || o.Compliance == nil || !o.Compliance.Passed || len(o.Compliance.Checks) != 1 {
		t.Fatalf("output 0 %+v", o)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE id = $1`, done.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("completion event rows %d, %v", n, err)
	}
	// A rule that refuses writes nothing.
	if _, err := s.UpdateJob(ctx, "alice", j.ID, func(j *job.Job) ([]events.Event, error) {
		return []events.Event{events.NewEvent(events.SubjectJobFailed, &eventsv1.JobFailed{})}, j.Cancel(t0)
	}); apperr.KindOf(err) != apperr.KindPrecondition {
		t.Fatalf("cancel of an ended job: %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectJobFailed).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused update wrote %d events", n)
	}
}

func TestListJobsPages(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var want []string
	for i := range 5 {
		j := create(t, s, "alice", t0.Add(time.Duration(i)*time.Second))
		want = append([]string{j.ID}, want...)
	}
	create(t, s, "bob", t0)
	var got []string
	var after *job.Cursor
	for range 10 {
		jobs, next, err := s.ListJobs(t.Context(), "alice", 2, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			got = append(got, j.ID)
			if len(j.Outputs) != 2 {
				t.Fatalf("listed job without outputs")
			}
		}
		if next == nil {
			break
		}
		after = next
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d jobs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("page order %v, want %v", got, want)
		}
	}
}

func TestExpiredLeases(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	stale := create(t, s, "alice", t0)
	fresh := create(t, s, "bob", t0)
	create(t, s, "carol", t0) // queued: no lease
	for _, c := range []struct {
		j     *job.Job
		lease time.Time
	}{{stale, t0.Add(time.Second)}, {fresh, t0.Add(time.Hour)}} {
		if _, err := s.UpdateJob(t.Context(), c.j.UserID, c.j.ID, func(j *job.Job) ([]events.Event, error) {
			return nil, j.Claim("w", 1, c.lease, t0)
		}); err != nil {
			t.Fatal(err)
		}
	}
	refs, err := s.ExpiredLeases(t.Context(), t0.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != (store.Ref{UserID: "alice", ID: stale.ID}) {
		t.Fatalf("expired leases %+v, want alice's job", refs)
	}
}
