package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"

	"github.com/connectengine/photoshoot/pkg/postgres"
)

// Headers a dead-lettered message carries besides the original ones.
const (
	// HeaderDeadLetterError is the last handler error.
	HeaderDeadLetterError = "Photoshoot-Dead-Letter-Error"
	// HeaderDeadLetterSubject is the subject the message was published on.
	HeaderDeadLetterSubject = "Photoshoot-Dead-Letter-Subject"
	// HeaderDeadLetterStream is the stream it was consumed from.
	HeaderDeadLetterStream = "Photoshoot-Dead-Letter-Stream"
	// HeaderDeadLetterDeliveries is how many times it was delivered.
	HeaderDeadLetterDeliveries = "Photoshoot-Dead-Letter-Deliveries"
	// HeaderEventID is the original event ID. The dead letter's own
	// Nats-Msg-Id is <durable>:<event ID>, so two consumers dead-lettering
	// the same event are not de-duplicated into one.
	HeaderEventID = "Photoshoot-Event-Id"
)

const (
	tracerName = "github.com/connectengine/photoshoot/pkg/events"
	// fetchWait bounds one pull request, so a stopped consumer or a dead
	// connection is noticed within it.
	fetchWait = 5 * time.Second
	// inboxRetention outlives every stream's MaxAge, so an event that can
	// still be redelivered is still remembered.
	inboxRetention = 30 * 24 * time.Hour
)

// jsErrInvalidConfig is nats-server's JSStreamInvalidConfigF, which it also
// returns (with HTTP-like code 500) for consumer configurations it rejects,
// such as a malformed filter subject.
const jsErrInvalidConfig jetstream.ErrorCode = 10052

// ConsumerConfig describes one durable consumer; zero values take the
// defaults noted.
type ConsumerConfig struct {
	// Stream is the stream to consume, e.g. StreamMedia.
	Stream string
	// Durable names the consumer; replicas of a service share it and split
	// the messages. It is also the inbox key and the dead-letter subject's
	// last token.
	Durable string
	// FilterSubjects selects subjects of the stream; empty means all.
	FilterSubjects []string
	// MaxDeliver is how many deliveries a message gets before it is
	// dead-lettered (default 5).
	MaxDeliver int
	// AckWait is how long JetStream waits for an ack before redelivering
	// (default 30 s). A running handler keeps its message alive, however
	// long it takes.
	AckWait time.Duration
	// Backoff is the delay before each redelivery after a failure; the last
	// entry repeats (default 1 s, 5 s, 30 s, 1 min).
	Backoff []time.Duration
	// Handler applies one message.
	Handler Handler
	// MeterProvider receives photoshoot.consumer.messages, deliveries by
	// outcome; the global one when nil.
	MeterProvider metric.MeterProvider
}

// Consumer runs a Handler for each message of a durable JetStream pull
// consumer, exactly once per event as far as the handler's transaction goes.
type Consumer struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	logger  *slog.Logger
	cfg     ConsumerConfig
	metrics *consumerMetrics
}

// NewConsumer returns a consumer whose inbox lives in pool's database, which
// must be the database the handler writes to.
func NewConsumer(pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger, cfg ConsumerConfig) *Consumer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxDeliver <= 0 {
		cfg.MaxDeliver = 5
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if len(cfg.Backoff) == 0 {
		cfg.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, time.Minute}
	}
	return &Consumer{
		pool: pool, js: js, logger: logger.With("consumer", cfg.Durable), cfg: cfg,
		metrics: newConsumerMetrics(cfg.MeterProvider, cfg.Durable),
	}
}

