package worker_test

import (
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectengine/photoshoot/pkg/apperr"
	"github.com/connectengine/photoshoot/pkg/events"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	mediav1 "github.com/connectengine/photoshoot/proto/photoshoot/media/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/analysis"
	"github.com/connectengine/photoshoot/services/generation/internal/fixture"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/pipeline"
	"github.com/connectengine/photoshoot/services/generation/internal/store"
	"github.com/connectengine/photoshoot/services/generation/internal/worker"
)

// The rig runs the worker's real surroundings — Postgres with the
// generation schema, an embedded NATS JetStream with the real streams, the
// outbox relay, the settler's consumer and the sweeper — and stands in for
// the three services it calls with in-memory ledgers that record every
// call, so the tests can count what happened.

// ledger is billing as the worker sees it: holds that end exactly once.
// An idempotent repeat (same capture amount, release after release) is
// allowed and counted; a conflicting one is an error the test reports.
type ledger struct {
	mu      sync.Mutex
	holds   map[string]*hold // by hold id
	byJob   map[string]string
	balance map[string]int64
	fail    func(op string) error
}

type hold struct {
	user              string
	amount            int64
	captured          int64
	ended             bool
	released          bool
	applied, repeated int
	conflict          error
}

func newLedger() *ledger {
	return &ledger{holds: map[string]*hold{}, byJob: map[string]string{}, balance: map[string]int64{}}
}

func (l *ledger) Reserve(_ context.Context, jobID, userID string, amount int64) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.byJob[jobID]; ok {
		return id, nil
	}
	if l.balance[userID] < amount {
		return "", apperr.Precondition("INSUFFICIENT_CREDITS", "not enough credits")
	}
	id := "hold-" + jobID
	l.balance[userID] -= amount
	l.holds[id], l.byJob[jobID] = &hold{user: userID, amount: amount}, id
	return id, nil
}

func (l *ledger) Capture(_ context.Context, holdID string, amount int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		if err := l.fail("capture"); err != nil {
			return err
		}
	}
	h := l.holds[holdID]
	switch {
	case h == nil:
		return apperr.NotFound("hold %s", holdID)
	case h.ended && !h.released && h.captured == amount:
		h.repeated++
		return nil
	case h.ended:
		h.conflict = fmt.Errorf("capture %d of a hold that ended (released %v, captured %d)", amount, h.released, h.captured)
		return apperr.Precondition("HOLD_ENDED", "the hold has already ended")
	case amount > h.amount:
		h.conflict = fmt.Errorf("capture %d of a hold of %d", amount, h.amount)
		return apperr.Invalid("too much")
	}
	h.ended, h.captured = true, amount
	h.applied++
	l.balance[h.user] += h.amount - amount
	return nil
}

func (l *ledger) Release(_ context.Context, holdID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.holds[holdID]
	switch {
	case h == nil:
		return apperr.NotFound("hold %s", holdID)
	case h.ended && h.released:
		h.repeated++
		return nil
	case h.ended:
		h.conflict = fmt.Errorf("release of a captured hold")
		return apperr.Precondition("HOLD_ENDED", "the hold has already ended")
	}
	h.ended, h.released = true, true
	h.applied++
	l.balance[h.user] += h.amount
	return nil
}

func (l *ledger) get(holdID string) hold {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.holds[holdID]
}

// media keeps images in memory: uploads (with their masks) and outputs.
type media struct {
	mu     sync.Mutex
	images map[string]stored
	fail   func(op string) error
}

type stored struct {
	user, job string
	img       image.Image
	data      []byte
}

func newMedia() *media { return &media{images: map[string]stored{}} }

func (m *media) upload(user string, img image.Image) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := uuid.NewString()
	m.images[id] = stored{user: user, img: img}
	return id
}

func (m *media) Fetch(_ context.Context, userID, imageID string) (image.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.images[imageID]
	if !ok || s.user != userID {
		return nil, apperr.NotFound("image %s", imageID)
	}
	return s.img, nil
}

func (m *media) Store(_ context.Context, meta *mediav1.StoreMetadata, data []byte) (*mediav1.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail("store"); err != nil {
			return nil, err
		}
	}
	id := uuid.NewString()
	m.images[id] = stored{user: meta.GetUserId(), job: meta.GetJobId(), data: data}
	return &mediav1.Image{Id: id}, nil
}

func (m *media) Sign(_ context.Context, _, imageID string, _ mediav1.Variant, _ time.Duration) (string, error) {
	return "https://media.test/" + imageID, nil
}

func (m *media) Discard(_ context.Context, userID, jobID string, keep []string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := map[string]bool{}
	for _, id := range keep {
		kept[id] = true
	}
	n := 0
	for id, s := range m.images {
		if s.job == jobID && s.user == userID && !kept[id] {
			delete(m.images, id)
			n++
		}
	}
	return n, nil
}

func (m *media) ofJob(jobID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, s := range m.images {
		if s.job == jobID {
			ids = append(ids, id)
		}
	}
	return ids
}

// analyses answers with the mask stored beside each upload.
type analyses struct {
	masks map[string]string // image id → mask image id
	mu    sync.Mutex
}

func (a *analyses) Fetch(_ context.Context, _, imageID string) (analysis.Analysis, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mask, ok := a.masks[imageID]
	if !ok {
		return analysis.Analysis{}, apperr.NotFound("analysis of %s", imageID)
	}
	return analysis.Analysis{MaskImageID: mask, Prompts: map[string]string{}}, nil
}

