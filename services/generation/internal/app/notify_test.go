package app_test

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connectengine/photoshoot/pkg/events"
	eventsv1 "github.com/connectengine/photoshoot/proto/photoshoot/events/v1"
	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
)

// slackWebhook is a local incoming webhook: it answers 500 to the first
// post, as Slack does in an outage, then "ok", and records every post.
type slackWebhook struct {
	mu    sync.Mutex
	posts []string // the text of each post, including the refused first
}

func (s *slackWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Text == "" || len(m.Blocks) == 0 {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.posts = append(s.posts, m.Text)
	first := len(s.posts) == 1
	s.mu.Unlock()
	if first {
		http.Error(w, "rollup_error", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// with returns the posts whose text contains every part.
func (s *slackWebhook) with(parts ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.posts {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(p, part)
		}
		if all {
			out = append(out, p)
		}
	}
	return out
}

// v7At is a time-ordered event id made at t.
func v7At(t time.Time) string {
	var u uuid.UUID
	_, _ = rand.Read(u[:])
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[:6], ms[2:])
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

func TestSlackNotificationsComponent(t *testing.T) {
	t.Parallel()
	hook := &slackWebhook{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	e := start(t, func(vars map[string]string) { vars["SLACK_WEBHOOK_URL"] = srv.URL + "/services/T0/B0/token" })
	e.billing.balance["alice"] = 2
	alice := e.as(t, "alice")

	t.Run("a_cancel_is_posted_after_a_slack_outage", func(t *testing.T) {
		resp, err := e.client.CreateGeneration(alice, &generationv1.CreateGenerationRequest{ImageId: "img-1", SceneId: "marble"})
		if err != nil {
			t.Fatal(err)
		}
		id := resp.GetJob().GetId()
		if _, err := e.client.CancelGeneration(alice, &generationv1.CancelGenerationRequest{JobId: id}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the cancel is posted again after Slack's 500", func() bool { return len(hook.with(id, "canceled", "marble")) == 2 })
		if p := hook.with(id)[1]; strings.Contains(p, "alice") || strings.Contains(p, "img-1") {
			t.Errorf("post %q carries personal data", p)
		}
	})

	t.Run("completed_with_counts_and_duration", func(t *testing.T) {
		publish(t, e.js, events.SubjectJobCompleted, v7At(time.Now()), &eventsv1.JobCompleted{
			JobId: "job-c", UserId: "alice", SceneId: "", Produced: 3, Requested: 4, CreditsCaptured: 3,
			Duration: durationpb.New(12340 * time.Millisecond),
		})
		eventually(t, "the completion is posted", func() bool { return len(hook.with("job-c")) == 1 })
		if p := hook.with("job-c")[0]; !strings.Contains(p, "3 of 4") || !strings.Contains(p, "12.3s") ||
			!strings.Contains(p, "custom prompt") || strings.Contains(p, "alice") {
			t.Errorf("completion post %q", p)
		}
	})

	t.Run("stale_events_are_dropped", func(t *testing.T) {
		publish(t, e.js, events.SubjectJobStarted, v7At(time.Now().Add(-2*time.Hour)), &eventsv1.JobStarted{JobId: "job-old", SceneId: "marble", Attempt: 1})
		publish(t, e.js, events.SubjectJobFailed, v7At(time.Now()), &eventsv1.JobFailed{
			JobId: "job-new", SceneId: "linen", ErrorClass: "provider_timeout", Duration: durationpb.New(4 * time.Second),
		})
		// The consumer takes events in order: once the later one is
		// posted, the stale one was handled.
		eventually(t, "the fresh failure is posted", func() bool { return len(hook.with("job-new", "provider_timeout", "linen", "4s")) == 1 })
		if old := hook.with("job-old"); len(old) != 0 {
			t.Errorf("a two-hour-old event was posted: %q", old)
		}
	})
}
