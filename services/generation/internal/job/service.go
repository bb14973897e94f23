package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
)

// Repository is what the service needs of the store (declared here because
// the store imports this package).
type Repository interface {
	CreateJob(ctx context.Context, j *Job, evs ...events.Event) error
	GetJob(ctx context.Context, userID, id string) (*Job, error)
	UpdateJob(ctx context.Context, userID, id string, fn func(j *Job) ([]events.Event, error)) (*Job, error)
	ListJobs(ctx context.Context, userID string, limit int, after *Cursor) ([]*Job, *Cursor, error)
}

// Cursor is a keyset position in a user's job list (newest first).
type Cursor struct {
	CreateTime time.Time `json:"t"`
	ID         string    `json:"i"`
}

// Credits is billing as a job sees it. Every call is idempotent: Reserve by
// job id, Capture and Release by hold id.
type Credits interface {
	Reserve(ctx context.Context, jobID, userID string, amount int64) (holdID string, err error)
	Capture(ctx context.Context, holdID string, amount int64) error
	Release(ctx context.Context, holdID string) error
}

// Service is the job use cases behind the API and the worker.
type Service struct {
	repo    Repository
	credits Credits
	log     *slog.Logger
	now     func() time.Time
}

// NewService returns the job service.
func NewService(repo Repository, credits Credits, log *slog.Logger) *Service {
	return &Service{repo: repo, credits: credits, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// requestNamespace derives job ids from client request ids.
var requestNamespace = uuid.MustParse("0f0e6c36-4f61-4b7e-8d8b-3b8f5f7c2a11")

// Create validates spec, holds one credit per variant in billing, and stores
// the queued job with its first work item in one transaction. With a
// requestID the job id is derived from it, so a retried submission returns
// the same job and the same hold. If storing fails after the hold, the hold
// is released.
func (s *Service) Create(ctx context.Context, userID, requestID string, spec Spec) (*Job, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	id := uuid.Must(uuid.NewV7()).String()
	if requestID != "" {
		id = uuid.NewSHA1(requestNamespace, []byte(userID+"\x00"+requestID)).String()
		if j, err := s.repo.GetJob(ctx, userID, id); err == nil {
			return j, nil
		}
	}
	hold, err := s.credits.Reserve(ctx, id, userID, int64(spec.Variants))
	if err != nil {
		return nil, fmt.Errorf("reserve credits for %s: %w", id, err)
	}
	j, err := New(id, userID, spec, hold, s.now())
	if err != nil {
		return nil, err
	}
	err = s.repo.CreateJob(ctx, j, AttemptEvent(j))
	if apperr.KindOf(err) == apperr.KindConflict && requestID != "" {
		// A concurrent retry of the same request won; it owns the hold.
		return s.repo.GetJob(ctx, userID, id)
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := s.credits.Release(rctx, hold); rerr != nil {
			s.log.ErrorContext(ctx, "release hold after a failed create; the billing reaper will", "job_id", id, "error", rerr)
		}
		return nil, fmt.Errorf("store job %s: %w", id, err)
	}
	return j, nil
}

// AttemptEvent is the work item of j's current attempt.
func AttemptEvent(j *Job) events.Event {
	return events.Event{
		ID:      AttemptMessageID(j.ID, j.Attempts),
		Subject: events.SubjectJobRequested,
		Payload: &eventsv1.JobRequested{JobId: j.ID, UserId: j.UserID, Attempt: int32(j.Attempts)},
	}
}

// Get returns the caller's job.
func (s *Service) Get(ctx context.Context, userID, id string) (*Job, error) {
	return s.repo.GetJob(ctx, userID, id)
}

// List returns up to limit of the caller's jobs after cursor (nil for the
// first page), newest first, and the next page's cursor (nil at the end).
func (s *Service) List(ctx context.Context, userID string, limit int, after *Cursor) ([]*Job, *Cursor, error) {
	return s.repo.ListJobs(ctx, userID, limit, after)
}

// Cancel ends the caller's queued or running job and releases its credits.
// Cancelling a cancelled job again retries the release (it is idempotent),
// so a release that failed the first time is not lost.
func (s *Service) Cancel(ctx context.Context, userID, id string) (*Job, error) {
	j, err := s.repo.UpdateJob(ctx, userID, id, func(j *Job) ([]events.Event, error) {
		if j.State == Canceled {
			return nil, nil
		}
		if err := j.Cancel(s.now()); err != nil {
			return nil, err
		}
		return []events.Event{FailedEvent(j, "canceled")}, nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.credits.Release(ctx, j.HoldID); err != nil {
		return nil, fmt.Errorf("release credits of %s: %w", id, err)
	}
	return j, nil
}
