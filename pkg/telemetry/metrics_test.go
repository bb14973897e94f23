package telemetry_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/connectengine/photoshoot/pkg/telemetry"
	"github.com/connectengine/photoshoot/pkg/telemetry/telemetrytest"
)

// setupScraped runs Setup with the Prometheus exporter. Setup installs
// globals, so callers must not run in parallel.
func setupScraped(t *testing.T, env map[string]string, lis net.Listener) *telemetry.Telemetry {
	t.Helper()
	tp, mp, prop := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
		otel.SetTextMapPropagator(prop)
	})
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{
		ServiceName:     "photoshoot-test",
		Getenv:          func(k string) string { return env[k] },
		MetricsListener: lis,
	})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

func TestSetup_prometheus_serves_what_the_meter_provider_records(t *testing.T) {
	lis := listen(t)
	tel := setupScraped(t, map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}, lis)
	if tel.MetricsAddr.String() != lis.Addr().String() {
		t.Fatalf("MetricsAddr = %v, want the listener's %v", tel.MetricsAddr, lis.Addr())
	}
	meter := tel.MeterProvider.Meter("test")
	counter, err := meter.Int64Counter("photoshoot.test.things")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(t.Context(), 3)
	counter.Add(t.Context(), 4)
	hist, err := meter.Float64Histogram("photoshoot.test.wait")
	if err != nil {
		t.Fatal(err)
	}
	hist.Record(t.Context(), 0.25)

	m := telemetrytest.Scrape(t, tel.MetricsAddr.String())
	if got, ok := m.Value("photoshoot_test_things_total"); !ok || got != 7 {
		t.Errorf("photoshoot_test_things_total = %v (found %v), want 7", got, ok)
	}
	if got, ok := m.Value("photoshoot_test_wait_count"); !ok || got != 1 {
		t.Errorf("photoshoot_test_wait_count = %v (found %v), want 1", got, ok)
	}
	if _, ok := m.Value("target_info", "service_name", "photoshoot-test"); !ok {
		t.Errorf("no target_info with service_name=photoshoot-test: %v", m.Labels("target_info"))
	}

	// Shutdown stops the endpoint.
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if resp, err := http.Get("http://" + tel.MetricsAddr.String() + telemetry.MetricsPath); err == nil {
		resp.Body.Close()
		t.Errorf("metrics still served after Shutdown: %s", resp.Status)
	}
}

func TestSetup_prometheus_binds_host_and_port_from_the_environment(t *testing.T) {
	tel := setupScraped(t, map[string]string{
		"OTEL_METRICS_EXPORTER":         "prometheus",
		"OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
		"OTEL_EXPORTER_PROMETHEUS_PORT": "0",
	}, nil)
	addr, ok := tel.MetricsAddr.(*net.TCPAddr)
	if !ok || !addr.IP.IsLoopback() || addr.Port == 0 {
		t.Fatalf("MetricsAddr = %v, want 127.0.0.1 and a bound port", tel.MetricsAddr)
	}
	telemetrytest.Scrape(t, addr.String())
}

func TestSetup_prometheus_rejects_a_taken_port_and_a_stray_listener(t *testing.T) {
	taken := listen(t)
	defer taken.Close()
	_, port, _ := net.SplitHostPort(taken.Addr().String())
	tp, mp := otel.GetTracerProvider(), otel.GetMeterProvider()
	defer func() { otel.SetTracerProvider(tp); otel.SetMeterProvider(mp) }()

	_, err := telemetry.Setup(t.Context(), telemetry.Options{ServiceName: "s", Getenv: func(k string) string {
		return map[string]string{
			"OTEL_METRICS_EXPORTER":         "prometheus",
			"OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
			"OTEL_EXPORTER_PROMETHEUS_PORT": port,
		}[k]
	}})
	if err == nil {
		t.Error("Setup succeeded on a port in use")
	}

	// A listener without the prometheus exporter is a mistake, and Setup
	// still closes it.
	stray := listen(t)
	_, err = telemetry.Setup(t.Context(), telemetry.Options{ServiceName: "s", MetricsListener: stray})
	if err == nil {
		t.Error("Setup accepted a metrics listener with no prometheus exporter")
	}
	if _, err := stray.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("stray listener not closed: Accept = %v", err)
	}
}
