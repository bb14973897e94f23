package runner

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// These tests run Run in-process against a stand-in binary (testdata/standin)
// playing all six services, to reach the failure paths the real suite never
// takes. smoke_test.go runs the real binaries.

// buildStandin builds the stand-in into a temporary directory and links it
// there under the six binary names.
func buildStandin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "standin")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./testdata/standin").CombinedOutput(); err != nil {
		t.Fatalf("build stand-in: %v\n%s", err, out)
	}
	for _, name := range append(serviceNames(), gatewayName) {
		if err := os.Symlink(bin, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// standinConfig returns a Config running the stand-ins with the given extra
// environment. The runner starts its own PostgreSQL in the test's data dir,
// as `make run` does, so the test never creates the fixed photoshoot_*
// databases on a shared server.
func standinConfig(t *testing.T, environ ...string) Config {
	t.Helper()
	bin := buildStandin(t)
	env := map[string]string{
		"HTTP_ADDR": net.JoinHostPort("127.0.0.1", itoa(freeTestPort(t))),
		"NO_COLOR":  "1",
	}
	return Config{
		Root:    t.TempDir(),
		DataDir: t.TempDir(),
		BinDir:  bin,
		Getenv:  func(k string) string { return env[k] },
		Environ: append([]string{"PATH=" + os.Getenv("PATH")}, environ...),
		Stdout:  t.Output(),
	}
}

// runAsync starts Run and returns a channel with its result.
func runAsync(ctx context.Context, cfg Config) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	return done
}

// failedChildren lists the children err names as not having exited cleanly.
func failedChildren(err error) []string {
	var names []string
	var walk func(error)
	walk = func(err error) {
		var ce *childError
		if errors.As(err, &ce) && ce == err {
			names = append(names, ce.name)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if e := errors.Unwrap(err); e != nil {
			walk(e)
		}
	}
	walk(err)
	slices.Sort(names)
	return names
}

func TestRunStopsEverythingWhenAChildExits(t *testing.T) {
	t.Parallel()
	cfg := standinConfig(t, "STANDIN_EXIT=media")
	select {
	case err := <-runAsync(t.Context(), cfg):
		if got := failedChildren(err); !slices.Equal(got, []string{"media"}) {
			t.Errorf("Run() = %v; failed children %v, want [media]", err, got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s after a child exited")
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "run.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run.json: %v, want it never written", err)
	}
}

func TestRunNamesAChildThatFailsToStop(t *testing.T) {
	t.Parallel()
	cfg := standinConfig(t, "STANDIN_STOP_EXIT=billing")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := runAsync(ctx, cfg)
	state := waitRunState(t, cfg.DataDir, done)
	if len(state.PIDs) != 6 {
		t.Fatalf("run.json lists %d pids, want 6", len(state.PIDs))
	}
	cancel()
	select {
	case err := <-done:
		if got := failedChildren(err); !slices.Equal(got, []string{"billing"}) {
			t.Errorf("Run() = %v; failed children %v, want [billing]", err, got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of being cancelled")
	}
	for name, pid := range state.PIDs {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists: kill 0 = %v", name, pid, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "run.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run.json after exit: %v, want it removed", err)
	}
}

func TestRunRefusesABusyHTTPAddr(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := Config{
		Root:    t.TempDir(),
		DataDir: t.TempDir(),
		BinDir:  t.TempDir(),
		Getenv: func(k string) string {
			if k == "HTTP_ADDR" {
				return l.Addr().String()
			}
			return ""
		},
		Stdout: t.Output(),
	}
	if err := Run(t.Context(), cfg); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Run() = %v, want EADDRINUSE", err)
	}
}

// waitRunState polls for run.json until the suite is healthy, failing early
// if Run returns first.
func waitRunState(t *testing.T, dataDir string, done <-chan error) runState {
	t.Helper()
	path := filepath.Join(dataDir, "run.json")
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			var s runState
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatalf("parse run.json: %v", err)
			}
			return s
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before the suite was healthy: %v", err)
		case <-deadline:
			t.Fatal("run.json did not appear within 60s")
		case <-tick.C:
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
