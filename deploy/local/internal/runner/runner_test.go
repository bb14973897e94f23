package runner

import (
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadSecretsKeepsThemAcrossRuns(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dev-secrets.json")
	first, err := loadSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SERVICE_AUTH_SECRET", "MEDIA_SIGNING_KEY"} {
		if len(first[name]) != 64 {
			t.Errorf("%s = %q, want 32 bytes in hex", name, first[name])
		}
	}
	if first["SERVICE_AUTH_SECRET"] == first["MEDIA_SIGNING_KEY"] {
		t.Error("the two secrets are equal")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	second, err := loadSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second load differs (-first +second):\n%s", diff)
	}
}

func TestLoadSecretsAddsMissingOnes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dev-secrets.json")
	b, _ := json.Marshal(map[string]string{"SERVICE_AUTH_SECRET": "kept"})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := loadSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	if got["SERVICE_AUTH_SECRET"] != "kept" || len(got["MEDIA_SIGNING_KEY"]) != 64 {
		t.Errorf("got %v, want the existing secret kept and the missing one generated", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("stat %v, %v: want mode 0600", fi.Mode(), err)
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "keeps_credentials_and_params", in: "postgres://u:p%40ss@db:6543/app?sslmode=disable", want: "postgres://u:p%40ss@db:6543/photoshoot_media?sslmode=disable"},
		{name: "no_database", in: "postgresql://postgres@127.0.0.1", want: "postgresql://postgres@127.0.0.1/photoshoot_media"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := withDatabase(u, "photoshoot_media"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChildEnv(t *testing.T) {
	t.Parallel()
	base := []string{"PATH=/bin", "DATABASE_URL=postgres://admin", "ANTHROPIC_API_KEY=k", "HTTP_ADDR=:9", "NATS_URL=old"}
	got := childEnv(base, map[string]string{"NATS_URL": "nats://n", "DEV_MODE": "1"}, map[string]string{"DATABASE_URL": "postgres://own"}, "HTTP_ADDR")
	want := []string{"PATH=/bin", "ANTHROPIC_API_KEY=k", "DATABASE_URL=postgres://own", "DEV_MODE=1", "NATS_URL=nats://n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestParseHTTPAddrRefusesABusyPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = parseHTTPAddr(l.Addr().String())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("got %v, want EADDRINUSE", err)
	}
}

func TestParseHTTPAddr(t *testing.T) {
	t.Parallel()
	port := freeTestPort(t)
	got, err := parseHTTPAddr(":" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	want := httpAddr{listen: ":" + strconv.Itoa(port), dial: "127.0.0.1:" + strconv.Itoa(port), port: port}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseHTTPAddr("127.0.0.1:0"); err == nil {
		t.Error("port 0 accepted; the runner could not reach the gateway")
	}
}

func TestPortPickerNeverRepeats(t *testing.T) {
	t.Parallel()
	p := newPortPicker()
	seen := map[int]bool{}
	for range 20 {
		port, err := p.pick()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] || port == 5432 || port == 4222 || port == 8080 {
			t.Fatalf("picked %d twice or a reserved port", port)
		}
		seen[port] = true
	}
}

func TestFindBinariesNamesTheMissingOnes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"account", "billing", "media", "analysis", "generation"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := findBinaries(dir); err == nil {
		t.Fatal("no error with the gateway missing")
	}
	if err := os.WriteFile(filepath.Join(dir, "gateway"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	bins, err := findBinaries(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) != 6 {
		t.Errorf("got %d binaries, want 6", len(bins))
	}
}

func freeTestPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestMetricsAddrs(t *testing.T) {
	t.Parallel()
	names := append(serviceNames(), gatewayName)
	for _, exporter := range []string{"", "prometheus"} {
		p := newPortPicker()
		got, err := p.metricsAddrs(names, exporter)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, name := range names {
			addr := got[name]
			host, _, err := net.SplitHostPort(addr)
			if err != nil || host != "127.0.0.1" || seen[addr] {
				t.Errorf("exporter %q: %s metrics on %q, want a loopback address of its own", exporter, name, addr)
			}
			seen[addr] = true
			env := metricsEnv(addr)
			if env["OTEL_METRICS_EXPORTER"] != "prometheus" || net.JoinHostPort(env["OTEL_EXPORTER_PROMETHEUS_HOST"], env["OTEL_EXPORTER_PROMETHEUS_PORT"]) != addr {
				t.Errorf("metricsEnv(%q) = %v", addr, env)
			}
		}
	}
	// Another exporter chosen by the user is inherited: no ports, no
	// overriding environment.
	for _, exporter := range []string{"otlp", "console", "none"} {
		got, err := newPortPicker().metricsAddrs(names, exporter)
		if err != nil || len(got) != 0 {
			t.Errorf("exporter %q: addresses %v, %v; want none", exporter, got, err)
		}
		if env := metricsEnv(got[gatewayName]); env != nil {
			t.Errorf("exporter %q: metricsEnv = %v, want none", exporter, env)
		}
	}
}
