// Package runner runs the whole Photoshoot Studio suite on one machine for
// development (`make run`): PostgreSQL and NATS JetStream, then the five
// services and the gateway as separate processes, started in order, checked
// until healthy, and stopped in reverse order on SIGINT or SIGTERM.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// readyTimeout bounds how long the suite may take to become healthy.
	readyTimeout = 60 * time.Second
	// stopGrace is how long each child gets between SIGTERM and SIGKILL; the
	// services' own shutdown timeout is shorter.
	stopGrace = 8 * time.Second
	// defaultHTTPAddr is where the web app is served unless HTTP_ADDR says
	// otherwise.
	defaultHTTPAddr = "127.0.0.1:8080"
)

// Config says where the suite's files are and what environment it runs in.
type Config struct {
	// Root is the repository root; children run in it. Default: the current
	// directory.
	Root string
	// DataDir holds everything that survives a restart. Default: Root/.data.
	DataDir string
	// BinDir holds the six binaries, named after their service. Default:
	// Root/bin.
	BinDir string
	// Getenv reads the runner's own environment, usually os.Getenv.
	Getenv func(string) string
	// Environ is passed on to every child (API keys, OTEL_* and so on), with
	// the runner's settings taking precedence; usually os.Environ().
	Environ []string
	// Stdout receives every line any process prints, prefixed with its name.
	Stdout io.Writer
}

// serviceNames lists the services in start order. The gateway starts last.
func serviceNames() []string {
	return []string{"account", "billing", "media", "analysis", "generation"}
}

// gatewayName is the gateway's binary and process name.
const gatewayName = "gateway"

