package telemetry

import (
	"context"
	"io"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// LoggerOptions chooses the format and threshold of NewLogger's output.
type LoggerOptions struct {
	// JSON selects one JSON object per line (what log collectors parse);
	// otherwise slog's key=value text, easier to read in a terminal.
	JSON bool
	// Level is the minimum level written; nil means Info.
	Level slog.Leveler
}

// NewLogger returns a logger that writes to w, tags every line with the
// service name, and adds trace_id and span_id when the context given to the
// log call (InfoContext and friends) carries a valid span context. The ids
// stay at the top level of the line even under WithGroup, so a log search
// finds them in one place.
func NewLogger(w io.Writer, service string, opt LoggerOptions) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: opt.Level}
	var h slog.Handler
	if opt.JSON {
		h = slog.NewJSONHandler(w, hopts)
	} else {
		h = slog.NewTextHandler(w, hopts)
	}
	if service != "" {
		h = h.WithAttrs([]slog.Attr{slog.String("service", service)})
	}
	return slog.New(&traceHandler{inner: h, root: h})
}

// traceHandler adds the span context's ids to each record.
//
// Once WithGroup has been called, attributes added to a record land inside
// the group. To keep the ids at the top level, the handler remembers the
// chain as it stood before the first group (root) and the calls made since
// (ops), and for a traced record replays them on top of root with the ids
// attached. Records without a span, and loggers without groups, take the
// cheap path through inner.
type traceHandler struct {
	inner slog.Handler                      // root with ops applied
	root  slog.Handler                      // the chain before the first WithGroup
	ops   []func(slog.Handler) slog.Handler // WithGroup/WithAttrs calls since then
}

// Enabled defers to the wrapped handler so level filtering is unchanged.
func (h *traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle adds trace_id and span_id when ctx holds a valid span context.
func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.inner.Handle(ctx, r)
	}
	ids := []slog.Attr{
		slog.String("trace_id", sc.TraceID().String()),
		slog.String("span_id", sc.SpanID().String()),
	}
	if len(h.ops) == 0 {
		// Clone: the record may be shared with other handlers.
		r = r.Clone()
		r.AddAttrs(ids...)
		return h.inner.Handle(ctx, r)
	}
	traced := h.root.WithAttrs(ids)
	for _, op := range h.ops {
		traced = op(traced)
	}
	return traced.Handle(ctx, r)
}

// WithAttrs keeps the wrapping so derived loggers still get trace ids.
func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.ops) == 0 {
		next := h.inner.WithAttrs(attrs)
		return &traceHandler{inner: next, root: next}
	}
	return &traceHandler{
		inner: h.inner.WithAttrs(attrs),
		root:  h.root,
		ops:   append(slices.Clip(h.ops), func(s slog.Handler) slog.Handler { return s.WithAttrs(attrs) }),
	}
}

// WithGroup keeps the wrapping so derived loggers still get trace ids.
func (h *traceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &traceHandler{
		inner: h.inner.WithGroup(name),
		root:  h.root,
		ops:   append(slices.Clip(h.ops), func(s slog.Handler) slog.Handler { return s.WithGroup(name) }),
	}
}
