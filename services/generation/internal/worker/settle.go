package worker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
)

// DurableSettle is the settler's consumer of job ends.
const DurableSettle = "generation-settle"

// Discarder deletes a job's generated images except keep (media's
// DiscardJobImages).
type Discarder interface {
	Discard(ctx context.Context, userID, jobID string, keep []string) (int, error)
}

// Settler settles a job when it ends, from its completed or failed event:
// billing captures exactly the produced images (the rest of the hold is
// released in the same ledger transaction) or releases the whole hold,
// and media deletes images of attempts whose outputs were never the job's.
// Both calls are idempotent (by hold id; by job id and the kept images),
// so a redelivered event settles nothing twice.
type Settler struct {
	jobs    Repository
	credits job.Credits
	images  Discarder
	log     *slog.Logger
}

// NewSettler returns a settler.
func NewSettler(jobs Repository, credits job.Credits, images Discarder, log *slog.Logger) *Settler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Settler{jobs: jobs, credits: credits, images: images, log: log}
}

// Consumer is the settler's durable consumer on the GENERATION stream.
func (s *Settler) Consumer(pool *pgxpool.Pool, js jetstream.JetStream) *events.Consumer {
	return events.NewConsumer(pool, js, s.log, events.ConsumerConfig{
		Stream:         events.StreamGeneration,
		Durable:        DurableSettle,
		FilterSubjects: []string{events.SubjectJobCompleted, events.SubjectJobFailed},
		MaxDeliver:     20,
		Handler:        s.handle,
	})
}

func (s *Settler) handle(ctx context.Context, _ pgx.Tx, msg events.Message) error {
	var user, id string
	switch msg.Subject {
	case events.SubjectJobCompleted:
		var ev eventsv1.JobCompleted
		if err := msg.Unmarshal(&ev); err != nil {
			return err
		}
		user, id = ev.GetUserId(), ev.GetJobId()
	default:
		var ev eventsv1.JobFailed
		if err := msg.Unmarshal(&ev); err != nil {
			return err
		}
		user, id = ev.GetUserId(), ev.GetJobId()
	}
	return s.Settle(ctx, user, id)
}

// Settle captures or releases an ended job's credits and discards its
// orphaned images. A job that is gone (its owner was deleted) or not over
// is left alone.
func (s *Settler) Settle(ctx context.Context, userID, id string) error {
	j, err := s.jobs.GetJob(ctx, userID, id)
	if apperr.KindOf(err) == apperr.KindNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if !j.State.Terminal() {
		return nil
	}
	if j.Captured > 0 {
		err = s.credits.Capture(ctx, j.HoldID, j.Captured)
	} else {
		err = s.credits.Release(ctx, j.HoldID)
	}
	if apperr.KindOf(err) == apperr.KindPrecondition {
		// The hold ended otherwise (billing's reaper expired it): nothing is
		// left to settle, and retrying would not change that.
		s.log.ErrorContext(ctx, "settle: the hold had already ended", "job_id", id, "hold_id", j.HoldID, "error", err)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("settle credits of %s: %w", id, err)
	}
	var keep []string
	for _, o := range j.Outputs {
		if o.ImageID != "" {
			keep = append(keep, o.ImageID)
		}
	}
	if n, err := s.images.Discard(ctx, userID, id, keep); err != nil {
		return fmt.Errorf("discard orphaned images of %s: %w", id, err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "settle: discarded images of abandoned attempts", "job_id", id, "count", n)
	}
	return nil
}
