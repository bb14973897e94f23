// Package worker runs generation jobs from the GENERATION_WORK stream.
//
// Each work message names one attempt of one job. A worker claims the
// attempt in Postgres (queued → running, under a lease), keeps the lease and
// the message alive while the pipeline runs, stores the outputs in media, and
// finishes the job in one transaction with its completed or failed event.
// Credits are settled from those events by the Settler (capture exactly the
// produced images, release the rest), so a crash between the finish and the
// capture loses nothing. A failed attempt is retried as a new attempt — a
// new message id — after a backoff; a worker that dies leaves its lease to
// run out, and the Sweeper then retries the job. The claim admits each
// attempt once, so the image model is called at most once per attempt
// however often JetStream delivers its message.
package worker

import (
	"context"
	"errors"
	"image"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/pipeline"
)

// Durable is the work queue's consumer; every worker of every replica
// shares it, and JetStream gives each message to one of them.
const Durable = "generation-worker"

// fetchWait bounds one pull, so a stopping worker notices within it.
const fetchWait = 2 * time.Second

// Repository is what workers need of the job store.
type Repository interface {
	GetJob(ctx context.Context, userID, id string) (*job.Job, error)
	UpdateJob(ctx context.Context, userID, id string, fn func(j *job.Job) ([]events.Event, error)) (*job.Job, error)
}

// Runner makes one attempt's images (pipeline.Pipeline).
type Runner interface {
	Run(ctx context.Context, src image.Image, mask *image.Gray, spec pipeline.Spec) ([]pipeline.Output, error)
}

// Config tunes a Worker; zero values take the defaults noted.
type Config struct {
	// ID names this worker process in job leases; it must be unique per
	// process (default: a random id).
	ID string
	// Concurrency is how many attempts run at once (default 2).
	Concurrency int
	// Lease is how long a claim holds a job without renewal, and the work
	// message's AckWait (default 30 s). Renewals come every Lease/3.
	Lease time.Duration
	// AttemptTimeout bounds one attempt from claim to finish (default 10 min).
	AttemptTimeout time.Duration
	// Grace is how long in-flight attempts may run on after Run's context
	// ends before they are abandoned (default 0: at once). An abandoned
	// attempt writes nothing more; its lease runs out and it is retried.
	Grace time.Duration
	// SignSourceURLs gives the image model a signed media URL of the
	// source (a remote provider fetches it) instead of the pixels alone.
	SignSourceURLs bool
	// SourceURLTTL is the signed URL's lifetime (default 10 min).
	SourceURLTTL time.Duration
	// RetryDelay is how long a retried attempt waits (default job.RetryDelay).
	RetryDelay func(attempt int) time.Duration
}

func (c Config) withDefaults() Config {
	if c.ID == "" {
		c.ID = "worker-" + uuid.NewString()
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 10 * time.Minute
	}
	if c.SourceURLTTL <= 0 {
		c.SourceURLTTL = 10 * time.Minute
	}
	if c.RetryDelay == nil {
		c.RetryDelay = job.RetryDelay
	}
	return c
}

// Worker consumes the work queue.
type Worker struct {
	cfg      Config
	js       jetstream.JetStream
	jobs     Repository
	media    Media
	analysis Analysis
	pipe     Runner
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
}

// New returns a worker; Run starts it.
func New(cfg Config, js jetstream.JetStream, jobs Repository, media Media, analysis Analysis, pipe Runner, log *slog.Logger, metrics *Metrics) *Worker {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{
		cfg: cfg, js: js, jobs: jobs, media: media, analysis: analysis, pipe: pipe,
		log: log.With("worker", cfg.ID), metrics: metrics, now: func() time.Time { return time.Now().UTC() },
	}
}

// ID is the worker's lease owner name.
func (w *Worker) ID() string { return w.cfg.ID }

// ConsumerConfig is the work queue's durable pull consumer. Redeliveries
// are unlimited: the job's attempt count bounds the work, not JetStream.
func ConsumerConfig(lease time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       Durable,
		Description:   "generation workers: each job attempt to one worker",
		FilterSubject: events.SubjectJobRequested,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       lease,
		MaxDeliver:    -1,
		MaxAckPending: 10_000,
	}
}