// Run creates or updates the durable consumer (retrying while NATS is
// unreachable) and handles messages one at a time until ctx is cancelled. It
// then finishes the message in hand and returns nil. It returns an error only
// for a configuration that it or JetStream rejects.
//
// Per message: the trace context in its headers becomes the parent of a
// consumer span; in one transaction the event ID goes into the inbox and,
// unless it was already there, the handler runs; then the message is acked.
// A duplicate is acked without running the handler. A failure rolls back and
// naks with the configured backoff; at MaxDeliver the message is published
// to DeadLetterSubject(Durable) and terminated.
func (c *Consumer) Run(ctx context.Context) error {
	if c.cfg.Stream == "" || c.cfg.Durable == "" || c.cfg.Handler == nil {
		return errors.New("consumer needs a stream, a durable name and a handler")
	}
	var (
		cons      jetstream.Consumer
		backoff   time.Duration
		nextPrune = time.Now()
	)
	for ctx.Err() == nil {
		if time.Now().After(nextPrune) {
			c.pruneInbox(ctx)
			nextPrune = time.Now().Add(pruneInterval)
		}
		var err error
		if cons == nil {
			cons, err = c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
				Durable:        c.cfg.Durable,
				FilterSubjects: c.cfg.FilterSubjects,
				AckPolicy:      jetstream.AckExplicitPolicy,
				AckWait:        c.cfg.AckWait,
				DeliverPolicy:  jetstream.DeliverAllPolicy,
				// MaxDeliver is enforced here, not by the server: the
				// server would stop redelivering after the last attempt
				// even if that attempt never finished (a crash), and the
				// message would reach no dead-letter subject.
				MaxDeliver: -1,
			})
			if err != nil {
				cons = nil
				err = fmt.Errorf("create consumer %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
				// A configuration JetStream rejects will not get better by
				// retrying: fail the service's start-up instead.
				var apiErr *jetstream.APIError
				if errors.Is(err, jetstream.ErrInvalidConsumerName) || errors.Is(err, jetstream.ErrInvalidSubject) ||
					(errors.As(err, &apiErr) && (apiErr.Code == 400 || apiErr.ErrorCode == jsErrInvalidConfig)) {
					return err
				}
			}
		}
		var msg jetstream.Msg
		if err == nil {
			msg, err = c.next(ctx, cons)
		}
		if ctx.Err() != nil && msg == nil {
			break
		}
		if err != nil {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
				errors.Is(err, jetstream.ErrStreamNotFound) {
				cons = nil
			}
			backoff = min(max(2*backoff, minBackoff), 10*time.Second)
			c.logger.WarnContext(ctx, "consumer: retrying", "in", backoff, "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			continue
		}
		backoff = 0
		if msg != nil {
			c.handle(context.WithoutCancel(ctx), msg)
		}
	}
	return nil
}

// next pulls one message, returning nil when none arrived in fetchWait.
func (c *Consumer) next(ctx context.Context, cons jetstream.Consumer) (jetstream.Msg, error) {
	fetchCtx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	msg, err := cons.Next(jetstream.FetchContext(fetchCtx))
	switch {
	case err == nil:
		return msg, nil
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("fetch from %s: %w", c.cfg.Durable, err)
	}
}

// errDuplicate marks an event the inbox has already seen.
var errDuplicate = errors.New("event already handled")

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.logger.ErrorContext(ctx, "consumer: message without JetStream metadata", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	m := Message{
		ID:           msg.Headers().Get(jetstream.MsgIDHeader),
		Subject:      msg.Subject(),
		Data:         msg.Data(),
		Header:       msg.Headers(),
		NumDelivered: md.NumDelivered,
	}
	if m.ID == "" {
		// Not published through the outbox; the stream position is still
		// a stable identity for redeliveries.
		m.ID = md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	}

	ctx, span := StartProcessSpan(ctx, msg, c.cfg.Durable, m.ID, m.NumDelivered)
	defer span.End()

	if m.NumDelivered > uint64(c.cfg.MaxDeliver) {
		// The previous, last allowed attempt never reported back.
		c.deadLetter(ctx, msg, m, md, errors.New("delivery limit exceeded by attempts that did not finish"))
		return
	}

	stopKeepAlive := c.keepAlive(msg)
	err = c.apply(ctx, m)
	stopKeepAlive()

	switch {
	case err == nil || errors.Is(err, errDuplicate):
		if errors.Is(err, errDuplicate) {
			span.SetAttributes(attribute.Bool("photoshoot.duplicate", true))
			c.metrics.count(ctx, outcomeDuplicate)
		} else {
			c.metrics.count(ctx, outcomeHandled)
		}
		if err := msg.Ack(); err != nil {
			// The effects are committed; the redelivery will be a
			// duplicate the inbox absorbs.
			c.logger.WarnContext(ctx, "consumer: ack", "event", m.ID, "err", err)
		}
	case m.NumDelivered >= uint64(c.cfg.MaxDeliver):
		span.RecordError(err)
		span.SetStatus(codes.Error, "dead-lettered")
		c.deadLetter(ctx, msg, m, md, err)
	default:
		span.RecordError(err)
		span.SetStatus(codes.Error, "handler failed")
		c.metrics.count(ctx, outcomeFailed)
		delay := c.cfg.Backoff[min(int(m.NumDelivered)-1, len(c.cfg.Backoff)-1)]
		c.logger.WarnContext(ctx, "consumer: handler failed, will retry", "event", m.ID, "subject", m.Subject,
			"delivery", m.NumDelivered, "retry_in", delay, "err", err)
		if err := msg.NakWithDelay(delay); err != nil {
			c.logger.WarnContext(ctx, "consumer: nak", "event", m.ID, "err", err)
		}
	}
}