// Run starts the suite, waits until ctx is done or a child exits on its own,
// then stops everything. It returns nil only if every child exited with
// status 0; otherwise the error names the children that did not.
func Run(ctx context.Context, cfg Config) (err error) {
	start := time.Now()
	cfg, err = cfg.withDefaults()
	if err != nil {
		return err
	}
	con := newConsole(cfg.Stdout, len("generation"), isTerminal(cfg.Stdout) && cfg.Getenv("NO_COLOR") == "")
	log := newLogger(con.writer("runner"))

	httpAddr := cfg.Getenv("HTTP_ADDR")
	if httpAddr == "" {
		httpAddr = defaultHTTPAddr
	}
	gw, err := parseHTTPAddr(httpAddr)
	if err != nil {
		return err
	}
	bins, err := findBinaries(cfg.BinDir)
	if err != nil {
		return err
	}
	d := dataLayout(cfg.DataDir)
	for _, dir := range []string{d.root, d.nats, d.media, d.mail} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
	}
	// A run.json left by a runner that was killed describes nothing now.
	if err := removeIfExists(d.run); err != nil {
		return err
	}
	secrets, err := loadSecrets(d.secrets)
	if err != nil {
		return err
	}

	// Everything started is pushed here and stopped in reverse order, under
	// its own deadline, however Run returns.
	var cleanups []func() error
	defer func() {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = nil // interrupted while starting: not a failure
		}
		for i := len(cleanups) - 1; i >= 0; i-- {
			err = errors.Join(err, cleanups[i]())
		}
	}()

	ports := newPortPicker(gw.port)
	pg, err := startPostgres(ctx, cfg.Getenv("DATABASE_URL"), d.postgres, ports, cfg.Environ, con.writer("postgres"), log.With("component", "postgres"))
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return pg.stop(ctx)
	})
	dbs := make(map[string]string)
	for _, name := range serviceNames() {
		dbs[name] = "photoshoot_" + name
	}
	if err := pg.createDatabases(ctx, slices.Sorted(maps.Values(dbs))); err != nil {
		return err
	}

	natsURL := cfg.Getenv("NATS_URL")
	if natsURL == "" {
		ns, err := startNATS(d.nats, log.With("component", "nats"))
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() error { stopNATS(ns); return nil })
		natsURL = ns.ClientURL()
		log.Info("NATS JetStream started", "url", natsURL, "dir", d.nats)
	}

	addrs := make(map[string]string)
	for _, name := range serviceNames() {
		port, err := ports.pick()
		if err != nil {
			return err
		}
		addrs[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	metrics, err := ports.metricsAddrs(append(serviceNames(), gatewayName), cfg.Getenv("OTEL_METRICS_EXPORTER"))
	if err != nil {
		return err
	}
	common := map[string]string{
		"NATS_URL":            natsURL,
		"DEV_MODE":            "1",
		"PUBLIC_URL":          fmt.Sprintf("http://localhost:%d", gw.port),
		"SERVICE_AUTH_SECRET": secrets["SERVICE_AUTH_SECRET"],
		"MEDIA_SIGNING_KEY":   secrets["MEDIA_SIGNING_KEY"],
		"MEDIA_DIR":           d.media,
		"MAIL_DIR":            d.mail,
		"LOG_FORMAT":          "text",
		// Shorter than stopGrace, so a child drains before it would be killed.
		"SHUTDOWN_TIMEOUT": (stopGrace - 2*time.Second).String(),
	}
	for _, name := range serviceNames() {
		common[strings.ToUpper(name)+"_ADDR"] = addrs[name]
	}

	sup := newSupervisor(log)
	cleanups = append(cleanups, func() error { return sup.stopAll(stopGrace) })
	for _, name := range serviceNames() {
		own := map[string]string{
			"DATABASE_URL":      pg.urlFor(dbs[name]),
			"GRPC_ADDR":         addrs[name],
			"OTEL_SERVICE_NAME": name,
		}
		maps.Copy(own, metricsEnv(metrics[name]))
		env := childEnv(cfg.Environ, common, own, "HTTP_ADDR")
		if err := sup.start(name, bins[name], cfg.Root, env, con.writer(name)); err != nil {
			return err
		}
	}
	own := map[string]string{
		"HTTP_ADDR":         gw.listen,
		"OTEL_SERVICE_NAME": gatewayName,
	}
	maps.Copy(own, metricsEnv(metrics[gatewayName]))
	env := childEnv(cfg.Environ, common, own, "DATABASE_URL", "GRPC_ADDR")
	if err := sup.start(gatewayName, bins[gatewayName], cfg.Root, env, con.writer(gatewayName)); err != nil {
		return err
	}

	gatewayURL := "http://" + gw.dial
	if err := waitHealthy(ctx, sup, addrs, gatewayURL); err != nil {
		if sup.failed.Err() != nil {
			log.Error("stopping everything", "reason", context.Cause(sup.failed))
			return nil // stopAll names the child that exited
		}
		return err
	}
	sup.ready.Store(true)
	con.println(fmt.Sprintf("Photoshoot Studio is running at http://localhost:%d (healthy in %.2fs after start)", gw.port, time.Since(start).Seconds()))
	metricsURLs := make(map[string]string, len(metrics))
	if len(metrics) > 0 {
		con.println("Prometheus metrics (scrape these):")
		for _, name := range append(serviceNames(), gatewayName) {
			metricsURLs[name] = "http://" + metrics[name] + "/metrics"
			con.println(fmt.Sprintf("  %-10s %s", name, metricsURLs[name]))
		}
	}

	state := runState{
		PID:      os.Getpid(),
		Gateway:  gatewayURL,
		Services: addrs,
		Metrics:  metricsURLs,
		NATS:     natsURL,
		Postgres: pg.adminURL,
		PIDs:     sup.pids(),
	}
	if err := state.write(d.run); err != nil {
		return err
	}
	cleanups = append(cleanups, func() error { return removeIfExists(d.run) })

	select {
	case <-ctx.Done():
		log.Info("stopping: gateway first, then the services in reverse start order")
	case <-sup.failed.Done():
		log.Error("stopping everything", "reason", context.Cause(sup.failed))
	}
	return nil
}

// waitHealthy waits until every service reports SERVING and the gateway's
// /readyz answers 200. It gives up when readyTimeout passes, ctx ends or a
// child exits.
func waitHealthy(ctx context.Context, sup *supervisor, addrs map[string]string, gatewayURL string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(sup.failed, func() { cancel(context.Cause(sup.failed)) })
	defer stop()
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, readyTimeout, fmt.Errorf("the suite was not healthy within %s", readyTimeout))
	defer cancelTimeout()
	for _, name := range serviceNames() {
		if err := waitServing(ctx, addrs[name]); err != nil {
			return fmt.Errorf("wait for %s: %w", name, err)
		}
	}
	if err := waitReadyz(ctx, gatewayURL+"/readyz"); err != nil {
		return fmt.Errorf("wait for %s: %w", gatewayName, err)
	}
	return nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return c, fmt.Errorf("find the repository root: %w", err)
		}
		c.Root = wd
	}
	root, err := filepath.Abs(c.Root)
	if err != nil {
		return c, fmt.Errorf("find the repository root: %w", err)
	}
	c.Root = root
	if c.DataDir == "" {
		c.DataDir = filepath.Join(c.Root, ".data")
	}
	if c.BinDir == "" {
		c.BinDir = filepath.Join(c.Root, "bin")
	}
	// Children get absolute paths, whatever directory they run in.
	if c.DataDir, err = filepath.Abs(c.DataDir); err != nil {
		return c, fmt.Errorf("resolve the data directory: %w", err)
	}
	if c.BinDir, err = filepath.Abs(c.BinDir); err != nil {
		return c, fmt.Errorf("resolve the binary directory: %w", err)
	}
	if c.Getenv == nil {
		c.Getenv = func(string) string { return "" }
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	return c, nil
}

// findBinaries returns the path of each binary, failing before anything
// starts if one is missing.
func findBinaries(dir string) (map[string]string, error) {
	bins := make(map[string]string)
	var missing []string
	for _, name := range append(serviceNames(), gatewayName) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, name)
			continue
		}
		bins[name] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s missing from %s: run `make build` first", strings.Join(missing, ", "), dir)
	}
	return bins, nil
}

// childEnv returns base with every key in the override maps replaced and the
// keys in unset removed. Later maps win over earlier ones.
func childEnv(base []string, common, own map[string]string, unset ...string) []string {
	set := maps.Clone(common)
	maps.Copy(set, own)
	env := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok || slices.Contains(unset, k) {
			continue
		}
		env = append(env, kv)
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		env = append(env, k+"="+set[k])
	}
	return env
}

// newLogger returns the runner's own logger. Lines are printed as they
// happen, so the time would only add noise.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}
