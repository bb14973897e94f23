// Package watch wakes WatchGeneration streams when their job moves. One
// core NATS subscription per process listens to the job events (JetStream
// publishes are ordinary NATS messages too) and pokes the watchers of the
// job each event names; the watcher then re-reads the job from Postgres,
// which stays the only source of truth. A lost wake-up costs latency, not
// correctness: watchers also re-read on a slow timer.
package watch

import (
	"sync"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
)

// Hub fans job events out to watchers by job id.
type Hub struct {
	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{}
	subs     []*nats.Subscription
}

// jobID reads the job id of an event payload; every job event has one.
type jobEvent interface {
	proto.Message
	GetJobId() string
}

// New subscribes to the job events on nc.
func New(nc *nats.Conn) (*Hub, error) {
	h := &Hub{watchers: map[string]map[chan struct{}]struct{}{}}
	for subject, newMsg := range map[string]func() jobEvent{
		events.SubjectJobRequested: func() jobEvent { return &eventsv1.JobRequested{} },
		events.SubjectJobStarted:   func() jobEvent { return &eventsv1.JobStarted{} },
		events.SubjectJobCompleted: func() jobEvent { return &eventsv1.JobCompleted{} },
		events.SubjectJobFailed:    func() jobEvent { return &eventsv1.JobFailed{} },
	} {
		sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
			ev := newMsg()
			if proto.Unmarshal(m.Data, ev) == nil {
				h.poke(ev.GetJobId())
			}
		})
		if err != nil {
			h.Close()
			return nil, err
		}
		h.subs = append(h.subs, sub)
	}
	return h, nil
}

// Close unsubscribes.
func (h *Hub) Close() error {
	for _, s := range h.subs {
		_ = s.Unsubscribe()
	}
	return nil
}

// Watch returns a channel that receives (coalesced) when job id moves,
// and a function to stop watching.
func (h *Hub) Watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.watchers[id] == nil {
		h.watchers[id] = map[chan struct{}]struct{}{}
	}
	h.watchers[id][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.watchers[id], ch)
		if len(h.watchers[id]) == 0 {
			delete(h.watchers, id)
		}
		h.mu.Unlock()
	}
}

func (h *Hub) poke(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.watchers[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