// apply records the event in the inbox and runs the handler, in one
// transaction. Concurrent deliveries of one event serialise on the inbox
// row: the second waits for the first to commit, then sees a duplicate.
//
// The handler's tx takes postgres.AfterCommit: its hooks run once the
// transaction has committed.
func (c *Consumer) apply(ctx context.Context, m Message) (err error) {
	raw, err := c.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = raw.Rollback(context.WithoutCancel(ctx)) }()
	tx, committed := postgres.WithCommitHooks(raw)
	tag, err := tx.Exec(ctx, "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", c.cfg.Durable, m.ID)
	if err != nil {
		return fmt.Errorf("record event %s in inbox: %w", m.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return errDuplicate
	}
	if err := c.runHandler(ctx, tx, m); err != nil {
		return err
	}
	if err := raw.Commit(ctx); err != nil {
		return fmt.Errorf("commit event %s: %w", m.ID, err)
	}
	committed()
	return nil
}

// runHandler turns a handler panic into an error, so one bad message is
// retried and dead-lettered instead of taking the service down.
func (c *Consumer) runHandler(ctx context.Context, tx pgx.Tx, m Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.logger.ErrorContext(ctx, "consumer: handler panicked", "event", m.ID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return c.cfg.Handler(ctx, tx, m)
}

// keepAlive tells JetStream the message is still being worked on every half
// AckWait, so a slow handler is not raced by a redelivery.
func (c *Consumer) keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(c.cfg.AckWait / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// deadLetter publishes the message, with its headers and the cause, to the
// consumer's dead-letter subject and terminates it. If that publish fails the
// message is nak'ed and dead-lettered on its next delivery.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, m Message, md *jetstream.MsgMetadata, cause error) {
	h := nats.Header{}
	maps.Copy(h, msg.Headers())
	for k, v := range h {
		h[k] = slices.Clone(v)
	}
	delete(h, jetstream.MsgIDHeader)
	h.Set(HeaderDeadLetterError, cause.Error())
	h.Set(HeaderDeadLetterSubject, m.Subject)
	h.Set(HeaderDeadLetterStream, md.Stream)
	h.Set(HeaderDeadLetterDeliveries, strconv.FormatUint(m.NumDelivered, 10))
	h.Set(HeaderEventID, m.ID)

	pubCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.js.PublishMsg(pubCtx, &nats.Msg{Subject: DeadLetterSubject(c.cfg.Durable), Data: m.Data, Header: h},
		jetstream.WithMsgID(c.cfg.Durable+":"+m.ID))
	if err != nil {
		delay := c.cfg.Backoff[len(c.cfg.Backoff)-1]
		c.logger.ErrorContext(ctx, "consumer: dead-letter publish failed, will retry", "event", m.ID, "retry_in", delay, "err", err)
		c.metrics.count(ctx, outcomeFailed)
		_ = msg.NakWithDelay(delay)
		return
	}
	c.metrics.count(ctx, outcomeDeadLettered)
	c.logger.ErrorContext(ctx, "consumer: message dead-lettered", "event", m.ID, "subject", m.Subject,
		"deliveries", m.NumDelivered, "err", cause)
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		c.logger.WarnContext(ctx, "consumer: terminate dead-lettered message", "event", m.ID, "err", err)
	}
}

// pruneInbox forgets events handled longer ago than any stream keeps them.
func (c *Consumer) pruneInbox(ctx context.Context) {
	_, err := c.pool.Exec(ctx, "DELETE FROM inbox WHERE consumer = $1 AND received_at < now() - $2 * interval '1 second'",
		c.cfg.Durable, int64(inboxRetention.Seconds()))
	if err != nil && ctx.Err() == nil {
		c.logger.WarnContext(ctx, "consumer: prune inbox", "err", err)
	}
}