// Run pulls and runs attempts until ctx ends; then in-flight attempts get
// Grace to finish. It returns an error only if the consumer cannot be made.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := ensureConsumer(ctx, w.js, ConsumerConfig(w.cfg.Lease), w.log)
	if err != nil || cons == nil {
		return err
	}
	attempts, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	stopGrace := context.AfterFunc(ctx, func() {
		if w.cfg.Grace <= 0 {
			abandon()
			return
		}
		time.AfterFunc(w.cfg.Grace, abandon)
	})
	defer stopGrace()
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				msg, err := next(ctx, cons)
				if err != nil {
					w.log.WarnContext(ctx, "worker: fetch", "error", err)
					sleep(ctx, time.Second)
					continue
				}
				if msg != nil {
					w.handle(attempts, msg)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// ensureConsumer creates or updates the durable consumer, retrying while
// NATS or the stream is not there yet. It returns nil, nil when ctx ends.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig, log *slog.Logger) (jetstream.Consumer, error) {
	for {
		cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamGenerationWork, cfg)
		if err == nil {
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		log.WarnContext(ctx, "worker: work queue consumer not ready, retrying", "error", err)
		if !sleep(ctx, time.Second) {
			return nil, nil
		}
	}
}

func next(ctx context.Context, cons jetstream.Consumer) (jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	msg, err := cons.Next(jetstream.FetchContext(fctx))
	switch {
	case err == nil:
		return msg, nil
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
		return nil, nil
	default:
		return nil, err
	}
}

// handle decides what a work message means for its job and runs the
// attempt when it is the job's current, claimable one.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		return
	}
	var req eventsv1.JobRequested
	if err := proto.Unmarshal(msg.Data(), &req); err != nil || req.GetJobId() == "" {
		w.log.ErrorContext(ctx, "worker: unreadable work message, dropped", "seq", md.Sequence.Stream, "error", err)
		_ = msg.Term()
		return
	}
	ctx, span := events.StartProcessSpan(ctx, msg, Durable, msg.Headers().Get(jetstream.MsgIDHeader), md.NumDelivered)
	defer span.End()
	span.SetAttributes(attribute.String("photoshoot.job_id", req.GetJobId()), attribute.Int("photoshoot.attempt", int(req.GetAttempt())))
	log := w.log.With("job_id", req.GetJobId(), "attempt", req.GetAttempt())

	err = w.process(ctx, msg, &req, log)
	switch {
	case ctx.Err() != nil:
		// Abandoned (shutdown or kill): no ack, no write. The message comes
		// back after AckWait and the lease runs out for the sweeper.
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, "will retry")
		log.WarnContext(ctx, "worker: message not handled, will retry", "delivery", md.NumDelivered, "error", err)
		_ = msg.NakWithDelay(min(time.Duration(md.NumDelivered)*time.Second, 30*time.Second))
	}
}

func (w *Worker) process(ctx context.Context, msg jetstream.Msg, req *eventsv1.JobRequested, log *slog.Logger) error {
	user, id, attempt := req.GetUserId(), req.GetJobId(), int(req.GetAttempt())
	j, err := w.jobs.GetJob(ctx, user, id)
	switch {
	case apperr.KindOf(err) == apperr.KindNotFound:
		return msg.Ack() // the job is gone (its owner deleted the account)
	case err != nil:
		return err
	}
	now := w.now()
	switch {
	case attempt != j.Attempts || j.State.Terminal():
		return msg.Ack() // an older attempt's message, or the job is over
	case j.LeaseExpired(now):
		// Its worker died before the sweeper noticed: retry it now.
		if err := w.expire(ctx, user, id); err != nil {
			return err
		}
		return msg.Ack()
	case j.State == job.Running:
		// A live worker holds this attempt; this is a redelivery.
		return msg.Ack()
	}
	if wait := j.UpdateTime.Add(w.cfg.RetryDelay(attempt)).Sub(now); wait > 0 {
		return msg.NakWithDelay(wait)
	}

	j, err = w.jobs.UpdateJob(ctx, user, id, func(j *job.Job) ([]events.Event, error) {
		if err := j.Claim(w.cfg.ID, attempt, w.now().Add(w.cfg.Lease), w.now()); err != nil {
			return nil, err
		}
		return []events.Event{job.StartedEvent(j)}, nil
	})
	switch {
	case errors.Is(err, job.ErrNotClaimable), apperr.KindOf(err) == apperr.KindNotFound:
		return msg.Ack()
	case err != nil:
		return err
	}
	log.InfoContext(ctx, "worker: attempt started")
	w.metrics.started(ctx)

	actx, cancel := context.WithTimeout(ctx, w.cfg.AttemptTimeout)
	defer cancel()
	stop := w.keepAlive(actx, cancel, msg, user, id, attempt, log)
	outs, runErr := w.attempt(actx, j)
	stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if runErr != nil {
		return w.giveUp(ctx, msg, j, runErr, log)
	}
	done, err := w.jobs.UpdateJob(ctx, user, id, func(j *job.Job) ([]events.Event, error) {
		if !j.Holds(w.cfg.ID, attempt) {
			return nil, job.ErrLeaseLost
		}
		if _, err := j.Finish(outs, w.now()); err != nil {
			return nil, err
		}
		if j.State == job.Failed {
			return []events.Event{job.FailedEvent(j, "no_output")}, nil
		}
		return []events.Event{job.CompletedEvent(j)}, nil
	})
	switch {
	case errors.Is(err, job.ErrLeaseLost):
		// Cancelled meanwhile, or the lease was lost: the outputs are not
		// the job's; the settler discards them when the job ends.
		log.InfoContext(ctx, "worker: attempt finished after losing the job; outputs discarded")
		return msg.Ack()
	case apperr.KindOf(err) == apperr.KindNotFound:
		// The owner deleted the account meanwhile; media may have purged
		// the user before these outputs arrived, so discard them here.
		if _, err := w.media.Discard(ctx, user, id, nil); err != nil {
			return err
		}
		return msg.Ack()
	case err != nil:
		return err
	}
	log.InfoContext(ctx, "worker: attempt finished", "state", done.State, "captured", done.Captured)
	w.metrics.finished(ctx, done)
	return msg.Ack()
}

