package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logBuffer collects JSON log lines written from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	out := b.buf.String()
	b.mu.Unlock()
	var recs []map[string]any
	for l := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls cond until it holds or the test's time runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}

func TestStack_Close_runs_in_reverse_and_joins_errors(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	s := NewStack(newLogger(&logs))
	var order []string
	errNATS := errors.New("drain timed out")
	errPool := errors.New("pool busy")
	push := func(name string, err error) {
		s.Push(name, func(context.Context) error {
			order = append(order, name)
			return err
		})
	}
	push("pool", errPool)
	push("nats", errNATS)
	push("grpc", nil)

	err := s.Close(t.Context())
	if diff := cmp.Diff([]string{"grpc", "nats", "pool"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if !errors.Is(err, errNATS) || !errors.Is(err, errPool) {
		t.Errorf("Close error %v does not wrap both step errors", err)
	}

	recs := logs.records(t)
	if len(recs) != 3 {
		t.Fatalf("got %d log records, want one per step: %v", len(recs), recs)
	}
	for i, want := range []struct{ step, level string }{{"grpc", "INFO"}, {"nats", "ERROR"}, {"pool", "ERROR"}} {
		if recs[i]["step"] != want.step || recs[i]["level"] != want.level {
			t.Errorf("record %d = %v, want step %s at %s", i, recs[i], want.step, want.level)
		}
		if _, ok := recs[i]["duration"].(float64); !ok {
			t.Errorf("record %d has no duration: %v", i, recs[i])
		}
	}

	if err := s.Close(t.Context()); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if len(order) != 3 {
		t.Errorf("second Close ran steps again: %v", order)
	}
}

func TestStack_zero_value_is_usable(t *testing.T) {
	t.Parallel()
	var s Stack
	ran := false
	s.Push("only", func(context.Context) error { ran = true; return nil })
	if err := s.Close(t.Context()); err != nil || !ran {
		t.Errorf("Close = %v, ran = %v; want nil, true", err, ran)
	}
}

func TestStack_Close_keeps_going_after_ctx_ends(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	s := NewStack(newLogger(&logs))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var firstCtxErr error
	s.Push("first", func(ctx context.Context) error {
		firstCtxErr = ctx.Err()
		return nil
	})
	release := make(chan struct{})
	s.Push("slow", func(ctx context.Context) error {
		cancel() // the deadline passes while this step runs
		<-release
		return nil
	})

	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctx) }()

	// The overrun is reported while the step is still running, naming it.
	eventually(t, "the overrun is logged", func() bool {
		for _, r := range logs.records(t) {
			if r["level"] == "WARN" && r["step"] == "slow" {
				return true
			}
		}
		return false
	})
	close(release)

	err := <-closed
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want the overrun reported with context.Canceled", err)
	}
	if !errors.Is(firstCtxErr, context.Canceled) {
		t.Errorf("first step saw ctx.Err() = %v; want it still run, with the ended ctx", firstCtxErr)
	}
	if strings.Count(err.Error(), "close ") != 1 {
		t.Errorf("Close = %v, want only the overrunning step reported", err)
	}
}

func TestStack_Push_after_Close_runs_on_next_Close(t *testing.T) {
	t.Parallel()
	s := NewStack(nil)
	var ran []string
	s.Push("a", func(context.Context) error { ran = append(ran, "a"); return nil })
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Push("b", func(context.Context) error { ran = append(ran, "b"); return nil })
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, ran); diff != "" {
		t.Errorf("ran (-want +got):\n%s", diff)
	}
}
