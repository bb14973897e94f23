package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/job"
	"github.com/connectengine/photoshoot/services/generation/internal/pipeline"
)

func spec(image string, variants int) job.Spec {
	return job.Spec{ImageID: image, SceneID: "marble", Variants: variants, Aspect: "1:1", Size: "1K", ProductLock: true}
}

func (r *rig) create(t *testing.T, user string, s job.Spec) *job.Job {
	t.Helper()
	j, err := r.jobs.Create(t.Context(), user, "", s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// checkSettled: the job's credits ended exactly once, as the job says, and
// media holds exactly its committed outputs.
func (r *rig) checkSettled(t *testing.T, j *job.Job) {
	t.Helper()
	h := r.ledger.get(j.HoldID)
	if h.conflict != nil {
		t.Errorf("job %s: conflicting settlement: %v", j.ID, h.conflict)
	}
	if h.applied != 1 {
		t.Errorf("job %s: hold ended %d times, want once", j.ID, h.applied)
	}
	if j.Captured+j.Released != j.Reserved || h.captured != j.Captured {
		t.Errorf("job %s: captured %d + released %d of %d; ledger captured %d", j.ID, j.Captured, j.Released, j.Reserved, h.captured)
	}
	var outputs int
	for _, o := range j.Outputs {
		if o.State == job.OutputSucceeded {
			outputs++
		}
	}
	if int64(outputs) != j.Captured {
		t.Errorf("job %s: %d outputs, %d captured", j.ID, outputs, j.Captured)
	}
	if stored := r.media.ofJob(j.ID); len(stored) != outputs {
		t.Errorf("job %s: media holds %d images, the job has %d outputs", j.ID, len(stored), outputs)
	}
}

func TestPartialSuccessCapturesOnlyProduced(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2*time.Second)
	r.ledger.balance["u"] = 10
	r.model.fail = func(s pipeline.Spec) ([]pipeline.Output, error) {
		return []pipeline.Output{
			{Index: 0, Data: []byte{1}, ContentType: "image/jpeg", Fidelity: 0.97},
			{Index: 1, Err: pipeline.ErrFewerImages},
			{Index: 2, Data: []byte{2}, ContentType: "image/jpeg", Fidelity: 0.95},
		}, nil
	}
	r.startWorker(1)
	j := r.create(t, "u", spec(r.upload("u"), 3))
	got := r.waitEnded(t, "u", []string{j.ID}, time.Minute)[j.ID]
	if got.State != job.PartiallySucceeded || got.Captured != 2 || got.Released != 1 {
		t.Fatalf("job %s captured %d released %d, want partially_succeeded 2/1", got.State, got.Captured, got.Released)
	}
	if got.Outputs[1].State != job.OutputFailed || got.Outputs[1].Error == "" || got.Outputs[0].ImageID == "" {
		t.Fatalf("outputs %+v", got.Outputs)
	}
	r.checkSettled(t, got)
	if r.ledger.balance["u"] != 8 {
		t.Fatalf("balance %d, want 8", r.ledger.balance["u"])
	}
}

func TestFailuresReleaseEverything(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		fail     func(pipeline.Spec) ([]pipeline.Output, error)
		timeout  time.Duration
		attempts int
	}{
		"provider_outage_retried_then_failed": {
			fail: func(pipeline.Spec) ([]pipeline.Output, error) {
				return nil, fmt.Errorf("generate: %w", imagemodel.ErrUnavailable)
			},
			attempts: job.MaxAttempts,
		},
		"provider_rejection_not_retried": {
			fail: func(pipeline.Spec) ([]pipeline.Output, error) {
				return nil, fmt.Errorf("generate: %w", imagemodel.ErrRejected)
			},
			attempts: 1,
		},
		"timeout_retried_then_failed": {
			fail: func(pipeline.Spec) ([]pipeline.Output, error) {
				time.Sleep(time.Second) // longer than the attempt timeout
				return nil, context.DeadlineExceeded
			},
			timeout:  300 * time.Millisecond,
			attempts: job.MaxAttempts,
		},
		"every_variant_failed": {
			fail: func(pipeline.Spec) ([]pipeline.Output, error) {
				return []pipeline.Output{{Index: 0, Err: errors.New("find product: lost")}, {Index: 1, Err: errors.New("lost")}}, nil
			},
			attempts: 1,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, 2*time.Second)
			r.attemptTimeout = c.timeout
			r.ledger.balance["u"] = 2
			r.model.fail = c.fail
			r.startWorker(1)
			j := r.create(t, "u", spec(r.upload("u"), 2))
			got := r.waitEnded(t, "u", []string{j.ID}, time.Minute)[j.ID]
			if got.State != job.Failed || got.Captured != 0 || got.Released != 2 || got.Attempts != c.attempts {
				t.Fatalf("job %s after %d attempts, captured %d released %d; want failed after %d", got.State, got.Attempts, got.Captured, got.Released, c.attempts)
			}
			r.checkSettled(t, got)
			if r.ledger.balance["u"] != 2 {
				t.Fatalf("balance %d, want 2 (everything released)", r.ledger.balance["u"])
			}
			if tag, n := r.model.maxCalls(); n > 1 {
				t.Fatalf("attempt %s called the provider %d times", tag, n)
			}
		})
	}
}

func TestCancelWhileRunningChargesNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t, 900*time.Millisecond)
	r.ledger.balance["u"] = 3
	r.model.block = make(chan struct{})
	r.startWorker(1)
	j := r.create(t, "u", spec(r.upload("u"), 3))
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, err := r.store.GetJob(t.Context(), "u", j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.State == job.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never started")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if _, err := r.jobs.Cancel(t.Context(), "u", j.ID); err != nil {
		t.Fatal(err)
	}
	// The provider answers after the cancel: its images must not be charged
	// or kept.
	close(r.model.block)
	r.waitEnded(t, "u", []string{j.ID}, time.Minute)
	time.Sleep(r.lease) // let a late finish try its luck
	got, err := r.store.GetJob(t.Context(), "u", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != job.Canceled || got.Captured != 0 {
		t.Fatalf("job %s captured %d, want canceled with nothing captured", got.State, got.Captured)
	}
	deadline = time.Now().Add(30 * time.Second)
	for len(r.media.ofJob(j.ID)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the settler discards late outputs
	}
	r.checkSettled(t, got)
	if r.ledger.balance["u"] != 3 {
		t.Fatalf("balance %d, want 3", r.ledger.balance["u"])
	}
}

// TestChaos: 1,000 jobs, every work message delivered twice, workers
// killed 20 times at random. Every job ends; its credits are captured (or
// released) exactly once and match its outputs; the provider is called at
// most once per attempt; nothing is left running.
func TestChaos(t *testing.T) {
	t.Parallel()
	const jobs, kills, workers = 1000, 20, 3
	r := newRig(t, 1500*time.Millisecond)
	r.ledger.balance["u"] = 2 * jobs
	img := r.upload("u")

	var mu sync.Mutex
	live := make([]*runningWorker, workers)
	for i := range live {
		live[i] = r.startWorker(4)
	}
	ids := make([]string, 0, jobs)
	for i := range jobs {
		j := r.create(t, "u", spec(img, 1+i%2))
		ids = append(ids, j.ID)
		// A second delivery of the same attempt, as a redelivery would be.
		data, err := proto.Marshal(&eventsv1.JobRequested{JobId: j.ID, UserId: "u", Attempt: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.js.Publish(t.Context(), events.SubjectJobRequested, data); err != nil {
			t.Fatal(err)
		}
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for range kills {
			time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
			mu.Lock()
			i := rand.IntN(workers)
			live[i].kill()
			live[i] = r.startWorker(4)
			mu.Unlock()
		}
	}()
	<-killed
	got := r.waitEnded(t, "u", ids, 5*time.Minute)

	states, retried := map[job.State]int{}, 0
	for _, j := range got {
		states[j.State]++
		if j.Attempts > 1 {
			retried++
		}
		r.checkSettled(t, j)
	}
	if tag, n := r.model.maxCalls(); n > 1 {
		t.Errorf("attempt %s called the provider %d times", tag, n)
	}
	var running int
	if err := r.pool.QueryRow(t.Context(), `SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')`).Scan(&running); err != nil {
		t.Fatal(err)
	}
	if running != 0 {
		t.Errorf("%d jobs left queued or running", running)
	}
	if states[job.Succeeded] < jobs*9/10 {
		t.Errorf("only %d of %d jobs succeeded: %v", states[job.Succeeded], jobs, states)
	}
	t.Logf("outcomes: %v; %d jobs needed more than one attempt", states, retried)
}
