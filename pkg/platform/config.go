package platform

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/telemetry"
)

// Config is what every service reads from its environment. Each service's
// own Config embeds it and adds its ports and keys; nothing below a
// service's internal/app package reads the environment.
type Config struct {
	// Service is the service's name ("billing"); it names its logs, spans,
	// streams' producer and its service credential.
	Service string
	// DatabaseURL is the service's own PostgreSQL database (DATABASE_URL).
	DatabaseURL string
	// NATSURL is the NATS server with JetStream (NATS_URL).
	NATSURL string
	// GRPCAddr is where the gRPC server listens (GRPC_ADDR, default :50051).
	GRPCAddr string
	// AccountAddr is the account service, whose public keys verify access
	// tokens (ACCOUNT_ADDR).
	AccountAddr string
	// ServiceAuthSecret signs and verifies service credentials for internal
	// RPCs (SERVICE_AUTH_SECRET, hex, at least 32 bytes).
	ServiceAuthSecret []byte
	// PublicURL is where browsers reach the gateway (PUBLIC_URL).
	PublicURL string
	// DevMode enables local conveniences such as the dev mailbox (DEV_MODE).
	DevMode bool
	// LogJSON selects JSON logs (LOG_FORMAT=json, the default outside dev mode).
	LogJSON bool
	// ShutdownTimeout bounds graceful shutdown (SHUTDOWN_TIMEOUT, default
	// 20s); Kubernetes' terminationGracePeriodSeconds must exceed it.
	ShutdownTimeout time.Duration
	// StreamReplicas is the JetStream replica count for the service's streams
	// (NATS_STREAM_REPLICAS, default 1; production runs 3).
	StreamReplicas int
	// Getenv is kept for the OpenTelemetry SDK's standard OTEL_* variables.
	Getenv func(string) string

	// The fields below are set in code, never from the environment: tests
	// use them, and the account service sets Keys to its own key store.

	// Keys verifies access tokens; nil means account's GetSigningKeys.
	Keys authn.KeySource
	// LogWriter receives the logs; nil means os.Stderr.
	LogWriter io.Writer
	// Telemetry adds to the telemetry setup: tests pass span processors and
	// a MetricsListener to scrape.
	Telemetry telemetry.Options
}

// LoadConfig reads and validates the shared part of a service's
// configuration. Every error names the variable to fix.
func LoadConfig(service string, getenv func(string) string) (Config, error) {
	c := Config{
		Service:     service,
		DatabaseURL: getenv("DATABASE_URL"),
		NATSURL:     getenv("NATS_URL"),
		GRPCAddr:    or(getenv("GRPC_ADDR"), ":50051"),
		AccountAddr: getenv("ACCOUNT_ADDR"),
		PublicURL:   or(getenv("PUBLIC_URL"), "http://localhost:8080"),
		DevMode:     truthy(getenv("DEV_MODE")),
		Getenv:      getenv,
	}
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required"))
	}
	if c.NATSURL == "" {
		errs = append(errs, errors.New("NATS_URL is required"))
	}
	if c.AccountAddr == "" {
		errs = append(errs, errors.New("ACCOUNT_ADDR is required"))
	}
	secret, err := hex.DecodeString(getenv("SERVICE_AUTH_SECRET"))
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("SERVICE_AUTH_SECRET must be hex: %w", err))
	case len(secret) < 32:
		errs = append(errs, errors.New("SERVICE_AUTH_SECRET must be at least 32 bytes (64 hex characters)"))
	}
	c.ServiceAuthSecret = secret
	if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, fmt.Errorf("PUBLIC_URL %q must be an absolute URL", c.PublicURL))
	}
	switch f := strings.ToLower(getenv("LOG_FORMAT")); f {
	case "json":
		c.LogJSON = true
	case "text":
	case "":
		c.LogJSON = !c.DevMode
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q must be json or text", f))
	}
	if c.ShutdownTimeout, err = duration(getenv("SHUTDOWN_TIMEOUT"), 20*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("SHUTDOWN_TIMEOUT: %w", err))
	}
	c.StreamReplicas = 1
	if v := getenv("NATS_STREAM_REPLICAS"); v != "" {
		if _, err := fmt.Sscan(v, &c.StreamReplicas); err != nil || c.StreamReplicas < 1 || c.StreamReplicas > 5 {
			errs = append(errs, fmt.Errorf("NATS_STREAM_REPLICAS %q must be 1 to 5", v))
		}
	}
	return c, errors.Join(errs...)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func duration(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", v)
	}
	return d, nil
}