// giveUp ends a failed attempt: retried as a new attempt when the failure
// may pass, otherwise (or after the last attempt) the job fails and every
// credit is released.
func (w *Worker) giveUp(ctx context.Context, msg jetstream.Msg, j *job.Job, cause error, log *slog.Logger) error {
	class, retry := classify(cause)
	w.metrics.failedAttempt(ctx, class)
	done, err := w.jobs.UpdateJob(ctx, j.UserID, j.ID, func(cur *job.Job) ([]events.Event, error) {
		if !cur.Holds(w.cfg.ID, j.Attempts) {
			return nil, job.ErrLeaseLost
		}
		if retry {
			queued, err := cur.Retry(class, w.now())
			if err != nil {
				return nil, err
			}
			if queued {
				return []events.Event{job.AttemptEvent(cur)}, nil
			}
		} else if err := cur.Fail(class, w.now()); err != nil {
			return nil, err
		}
		return []events.Event{job.FailedEvent(cur, class)}, nil
	})
	switch {
	case errors.Is(err, job.ErrLeaseLost):
		return msg.Ack()
	case err != nil:
		return err
	}
	log.WarnContext(ctx, "worker: attempt failed", "class", class, "retry", retry, "state", done.State, "error", cause)
	if done.State.Terminal() {
		w.metrics.finished(ctx, done)
	}
	return msg.Ack()
}

// expire retries a job whose lease ran out (the sweeper does the same).
func (w *Worker) expire(ctx context.Context, user, id string) error {
	_, err := w.jobs.UpdateJob(ctx, user, id, func(j *job.Job) ([]events.Event, error) {
		return expireLease(j, w.now())
	})
	if apperr.KindOf(err) == apperr.KindNotFound {
		return nil
	}
	return err
}

// expireLease moves a job whose lease ran out to its next attempt, or fails
// it after the last one. A job whose lease is alive is left alone.
func expireLease(j *job.Job, now time.Time) ([]events.Event, error) {
	if !j.LeaseExpired(now) {
		return nil, nil
	}
	queued, err := j.Retry("lease_expired", now)
	if err != nil {
		return nil, err
	}
	if queued {
		return []events.Event{job.AttemptEvent(j)}, nil
	}
	return []events.Event{job.FailedEvent(j, "lease_expired")}, nil
}

// keepAlive renews the job's lease and the message's AckWait every third
// of a lease. When the renewal finds the job no longer held by this
// attempt (cancelled by its owner, or taken over), it cancels the attempt
// so the provider call stops early.
func (w *Worker) keepAlive(ctx context.Context, cancel context.CancelFunc, msg jetstream.Msg, user, id string, attempt int, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			_ = msg.InProgress()
			_, err := w.jobs.UpdateJob(ctx, user, id, func(j *job.Job) ([]events.Event, error) {
				return nil, j.Renew(w.cfg.ID, attempt, w.now().Add(w.cfg.Lease), w.now())
			})
			switch {
			case errors.Is(err, job.ErrLeaseLost), apperr.KindOf(err) == apperr.KindNotFound:
				log.InfoContext(ctx, "worker: job no longer held (cancelled or taken over); stopping the attempt")
				cancel()
				return
			case err != nil && ctx.Err() == nil:
				log.WarnContext(ctx, "worker: lease renewal failed", "error", err)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
