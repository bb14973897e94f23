// Package lifecycle runs a service's shutdown: a stack of cleanup steps
// pushed as each resource starts and run in reverse, a gRPC stop that drains
// before it cuts, and Run, which ties serving to shutting down under a fresh
// deadline. It follows OpenFGA's ordered cleanups with a hard-stop fallback.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Stack is a last-in, first-out list of cleanup steps. Push each resource
// right after it starts, so Close tears down in the reverse of start order:
// the gRPC server stops before the database pool it calls into closes, and the
// tracer flushes last, after every step that might still emit spans.
//
// The zero value is usable and logs nothing; NewStack adds a logger. A Stack
// is safe for concurrent use.
type Stack struct {
	logger *slog.Logger

	mu    sync.Mutex
	steps []step
}

type step struct {
	name string
	fn   func(ctx context.Context) error
}

// NewStack returns an empty stack that logs each step to logger (nil logs
// nothing).
func NewStack(logger *slog.Logger) *Stack {
	return &Stack{logger: logger}
}

// Push adds a cleanup step; name identifies it in logs and errors. A step
// pushed while Close runs, or after it, is run by the next Close.
func (s *Stack) Push(name string, fn func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, step{name: name, fn: fn})
}

// Close runs every step in reverse order of Push and returns their errors
// joined, each wrapped with the step's name. It removes the steps it takes,
// so a second Close (say, from both a deferred call and a signal) is a no-op.
//
// Close keeps going after a step fails and after ctx ends: later steps still
// run, with the ended ctx, so each can take its fast path (a hard stop, a
// skipped flush) rather than be skipped. Close cannot interrupt a step; it
// waits for it. A step still running when ctx ends is logged at that moment,
// naming the step that holds up shutdown, and is reported as overrunning in
// the returned error even if it then succeeds.
func (s *Stack) Close(ctx context.Context) error {
	s.mu.Lock()
	steps := s.steps
	s.steps = nil
	s.mu.Unlock()

	logger := s.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := runStep(ctx, logger, steps[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runStep runs one step, logs its outcome and duration, and reports an
// overrun when ctx ended while the step was still running.
func runStep(ctx context.Context, logger *slog.Logger, st step) error {
	liveAtStart := ctx.Err() == nil
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- st.fn(ctx) }()

	var err error
	overran := false
	select {
	case err = <-done:
	case <-ctx.Done():
		if liveAtStart {
			// Name the step holding shutdown up now: if it never returns,
			// this is the last line the process writes.
			overran = true
			logger.WarnContext(ctx, "shutdown step overran deadline; waiting", "step", st.name, "elapsed", time.Since(start))
		}
		err = <-done
	}
	elapsed := time.Since(start)

	switch {
	case err != nil:
		logger.ErrorContext(ctx, "shutdown step failed", "step", st.name, "duration", elapsed, "err", err)
		return fmt.Errorf("close %s: %w", st.name, err)
	case overran:
		logger.WarnContext(ctx, "shutdown step finished late", "step", st.name, "duration", elapsed)
		return fmt.Errorf("close %s: overran deadline, took %s: %w", st.name, elapsed.Round(time.Millisecond), context.Cause(ctx))
	default:
		logger.InfoContext(ctx, "shutdown step done", "step", st.name, "duration", elapsed)
		return nil
	}
}
