// Package telemetrytest reads a running process's /metrics the way
// Prometheus does, for tests that check what a service exports after doing
// real work.
package telemetrytest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/connectengine/photoshoot/pkg/telemetry"
)

// Metrics is one scrape, by metric family name.
type Metrics map[string]*dto.MetricFamily

// Scrape fetches http://addr/metrics in the Prometheus text format and
// parses it.
func Scrape(t testing.TB, addr string) Metrics {
	t.Helper()
	m, err := scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// WaitFor scrapes addr until check returns nil, failing the test with
// check's last error after 30 s. Metrics fed by background work (the outbox
// relay, consumers, observable gauges) settle only eventually.
func WaitFor(t testing.TB, addr string, check func(Metrics) error) Metrics {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := scrape(addr)
		if err == nil {
			if err = check(m); err == nil {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func scrape(addr string) (Metrics, error) {
	resp, err := http.Get("http://" + addr + telemetry.MetricsPath)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("scrape: content type %q, want the Prometheus text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("parse scrape: %w\n%s", err, body)
	}
	return Metrics(families), nil
}

// Value adds up the samples of name whose labels include every pair in
// match ("label", "value", …), and reports whether any series matched. name
// is the sample name: for a histogram, NAME_count and NAME_sum are its
// observation count and sum.
func (m Metrics) Value(name string, match ...string) (float64, bool) {
	if len(match)%2 != 0 {
		panic("telemetrytest: match needs label and value pairs")
	}
	family, part := name, ""
	if _, ok := m[name]; !ok {
		for _, suffix := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				family, part = base, suffix
			}
		}
	}
	f, ok := m[family]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
	for _, s := range f.GetMetric() {
		if !matches(s.GetLabel(), match) {
			continue
		}
		found = true
		switch {
		case part == "_count" && s.GetHistogram() != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		case part == "_sum" && s.GetHistogram() != nil:
			sum += s.GetHistogram().GetSampleSum()
		case s.GetCounter() != nil:
			sum += s.GetCounter().GetValue()
		case s.GetGauge() != nil:
			sum += s.GetGauge().GetValue()
		case s.GetUntyped() != nil:
			sum += s.GetUntyped().GetValue()
		default:
			found = false
		}
	}
	return sum, found
}

// Labels returns the label sets of name's series, for error messages.
func (m Metrics) Labels(name string) []map[string]string {
	var out []map[string]string
	for _, s := range m[name].GetMetric() {
		l := map[string]string{}
		for _, p := range s.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		out = append(out, l)
	}
	return out
}

func matches(labels []*dto.LabelPair, match []string) bool {
	for i := 0; i < len(match); i += 2 {
		ok := false
		for _, l := range labels {
			if l.GetName() == match[i] && l.GetValue() == match[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
