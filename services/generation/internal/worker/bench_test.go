package worker_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
)

// BenchmarkPipeline measures the job machinery around an instant image
// model: submit (hold credits, store, outbox) → relay → work queue →
// claim → run → store outputs → finish → completed event. It reports
// jobs/s with every job submitted at once, and the p50 and p99 of one
// job's submit→done with nothing else running; beside them, the same p50
// for a raw JetStream publish → pull → ack round trip on the same server,
// the floor the machinery stands on.
//
//	go test -run '^$' -bench Pipeline -benchtime 1x ./internal/worker/
func BenchmarkPipeline(b *testing.B) {
	const jobs, sequential = 500, 200
	r := newRig(b, 30*time.Second)
	r.ledger.balance["u"] = 1 << 40
	img := r.upload("u")
	done := r.completions(b)
	r.startWorker(8)
	ctx := b.Context()

	for b.Loop() {
		// Throughput: everything at once.
		start := time.Now()
		var wg sync.WaitGroup
		ids := make(chan string, jobs)
		for range 4 {
			wg.Go(func() {
				for range jobs / 4 {
					j, err := r.jobs.Create(ctx, "u", "", spec(img, 1))
					if err != nil {
						b.Error(err)
						return
					}
					ids <- j.ID
				}
			})
		}
		wg.Wait()
		close(ids)
		for id := range ids {
			<-done(id)
		}
		b.ReportMetric(float64(jobs)/time.Since(start).Seconds(), "jobs/s")

		// Latency: one at a time.
		lat := make([]time.Duration, 0, sequential)
		for range sequential {
			t0 := time.Now()
			j, err := r.jobs.Create(ctx, "u", "", spec(img, 1))
			if err != nil {
				b.Fatal(err)
			}
			<-done(j.ID)
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
		b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
		b.ReportMetric(ms(rawRoundTrip(b, r.js, sequential)), "raw-js-p50-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// completions returns a function giving a channel closed when job id's
// completed event arrives (subscribed before any job is made).
func (r *rig) completions(b *testing.B) func(id string) <-chan struct{} {
	nc, err := nats.Connect(r.nats.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	var mu sync.Mutex
	chans := map[string]chan struct{}{}
	get := func(id string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if chans[id] == nil {
			chans[id] = make(chan struct{})
		}
		return chans[id]
	}
	if _, err := nc.Subscribe(events.SubjectJobCompleted, func(m *nats.Msg) {
		var ev eventsv1.JobCompleted
		if proto.Unmarshal(m.Data, &ev) == nil {
			close(get(ev.GetJobId()))
		}
	}); err != nil {
		b.Fatal(err)
	}
	return func(id string) <-chan struct{} { return get(id) }
}

// rawRoundTrip is the p50 of publish → pull → ack on a scratch work-queue
// stream of the same server.
func rawRoundTrip(b *testing.B, js jetstream.JetStream, n int) time.Duration {
	ctx := b.Context()
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "BENCH_RAW", Subjects: []string{"bench.raw"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	})
	if err != nil {
		b.Fatal(err)
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := js.Publish(ctx, "bench.raw", []byte("x")); err != nil {
			b.Fatal(err)
		}
		msg, err := cons.Next()
		if err != nil {
			b.Fatal(err)
		}
		if err := msg.DoubleAck(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[len(lat)/2]
}
