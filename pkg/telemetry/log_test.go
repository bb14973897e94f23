package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// spanContext starts a span on a private SDK provider, so these tests need
// no globals and can run in parallel.
func spanContext(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(t.Context(), "op")
	t.Cleanup(func() { span.End() })
	return ctx, span.SpanContext()
}

// lines decodes JSON log output, one object per line.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for l := range strings.Lines(out) {
		var doc map[string]any
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		delete(doc, "time")
		docs = append(docs, doc)
	}
	return docs
}

func TestNewLogger_adds_trace_ids_only_with_a_span(t *testing.T) {
	t.Parallel()
	ctx, sc := spanContext(t)
	var buf bytes.Buffer
	logger := NewLogger(&buf, "billing", LoggerOptions{JSON: true})

	logger.InfoContext(ctx, "with span", "k", "v")
	logger.InfoContext(t.Context(), "without span")
	logger.Info("no context")

	want := []map[string]any{
		{"level": "INFO", "msg": "with span", "service": "billing", "k": "v", "trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()},
		{"level": "INFO", "msg": "without span", "service": "billing"},
		{"level": "INFO", "msg": "no context", "service": "billing"},
	}
	if diff := cmp.Diff(want, lines(t, buf.String())); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}

func TestNewLogger_unsampled_remote_span_still_logs_ids(t *testing.T) {
	t.Parallel()
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xab}, SpanID: trace.SpanID{0xcd}, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(t.Context(), sc)
	var buf bytes.Buffer
	NewLogger(&buf, "billing", LoggerOptions{JSON: true}).InfoContext(ctx, "m")

	got := lines(t, buf.String())
	if len(got) != 1 || got[0]["trace_id"] != sc.TraceID().String() {
		t.Errorf("log = %v, want trace_id %s", got, sc.TraceID())
	}
}

func TestNewLogger_with_attrs_and_groups_keep_ids_at_top_level(t *testing.T) {
	t.Parallel()
	ctx, sc := spanContext(t)
	var buf bytes.Buffer
	logger := NewLogger(&buf, "billing", LoggerOptions{JSON: true}).
		With("a", 1).
		WithGroup("req").
		With("method", "Charge").
		WithGroup("").
		WithGroup("user")

	logger.InfoContext(ctx, "m", "id", "u1")
	logger.InfoContext(t.Context(), "m", "id", "u2")

	want := []map[string]any{
		{
			"level": "INFO", "msg": "m", "service": "billing", "a": float64(1),
			"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String(),
			"req": map[string]any{"method": "Charge", "user": map[string]any{"id": "u1"}},
		},
		{
			"level": "INFO", "msg": "m", "service": "billing", "a": float64(1),
			"req": map[string]any{"method": "Charge", "user": map[string]any{"id": "u2"}},
		},
	}
	if diff := cmp.Diff(want, lines(t, buf.String())); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}

func TestNewLogger_level_and_text_format(t *testing.T) {
	t.Parallel()
	ctx, sc := spanContext(t)
	var buf bytes.Buffer
	logger := NewLogger(&buf, "media", LoggerOptions{Level: slog.LevelWarn})

	logger.InfoContext(ctx, "dropped")
	logger.WarnContext(ctx, "kept")

	out := buf.String()
	if strings.Contains(out, "dropped") {
		t.Errorf("info line written at warn level: %q", out)
	}
	for _, want := range []string{"level=WARN", "msg=kept", "service=media", "trace_id=" + sc.TraceID().String(), "span_id=" + sc.SpanID().String()} {
		if !strings.Contains(out, want) {
			t.Errorf("text output %q lacks %q", out, want)
		}
	}
}
