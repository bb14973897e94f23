// Package suite builds the suite's binaries and runs them the way `make run`
// does, through the local runner (photoshoot-local: PostgreSQL, NATS, five
// services and the gateway as separate processes). The end-to-end tests and
// the gateway benchmark (gwbench) share it, so both measure the real thing.
package suite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/connectengine/photoshoot/pkg/freeport"
)

// startTimeout bounds how long the runner may take to report the suite
// healthy (a first start runs initdb).
const startTimeout = 120 * time.Second

// Build compiles the runner and the six binaries into dir.
func Build(dir string) error {
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/connectengine/photoshoot/deploy/local/cmd/photoshoot-local",
		"github.com/connectengine/photoshoot/services/account/cmd/account",
		"github.com/connectengine/photoshoot/services/billing/cmd/billing",
		"github.com/connectengine/photoshoot/services/media/cmd/media",
		"github.com/connectengine/photoshoot/services/analysis/cmd/analysis",
		"github.com/connectengine/photoshoot/services/generation/cmd/generation",
		"github.com/connectengine/photoshoot/gateway/cmd/gateway",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the suite: %w\n%s", err, out)
	}
	return nil
}

// Options say where a suite runs from.
type Options struct {
	// Root is the repository root; the children run in it.
	Root string
	// Bin holds the binaries Build wrote.
	Bin string
	// Data is the suite's data directory, normally a fresh temporary one: the
	// runner then starts its own PostgreSQL and embedded NATS there.
	Data string
	// Env is added to the runner's environment (and so every child's), e.g.
	// GATEWAY_PPROF_ADDR.
	Env []string
}

// Suite is a running suite.
type Suite struct {
	// Base is the gateway's origin as browsers see it (PUBLIC_URL, on
	// localhost so sign-in links and cookies agree).
	Base string
	// Gateway is the gateway's address as run.json gives it.
	Gateway string
	// Services maps each service's name to its gRPC address.
	Services map[string]string
	// PIDs maps each child's name ("gateway", "account", …) to its process.
	PIDs map[string]int
	// Postgres is the server's URL (each service has its database there,
	// photoshoot_<service>).
	Postgres string
	// Data is the data directory (dev-secrets.json, run.json, the mailbox).
	Data string
	// Output collects everything the runner and its children print.
	Output *Buffer

	stop func()
}

// runJSON is what photoshoot-local writes to <data>/run.json once healthy.
type runJSON struct {
	Gateway  string            `json:"gateway"`
	Services map[string]string `json:"services"`
	PIDs     map[string]int    `json:"pids"`
	Postgres string            `json:"postgres"`
}

// Start runs photoshoot-local with the gateway on a free port and waits
// until it writes run.json, which it does once every process is healthy.
// The runner's process dies with ours (Pdeathsig), and its children with it.
func Start(opt Options) (*Suite, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Suite{Data: opt.Data, Output: &Buffer{}}
	cmd := exec.Command(filepath.Join(opt.Bin, "photoshoot-local"), "-root", opt.Root, "-data", opt.Data, "-bin", opt.Bin)
	cmd.Env = append(Environ("DATABASE_URL", "NATS_URL", "HTTP_ADDR", "GA_MEASUREMENT_ID", "GTM_ID"),
		"HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port))
	cmd.Env = append(cmd.Env, opt.Env...)
	cmd.Stdout, cmd.Stderr = s.Output, s.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start photoshoot-local: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.After(startTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(filepath.Join(opt.Data, "run.json")); err == nil {
			var run runJSON
			if err := json.Unmarshal(b, &run); err != nil {
				s.Stop()
				return nil, fmt.Errorf("parse run.json: %w", err)
			}
			s.Base = "http://localhost:" + strconv.Itoa(port)
			s.Gateway, s.Services, s.PIDs, s.Postgres = run.Gateway, run.Services, run.PIDs, run.Postgres
			return s, nil
		}
		select {
		case <-done:
			return nil, fmt.Errorf("photoshoot-local exited before it was healthy:\n%s", s.Output)
		case <-deadline:
			s.Stop()
			return nil, fmt.Errorf("run.json did not appear within %s:\n%s", startTimeout, s.Output)
		case <-tick.C:
		}
	}
}

// Stop stops the runner, which stops every child, and waits for it.
func (s *Suite) Stop() { s.stop() }

// Secrets are the dev secrets the runner generated (SERVICE_AUTH_SECRET,
// MEDIA_SIGNING_KEY), hex encoded.
func (s *Suite) Secrets() (map[string]string, error) {
	raw, err := os.ReadFile(filepath.Join(s.Data, "dev-secrets.json"))
	if err != nil {
		return nil, err
	}
	var secrets map[string]string
	if err := json.Unmarshal(raw, &secrets); err != nil {
		return nil, fmt.Errorf("parse dev secrets: %w", err)
	}
	return secrets, nil
}

// Environ returns this process's environment minus the given keys.
func Environ(without ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(without, k) {
			out = append(out, kv)
		}
	}
	return out
}

// FreePort is a TCP port on 127.0.0.1 that is free now (see freeport).
func FreePort() (int, error) { return freeport.Pick(nil) }

// Root is the repository root: the nearest directory at or above the
// current one holding go.work.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work at or above the current directory")
		}
		dir = parent
	}
}

// Buffer collects a process's output while others read it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
