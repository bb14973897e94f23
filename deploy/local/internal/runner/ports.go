package runner

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/connectengine/photoshoot/pkg/freeport"
)

// portPicker hands out free loopback ports, never the same one twice and
// never a well-known port another server on the machine may own.
type portPicker struct {
	taken map[int]bool
}

func newPortPicker(avoid ...int) *portPicker {
	p := &portPicker{taken: map[int]bool{5432: true, 4222: true, 8080: true}}
	for _, port := range avoid {
		p.taken[port] = true
	}
	return p
}

// pick returns a port that is free now (freeport.Pick: below the kernel's
// ephemeral range, so no outgoing connection or port-0 listener elsewhere
// on the machine takes it before the child binds it).
func (p *portPicker) pick() (int, error) { return freeport.Pick(p.taken) }

// httpAddr is where the gateway listens and how the runner reaches it.
type httpAddr struct {
	listen string // HTTP_ADDR as given to the gateway
	dial   string // host:port the runner polls
	port   int
}

// parseHTTPAddr checks HTTP_ADDR and that nothing listens there yet, so a
// second `make run` fails at once with a clear message instead of a gateway
// crash after PostgreSQL started.
func parseHTTPAddr(addr string) (httpAddr, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return httpAddr{}, fmt.Errorf("HTTP_ADDR %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return httpAddr{}, fmt.Errorf("HTTP_ADDR %q needs an explicit port", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return httpAddr{}, fmt.Errorf("port %d is already in use (is photoshoot-local already running?): stop whatever listens there or set HTTP_ADDR=127.0.0.1:PORT: %w", port, err)
		}
		return httpAddr{}, fmt.Errorf("listen on HTTP_ADDR %s: %w", addr, err)
	}
	if err := l.Close(); err != nil {
		return httpAddr{}, fmt.Errorf("release HTTP_ADDR %s: %w", addr, err)
	}
	dialHost := host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		dialHost = "127.0.0.1"
	}
	return httpAddr{listen: addr, dial: net.JoinHostPort(dialHost, portStr), port: port}, nil
}

// metricsAddrs gives each named process a loopback address of its own for
// its Prometheus /metrics (OTEL_METRICS_EXPORTER=prometheus), unless exporter,
// the runner's own OTEL_METRICS_EXPORTER, chose another one (otlp, console,
// none): the children then inherit that choice and serve nothing.
func (p *portPicker) metricsAddrs(names []string, exporter string) (map[string]string, error) {
	if e := strings.TrimSpace(exporter); e != "" && e != "prometheus" {
		return nil, nil
	}
	addrs := make(map[string]string, len(names))
	for _, name := range names {
		port, err := p.pick()
		if err != nil {
			return nil, err
		}
		addrs[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	return addrs, nil
}

// metricsEnv is the environment that makes a child serve /metrics on addr;
// none when addr is empty.
func metricsEnv(addr string) map[string]string {
	if addr == "" {
		return nil
	}
	host, port, _ := net.SplitHostPort(addr)
	return map[string]string{
		"OTEL_METRICS_EXPORTER":         "prometheus",
		"OTEL_EXPORTER_PROMETHEUS_HOST": host,
		"OTEL_EXPORTER_PROMETHEUS_PORT": port,
	}
}
