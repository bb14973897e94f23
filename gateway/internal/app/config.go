package app

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Config is the gateway's configuration, read from the environment.
type Config struct {
	// HTTPAddr is where browsers and API clients connect (HTTP_ADDR, default :8080).
	HTTPAddr string
	// Upstream gRPC addresses (ACCOUNT_ADDR, BILLING_ADDR, MEDIA_ADDR,
	// ANALYSIS_ADDR, GENERATION_ADDR), all required.
	AccountAddr, BillingAddr, MediaAddr, AnalysisAddr, GenerationAddr string
	// ServiceAuthSecret signs the gateway's service credential (SERVICE_AUTH_SECRET, hex).
	ServiceAuthSecret []byte
	// PublicURL is the gateway's public origin (PUBLIC_URL).
	PublicURL string
	// DevMode serves the dev-only routes (DEV_MODE).
	DevMode bool
	// LogJSON selects JSON logs (LOG_FORMAT; JSON unless dev mode).
	LogJSON bool
	// ShutdownTimeout bounds graceful shutdown (SHUTDOWN_TIMEOUT, default 20s).
	ShutdownTimeout time.Duration
	// Getenv is kept for the standard OTEL_* variables.
	Getenv func(string) string
	// GAMeasurementID and GTMID turn on Google Analytics 4 / Tag Manager
	// (GA_MEASUREMENT_ID, GTM_ID), loaded only after the visitor consents.
	GAMeasurementID, GTMID string
	// TrustedProxies are peers (CIDRs) whose X-Forwarded-For names the
	// client (TRUSTED_PROXIES, comma-separated; none by default).
	TrustedProxies []netip.Prefix
	// LogWriter receives the logs (set in code; nil means os.Stderr).
	LogWriter io.Writer
	// MetricsListener is where /metrics is served with
	// OTEL_METRICS_EXPORTER=prometheus, instead of
	// OTEL_EXPORTER_PROMETHEUS_HOST/_PORT (set in code, by tests).
	MetricsListener net.Listener
	// PprofAddr, when set, serves net/http/pprof on its own listener
	// (GATEWAY_PPROF_ADDR, e.g. 127.0.0.1:6060; off by default). It is never
	// part of the public handler: bind it to loopback or a pod-local port.
	PprofAddr string
}

// LoadConfig reads and validates the configuration; every error names the
// variable to fix.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		HTTPAddr:        getenv("HTTP_ADDR"),
		AccountAddr:     getenv("ACCOUNT_ADDR"),
		BillingAddr:     getenv("BILLING_ADDR"),
		MediaAddr:       getenv("MEDIA_ADDR"),
		AnalysisAddr:    getenv("ANALYSIS_ADDR"),
		GenerationAddr:  getenv("GENERATION_ADDR"),
		PublicURL:       getenv("PUBLIC_URL"),
		GAMeasurementID: getenv("GA_MEASUREMENT_ID"),
		GTMID:           getenv("GTM_ID"),
		PprofAddr:       getenv("GATEWAY_PPROF_ADDR"),
		Getenv:          getenv,
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:8080"
	}
	switch strings.ToLower(getenv("DEV_MODE")) {
	case "1", "true", "yes", "on":
		c.DevMode = true
	}
	var errs []error
	for name, v := range map[string]string{
		"ACCOUNT_ADDR": c.AccountAddr, "BILLING_ADDR": c.BillingAddr, "MEDIA_ADDR": c.MediaAddr,
		"ANALYSIS_ADDR": c.AnalysisAddr, "GENERATION_ADDR": c.GenerationAddr,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	secret, err := hex.DecodeString(getenv("SERVICE_AUTH_SECRET"))
	if err != nil || len(secret) < 32 {
		errs = append(errs, errors.New("SERVICE_AUTH_SECRET must be at least 32 bytes, hex encoded"))
	}
	c.ServiceAuthSecret = secret
	switch f := strings.ToLower(getenv("LOG_FORMAT")); f {
	case "json":
		c.LogJSON = true
	case "text":
	case "":
		c.LogJSON = !c.DevMode
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q must be json or text", f))
	}
	for _, v := range strings.Split(getenv("TRUSTED_PROXIES"), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %w", err))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	c.ShutdownTimeout = 20 * time.Second
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("SHUTDOWN_TIMEOUT %q must be a positive duration", v))
		}
		c.ShutdownTimeout = d
	}
	return c, errors.Join(errs...)
}
