package slack_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectengine/photoshoot/services/generation/internal/slack"
)

// reply is one scripted webhook answer.
type reply struct {
	status     int
	body       string
	retryAfter string
}

// fakeSlack answers like an incoming webhook: each POST takes the next
// scripted reply (the last one repeats) and is recorded.
type fakeSlack struct {
	mu       sync.Mutex
	script   []reply
	received []slack.Message
	times    []time.Time
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("invalid_payload"))
		return
	}
	var m slack.Message
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Text == "" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("invalid_payload"))
		return
	}
	f.received = append(f.received, m)
	f.times = append(f.times, time.Now())
	rep := f.script[min(len(f.received)-1, len(f.script)-1)]
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

func (f *fakeSlack) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.received)
}

// serve starts a fake webhook at a secret-looking path.
func serve(t *testing.T, script ...reply) (*fakeSlack, string) {
	t.Helper()
	f := &fakeSlack{script: script}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL + "/services/T000/B000/secret-token"
}

var msg = slack.Message{
	Text:   "Generation job `j-1` completed",
	Blocks: []slack.Block{{Type: "section", Text: &slack.Text{Type: "mrkdwn", Text: "*completed*"}}},
}

func fast(budget time.Duration) slack.Options {
	return slack.Options{Budget: budget, Backoff: 10 * time.Millisecond, CallTimeout: 2 * time.Second}
}

func TestPostOK(t *testing.T) {
	t.Parallel()
	f, url := serve(t, reply{status: 200, body: "ok"})
	if err := slack.NewWebhook(url, fast(time.Second)).Post(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if f.calls() != 1 || f.received[0].Text != msg.Text || len(f.received[0].Blocks) != 1 || f.received[0].Blocks[0].Text.Text != "*completed*" {
		t.Fatalf("received %+v", f.received)
	}
}

func TestPostHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	f, url := serve(t, reply{status: 429, body: "rate_limited", retryAfter: "1"}, reply{status: 200, body: "ok"})
	if err := slack.NewWebhook(url, fast(5*time.Second)).Post(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if f.calls() != 2 {
		t.Fatalf("%d calls, want 2", f.calls())
	}
	if gap := f.times[1].Sub(f.times[0]); gap < time.Second {
		t.Fatalf("retried after %s, before the 1 s Retry-After", gap)
	}
}

func TestPostRetriesServerErrors(t *testing.T) {
	t.Parallel()
	f, url := serve(t, reply{status: 500, body: "rollup_error"}, reply{status: 503}, reply{status: 200, body: "ok"})
	if err := slack.NewWebhook(url, fast(5*time.Second)).Post(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if f.calls() != 3 {
		t.Fatalf("%d calls, want 3", f.calls())
	}
	if first, second := f.times[1].Sub(f.times[0]), f.times[2].Sub(f.times[1]); second < first {
		t.Errorf("back-off did not grow: %s then %s", first, second)
	}
}

func TestPostClientErrorsArePermanent(t *testing.T) {
	t.Parallel()
	for _, rep := range []reply{
		{status: 400, body: "invalid_payload"},
		{status: 403, body: "action_prohibited"},
		{status: 404, body: "no_service"},
		{status: 410, body: "channel_is_archived"},
	} {
		t.Run(rep.body, func(t *testing.T) {
			t.Parallel()
			f, url := serve(t, rep)
			err := slack.NewWebhook(url, fast(5*time.Second)).Post(t.Context(), msg)
			var se *slack.Error
			if !errors.As(err, &se) || se.Status != rep.status || se.Body != rep.body || !slack.IsPermanent(err) {
				t.Fatalf("error %v, want a permanent %d %s", err, rep.status, rep.body)
			}
			if f.calls() != 1 {
				t.Fatalf("%d calls, want 1: a permanent error is not retried", f.calls())
			}
		})
	}
}

func TestPostGivesUpWithinBudget(t *testing.T) {
	t.Parallel()
	tests := map[string]reply{
		"server_errors":        {status: 500, body: "rollup_error"},
		"retry_after_too_long": {status: 429, body: "rate_limited", retryAfter: "30"},
	}
	for name, rep := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, url := serve(t, rep)
			start := time.Now()
			err := slack.NewWebhook(url, fast(300*time.Millisecond)).Post(t.Context(), msg)
			if err == nil || slack.IsPermanent(err) {
				t.Fatalf("error %v, want a retryable one", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("took %s with a 300 ms budget", took)
			}
		})
	}
}

func TestPostErrorsHideTheURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T000/B000/secret-token"
	srv.Close() // connection refused from now on
	err := slack.NewWebhook(url, fast(50*time.Millisecond)).Post(t.Context(), msg)
	if err == nil || slack.IsPermanent(err) {
		t.Fatalf("error %v, want a retryable one", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("error %q reveals the webhook URL", err)
	}
}

func TestLogWritesTheText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slack.Log{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	if err := l.Post(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "j-1") {
		t.Fatalf("log %q", buf.String())
	}
}
