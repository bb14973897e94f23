package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// runJSON is what photoshoot-local writes to <data>/run.json once healthy.
type runJSON struct {
	PID      int               `json:"pid"`
	Gateway  string            `json:"gateway"`
	Services map[string]string `json:"services"`
	Metrics  map[string]string `json:"metrics"`
	NATS     string            `json:"nats"`
	Postgres string            `json:"postgres"`
	PIDs     map[string]int    `json:"pids"`
}

// TestSmoke builds photoshoot-local and the six real binaries, runs the suite
// twice over one data directory (the first run starts PostgreSQL with
// initdb, the second reuses it) and checks that it becomes healthy, serves
// the API reference, and stops cleanly with nothing left running.
func TestSmoke(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin+string(filepath.Separator),
		"github.com/connectengine/photoshoot/deploy/local/cmd/photoshoot-local",
		"github.com/connectengine/photoshoot/services/account/cmd/account",
		"github.com/connectengine/photoshoot/services/billing/cmd/billing",
		"github.com/connectengine/photoshoot/services/media/cmd/media",
		"github.com/connectengine/photoshoot/services/analysis/cmd/analysis",
		"github.com/connectengine/photoshoot/services/generation/cmd/generation",
		"github.com/connectengine/photoshoot/gateway/cmd/gateway",
	)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()

	first := runSuite(t, root, bin, data)
	conn, err := pgx.Connect(t.Context(), first.Postgres)
	if err != nil {
		t.Fatalf("connect to the suite's PostgreSQL: %v", err)
	}
	if _, err := conn.Exec(t.Context(), "CREATE TABLE smoke_marker (id int)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())
	secrets, err := os.ReadFile(filepath.Join(data, "dev-secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	first.stop(t)

	second := runSuite(t, root, bin, data)
	conn, err = pgx.Connect(t.Context(), second.Postgres)
	if err != nil {
		t.Fatalf("connect to the suite's PostgreSQL: %v", err)
	}
	if _, err := conn.Exec(t.Context(), "SELECT FROM smoke_marker"); err != nil {
		t.Errorf("data written in the first run is gone: %v", err)
	}
	conn.Close(t.Context())
	if again, err := os.ReadFile(filepath.Join(data, "dev-secrets.json")); err != nil || !bytes.Equal(again, secrets) {
		t.Errorf("dev-secrets.json changed between runs (err %v)", err)
	}
	second.stop(t)
}

// suite is one running photoshoot-local.
type suite struct {
	runJSON
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	data string
}

// runSuite starts photoshoot-local, waits until it is healthy and checks
// every service, the gateway and the API reference.
func runSuite(t *testing.T, root, bin, data string) *suite {
	t.Helper()
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	s := &suite{out: &lockedBuffer{}, done: make(chan struct{}), data: data}
	s.cmd = exec.Command(filepath.Join(bin, "photoshoot-local"), "-root", root, "-data", data, "-bin", bin)
	s.cmd.Env = append(environWithout("DATABASE_URL", "NATS_URL", "HTTP_ADDR", "OTEL_METRICS_EXPORTER"), "HTTP_ADDR="+httpAddr)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(20 * time.Second):
				s.cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("photoshoot-local output:\n%s", s.out.String())
		}
	})

	s.runJSON = waitForRunJSON(t, filepath.Join(data, "run.json"), s.done)
	t.Logf("photoshoot-local healthy %s after it was started", time.Since(started).Round(time.Millisecond))
	if got, want := s.Gateway, "http://"+httpAddr; got != want {
		t.Errorf("run.json gateway = %q, want %q", got, want)
	}
	for _, name := range []string{"account", "billing", "media", "analysis", "generation"} {
		addr := s.Services[name]
		if addr == "" {
			t.Fatalf("run.json has no address for %s", name)
		}
		if got := healthStatus(t, addr); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health = %v, want SERVING", name, got)
		}
	}
	if len(s.PIDs) != 6 {
		t.Errorf("run.json lists %d pids, want 6", len(s.PIDs))
	}
	// Every process serves Prometheus text; the health checks the runner
	// made are already counted.
	for _, name := range []string{"account", "billing", "media", "analysis", "generation", "gateway"} {
		want := []string{`rpc_server_call_duration_seconds_count{`, `rpc_method="grpc.health.v1.Health/Check"`, `photoshoot_outbox_depth`}
		if name == "gateway" {
			want = []string{`http_server_request_duration_seconds_count{`, `http_route="/readyz"`}
		}
		body := httpText(t, s.Metrics[name])
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s metrics at %q lack %s", name, s.Metrics[name], w)
			}
		}
	}
	if code := httpGet(t, s.Gateway+"/readyz", nil); code != http.StatusOK {
		t.Errorf("GET /readyz = %d, want 200", code)
	}
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if code := httpGet(t, s.Gateway+"/openapi.json", &doc); code != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d, want 200", code)
	}
	for _, p := range []string{"/v1/auth/magic-links", "/v1/me", "/v1/billing/balance", "/v1/images", "/v1/generations", "/v1/scenes"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("/openapi.json has no path %s", p)
		}
	}
	return s
}

// stop sends SIGTERM and checks that photoshoot-local exits 0 within 10s,
// leaving no child, PostgreSQL or run.json behind.
func (s *suite) stop(t *testing.T) {
	t.Helper()
	stopping := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("photoshoot-local did not exit within 10s of SIGTERM")
	}
	t.Logf("photoshoot-local exited %s after SIGTERM", time.Since(stopping).Round(time.Millisecond))
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("photoshoot-local exit code = %d, want 0", code)
	}
	for name, pid := range s.PIDs {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) outlived the runner: kill 0 = %v", name, pid, err)
		}
	}
	u, err := url.Parse(s.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Errorf("PostgreSQL at %s still accepts connections", u.Host)
	}
	if _, err := os.Stat(filepath.Join(s.data, "run.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run.json after exit: %v, want it removed", err)
	}
}

// waitForRunJSON polls for path until photoshoot-local writes it, failing
// at once if the process exits first.
func waitForRunJSON(t *testing.T, path string, exited <-chan struct{}) runJSON {
	t.Helper()
	deadline := time.After(90 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			var r runJSON
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("parse run.json: %v", err)
			}
			return r
		}
		select {
		case <-exited:
			t.Fatal("photoshoot-local exited before it was healthy")
		case <-deadline:
			t.Fatal("run.json did not appear within 90s")
		case <-tick.C:
		}
	}
}

func healthStatus(t *testing.T, addr string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check %s: %v", addr, err)
	}
	return resp.GetStatus()
}

// httpGet fetches url and, when into is not nil, decodes a JSON body into it.
func httpGet(t *testing.T, url string, into any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("GET %s: body is not JSON: %v", url, err)
		}
	}
	return resp.StatusCode
}

// httpText fetches url, which must answer 200, and returns the body.
func httpText(t *testing.T, url string) string {
	t.Helper()
	if url == "" {
		t.Error("no URL")
		return ""
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// environWithout returns this process's environment minus the given keys.
func environWithout(keys ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(keys, k) {
			env = append(env, kv)
		}
	}
	return env
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
