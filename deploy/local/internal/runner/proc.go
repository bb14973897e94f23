package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// child is one service process the runner started.
type child struct {
	name string
	cmd  *exec.Cmd

	done chan struct{} // closed once the process has exited and been reaped

	mu         sync.Mutex
	stopping   bool // the runner asked it to stop
	unexpected bool // it exited before the runner asked it to
}

// supervisor starts children and notices when one exits on its own.
type supervisor struct {
	log      *slog.Logger
	children []*child

	// failed is cancelled, with the reason as its cause, when a child exits
	// that the runner did not stop.
	failed     context.Context
	cancelFail context.CancelCauseFunc

	// ready is set once the whole suite was healthy. Before that a child may
	// not have installed its signal handler yet, so dying of the runner's
	// SIGTERM is how it stops, not a failure.
	ready atomic.Bool
}

func newSupervisor(log *slog.Logger) *supervisor {
	failed, cancel := context.WithCancelCause(context.Background())
	return &supervisor{log: log, failed: failed, cancelFail: cancel}
}

// start runs bin as a child named name. The child gets its own process group,
// so a Ctrl-C in the terminal reaches only the runner, which then stops the
// children in order; and it is told to terminate if the runner dies.
func (s *supervisor) start(name, bin, dir string, env []string, out *lineWriter) error {
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild holding the output pipe must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	s.children = append(s.children, c)
	go func() {
		err := cmd.Wait()
		out.Close()
		c.mu.Lock()
		c.unexpected = !c.stopping
		c.mu.Unlock()
		close(c.done)
		if c.unexpected {
			s.cancelFail(fmt.Errorf("%s exited unexpectedly (%s)", name, exitDescription(cmd, err)))
		}
	}()
	return nil
}

// stopAll stops the children in reverse start order, the gateway first, and
// returns an error naming every child that did not exit cleanly.
func (s *supervisor) stopAll(grace time.Duration) error {
	var errs []error
	for i := len(s.children) - 1; i >= 0; i-- {
		c := s.children[i]
		start := time.Now()
		if err := c.stop(grace, s.ready.Load()); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("stopped", "name", c.name, "took", time.Since(start).Round(time.Millisecond))
	}
	return errors.Join(errs...)
}

// pids returns each child's process id by name.
func (s *supervisor) pids() map[string]int {
	pids := make(map[string]int, len(s.children))
	for _, c := range s.children {
		pids[c.name] = c.cmd.Process.Pid
	}
	return pids
}

// stop sends SIGTERM to the child's process group and waits up to grace for
// it to exit, then kills the group. It returns nil only when the child exited
// with status 0 after being asked to stop, or, while the suite was not yet
// ready, died of that SIGTERM.
func (c *child) stop(grace time.Duration, ready bool) error {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	pgid := -c.cmd.Process.Pid
	select {
	case <-c.done:
	default:
		if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s: %w", c.name, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-c.done:
		case <-timer.C:
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-c.done
			return &childError{name: c.name, reason: fmt.Sprintf("did not stop within %s and was killed", grace)}
		}
	}
	// Reap anything the child left behind in its group.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	c.mu.Lock()
	unexpected := c.unexpected
	c.mu.Unlock()
	ws, _ := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case unexpected:
		return &childError{name: c.name, reason: "exited before it was stopped (" + exitDescription(c.cmd, nil) + ")"}
	case !ready && ws.Signaled() && ws.Signal() == syscall.SIGTERM:
	case !c.cmd.ProcessState.Success():
		return &childError{name: c.name, reason: "exited with " + exitDescription(c.cmd, nil) + " when stopped"}
	}
	return nil
}

// childError names a child that did not end with a clean exit after the
// runner asked it to stop.
type childError struct {
	name   string
	reason string
}

func (e *childError) Error() string { return e.name + " " + e.reason }

// exitDescription says how a process ended, e.g. "exit status 1" or
// "signal: killed".
func exitDescription(cmd *exec.Cmd, waitErr error) string {
	if cmd.ProcessState != nil {
		return cmd.ProcessState.String()
	}
	if waitErr != nil {
		return waitErr.Error()
	}
	return "not started"
}
