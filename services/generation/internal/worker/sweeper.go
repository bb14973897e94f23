package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/store"
)

// SweepStore is what the sweeper needs of the store.
type SweepStore interface {
	Repository
	ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]store.Ref, error)
	UnfinishedBefore(ctx context.Context, t time.Time, limit int) ([]store.Ref, error)
}

// Sweeper finds jobs that nothing will finish: running on a lease that ran
// out (their worker died) are retried as a new attempt, or failed after
// the last; queued or running longer than MaxAge fail, so their credits are
// released before billing's hold would lapse. Every replica may run one:
// each change locks the job's row and re-checks it.
type Sweeper struct {
	// Every is the pause between passes (default 5 s).
	Every time.Duration
	// MaxAge is how long a job may stay unfinished (default 45 min, inside
	// billing's one-hour hold).
	MaxAge time.Duration

	store SweepStore
	log   *slog.Logger
	now   func() time.Time
}

// NewSweeper returns a sweeper over st.
func NewSweeper(st SweepStore, log *slog.Logger) *Sweeper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{Every: 5 * time.Second, MaxAge: 45 * time.Minute, store: st, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// Run sweeps until ctx ends.
func (s *Sweeper) Run(ctx context.Context) error {
	for sleep(ctx, s.Every) {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweeper: pass failed", "error", err)
		}
	}
	return nil
}

// sweepBatch bounds the jobs one query returns; Sweep loops until a batch
// comes back short.
const sweepBatch = 100

// Sweep runs one pass and returns how many jobs it changed.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	changed := 0
	now := s.now()
	for {
		refs, err := s.store.ExpiredLeases(ctx, now, sweepBatch)
		if err != nil {
			return changed, err
		}
		for _, r := range refs {
			n, err := s.apply(ctx, r, func(j *job.Job) ([]events.Event, error) { return expireLease(j, s.now()) })
			if err != nil {
				return changed, err
			}
			changed += n
		}
		if len(refs) < sweepBatch {
			break
		}
	}
	refs, err := s.store.UnfinishedBefore(ctx, now.Add(-s.MaxAge), sweepBatch)
	if err != nil {
		return changed, err
	}
	for _, r := range refs {
		n, err := s.apply(ctx, r, func(j *job.Job) ([]events.Event, error) {
			if j.State.Terminal() {
				return nil, nil
			}
			if err := j.Fail("timed_out", s.now()); err != nil {
				return nil, err
			}
			return []events.Event{job.FailedEvent(j, "timed_out")}, nil
		})
		if err != nil {
			return changed, err
		}
		changed += n
	}
	return changed, nil
}

func (s *Sweeper) apply(ctx context.Context, r store.Ref, fn func(j *job.Job) ([]events.Event, error)) (int, error) {
	changed := 0
	_, err := s.store.UpdateJob(ctx, r.UserID, r.ID, func(j *job.Job) ([]events.Event, error) {
		evs, err := fn(j)
		if len(evs) > 0 {
			changed = 1
			s.log.InfoContext(ctx, "sweeper: job moved on", "job_id", j.ID, "state", j.State, "attempts", j.Attempts)
		}
		return evs, err
	})
	if apperr.KindOf(err) == apperr.KindNotFound {
		return 0, nil
	}
	return changed, err
}