// instant is an image model that answers at once with tiny outputs and
// counts its calls per job attempt; fail decides per call.
type instant struct {
	mu    sync.Mutex
	calls map[string]int // by attempt tag
	fail  func(spec pipeline.Spec) ([]pipeline.Output, error)
	block chan struct{} // when set, calls wait on it (or their context)
}

func newInstant() *instant { return &instant{calls: map[string]int{}} }

func (p *instant) Run(ctx context.Context, _ image.Image, _ *image.Gray, spec pipeline.Spec) ([]pipeline.Output, error) {
	p.mu.Lock()
	p.calls[spec.Tag]++
	fail, block := p.fail, p.block
	p.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		if outs, err := fail(spec); outs != nil || err != nil {
			return outs, err
		}
	}
	outs := make([]pipeline.Output, spec.Variants)
	for i := range outs {
		outs[i] = pipeline.Output{Index: i, Data: []byte{0xff, 0xd8, byte(i)}, ContentType: "image/jpeg", Fidelity: 0.99, Composite: true}
	}
	return outs, nil
}

func (p *instant) maxCalls() (string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tag, most := "", 0
	for t, n := range p.calls {
		if n > most {
			tag, most = t, n
		}
	}
	return tag, most
}

type rig struct {
	t        testing.TB
	pool     *pgxpool.Pool
	store    *store.Store
	nats     *eventstest.Server
	js       jetstream.JetStream
	jobs     *job.Service
	ledger   *ledger
	media    *media
	analyses *analyses
	model    *instant
	lease    time.Duration
	// attemptTimeout is the workers' AttemptTimeout (0: the default).
	attemptTimeout time.Duration
	// metrics, when set, are the workers' instruments.
	metrics *worker.Metrics
	log     *slog.Logger
}

func newRig(t testing.TB, lease time.Duration) *rig {
	t.Helper()
	pool := postgrestest.New(t,
		postgrestest.Migrations{FS: events.Migrations, VersionTable: events.MigrationsVersionTable},
		postgrestest.Migrations{FS: store.Migrations, VersionTable: platform.ServiceMigrationsTable})
	ns := eventstest.New(t)
	r := &rig{
		t: t, pool: pool, store: store.New(pool), nats: ns, ledger: newLedger(), media: newMedia(),
		analyses: &analyses{masks: map[string]string{}}, model: newInstant(), lease: lease,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	r.js = r.connect(t)
	if err := events.EnsureStreams(t.Context(), r.js, 1); err != nil {
		t.Fatal(err)
	}
	r.jobs = job.NewService(r.store, r.ledger, r.log)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	sweeper := worker.NewSweeper(r.store, r.log)
	sweeper.Every = lease / 4
	for _, run := range []func(context.Context) error{
		events.NewRelay(pool, r.js, r.log, events.RelayOptions{}).Run,
		worker.NewSettler(r.store, r.ledger, r.media, r.log).Consumer(pool, r.js).Run,
		sweeper.Run,
	} {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				t.Errorf("background: %v", err)
			}
		})
	}
	t.Cleanup(func() { stop(); wg.Wait() })
	return r
}

func (r *rig) connect(t testing.TB) jetstream.JetStream {
	nc, err := nats.Connect(r.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// quickRetry keeps the tests' retries quick; the first attempt never waits.
func quickRetry(attempt int) time.Duration {
	if attempt <= 1 {
		return 0
	}
	return 50 * time.Millisecond
}

// upload stores a small product photo and its mask for user.
func (r *rig) upload(user string) string {
	src, mask := fixture.Product("box", 64, 64)
	id := r.media.upload(user, src)
	r.analyses.mu.Lock()
	r.analyses.masks[id] = r.media.upload(user, mask)
	r.analyses.mu.Unlock()
	return id
}

// runningWorker is one worker process: its own NATS connection, killed
// by cancelling its context and closing the connection (no drain, no acks).
type runningWorker struct {
	stop func()
	done chan struct{}
	nc   *nats.Conn
}

func (r *rig) startWorker(concurrency int) *runningWorker {
	nc, err := nats.Connect(r.nats.URL())
	if err != nil {
		r.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	w := worker.New(worker.Config{Concurrency: concurrency, Lease: r.lease, AttemptTimeout: r.attemptTimeout,
		RetryDelay: quickRetry}, js, r.store, r.media, r.analyses, r.model, r.log, r.metrics)
	ctx, stop := context.WithCancel(context.Background())
	rw := &runningWorker{stop: stop, done: make(chan struct{}), nc: nc}
	go func() {
		defer close(rw.done)
		if err := w.Run(ctx); err != nil {
			r.t.Errorf("worker: %v", err)
		}
	}()
	r.t.Cleanup(rw.kill)
	return rw
}

func (w *runningWorker) kill() {
	w.stop()
	w.nc.Close()
	<-w.done
}

// waitEnded waits until every job is over and settled.
func (r *rig) waitEnded(t testing.TB, user string, ids []string, d time.Duration) map[string]*job.Job {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out := map[string]*job.Job{}
		pending := ""
		for _, id := range ids {
			j, err := r.store.GetJob(t.Context(), user, id)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = j
			if !j.State.Terminal() || !r.ledger.get(j.HoldID).ended {
				pending = fmt.Sprintf("%s is %s (attempt %d), hold ended %v", id, j.State, j.Attempts, r.ledger.get(j.HoldID).ended)
				break
			}
		}
		if pending == "" {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not over after %v: %s", d, pending)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
