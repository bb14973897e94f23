package k8s

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// metricsPort is where every application pod serves Prometheus text.
const metricsPort = 9464

// TestPodsServeMetrics checks, in every overlay, that each workload declares the metrics port
// and that its ConfigMap makes the process serve Prometheus text there on every interface
// (the scrape comes from another pod).
func TestPodsServeMetrics(t *testing.T) {
	t.Parallel()
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := mustRender(t, dir)
			for _, name := range workloads {
				d := r.deployment(name)
				if d == nil {
					t.Fatalf("Deployment %s missing", name)
				}
				c := d.Spec.Template.Spec.Containers[0]
				if port := namedPort(c, "metrics"); port != metricsPort {
					t.Errorf("%s: container port named metrics = %d, want %d", name, port, metricsPort)
				}
				env := map[string]string{}
				for _, from := range c.EnvFrom {
					if from.ConfigMapRef == nil {
						continue
					}
					if cm := r.configMap(from.ConfigMapRef.Name); cm != nil {
						for k, v := range cm.Data {
							env[k] = v
						}
					}
				}
				for k, want := range map[string]string{
					"OTEL_METRICS_EXPORTER":         "prometheus",
					"OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0",
					"OTEL_EXPORTER_PROMETHEUS_PORT": "9464",
				} {
					if env[k] != want {
						t.Errorf("%s: %s = %q, want %q", name, k, env[k], want)
					}
				}
			}
		})
	}
}

func namedPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// TestPodMonitorScrapesEveryWorkload checks that where monitoring is deployed (prod) the
// PodMonitor selects every workload's pods on the metrics port, with the workload's name as
// the job, which the alerting rules rely on.
func TestPodMonitorScrapesEveryWorkload(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"overlays/prod", "tests/prod-keda"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := mustRender(t, dir)
			pm := r.custom1("PodMonitor", "photoshoot")
			if pm == nil {
				t.Fatal("PodMonitor photoshoot missing")
			}
			var sel metav1.LabelSelector
			if err := remarshal(lookup(pm, "spec.selector"), &sel); err != nil {
				t.Fatalf("selector: %v", err)
			}
			for _, name := range workloads {
				if !selectorMatches(&sel, r.deployment(name).Spec.Template.Labels) {
					t.Errorf("PodMonitor does not select %s's pods", name)
				}
			}
			var endpoints []struct{ Port, Path string }
			if err := remarshal(lookup(pm, "spec.podMetricsEndpoints"), &endpoints); err != nil {
				t.Fatalf("endpoints: %v", err)
			}
			if len(endpoints) != 1 || endpoints[0].Port != "metrics" || endpoints[0].Path != "/metrics" {
				t.Errorf("endpoints = %+v, want port metrics, path /metrics", endpoints)
			}
			if got := lookup(pm, "spec.jobLabel"); got != "app.kubernetes.io/name" {
				t.Errorf("jobLabel = %v, want app.kubernetes.io/name (job = workload)", got)
			}
			if r.custom1("PrometheusRule", "photoshoot") == nil {
				t.Error("PrometheusRule photoshoot missing")
			}
		})
	}
}

// TestMetricsPortIsOpenToPrometheusOnly evaluates the NetworkPolicies: Prometheus in the
// monitoring namespace reaches every workload's metrics port and nothing else of theirs; no
// workload and no other namespace reaches a metrics port.
func TestMetricsPortIsOpenToPrometheusOnly(t *testing.T) {
	t.Parallel()
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := mustRender(t, dir)
			pods, ports := appPods(t, r)
			prometheus := pod{"monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}}
			elsewhere := pod{"default", map[string]string{"app.kubernetes.io/name": "prometheus"}}
			for _, to := range workloads {
				dst := pods[to]
				if !allows(r.policies, r.namespace, prometheus, endpoint{pod: &dst, port: metricsPort}) {
					t.Errorf("prometheus -> %s:%d denied", to, metricsPort)
				}
				if port, ok := ports[to]; ok && allows(r.policies, r.namespace, prometheus, endpoint{pod: &dst, port: port}) {
					t.Errorf("prometheus -> %s:%d allowed: only the metrics port may be", to, port)
				}
				if allows(r.policies, r.namespace, elsewhere, endpoint{pod: &dst, port: metricsPort}) {
					t.Errorf("namespace default -> %s:%d allowed", to, metricsPort)
				}
				for _, from := range workloads {
					if from != to && allows(r.policies, r.namespace, pods[from], endpoint{pod: &dst, port: metricsPort}) {
						t.Errorf("%s -> %s:%d allowed", from, to, metricsPort)
					}
				}
			}
		})
	}
}

// metricName finds the series an alert expression reads.
var metricName = regexp.MustCompile(`\b(?:photoshoot|rpc|http)_[a-z_]+\b`)

// TestAlertRulesUseDocumentedMetrics checks that every metric the alerting rules read is in
// docs/operations.md's metrics table, which is what the code is checked against (tests in
// pkg/platform, billing and the gateway scrape those names). A rule on a misspelt series
// would never fire.
func TestAlertRulesUseDocumentedMetrics(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(repoRoot + "/docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range metricName.FindAllString(string(doc), -1) {
		documented[m] = true
	}
	r := mustRender(t, "overlays/prod")
	rule := r.custom1("PrometheusRule", "photoshoot")
	if rule == nil {
		t.Fatal("PrometheusRule photoshoot missing")
	}
	var groups []struct {
		Name  string
		Rules []struct {
			Alert, Expr string
			Annotations map[string]string
		}
	}
	if err := remarshal(lookup(rule, "spec.groups"), &groups); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range groups {
		for _, rl := range g.Rules {
			n++
			if rl.Alert == "" || rl.Expr == "" {
				t.Errorf("group %s: rule %q without alert name or expression", g.Name, rl.Alert)
			}
			for _, m := range metricName.FindAllString(rl.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if !documented[m] && !documented[base] {
					t.Errorf("%s reads %s, which docs/operations.md does not list", rl.Alert, m)
				}
			}
			anchor, ok := strings.CutPrefix(rl.Annotations["runbook"], "docs/operations.md#")
			if !ok || !slices.Contains(headingAnchors(string(doc)), anchor) {
				t.Errorf("%s: runbook %q is not a heading of docs/operations.md", rl.Alert, rl.Annotations["runbook"])
			}
		}
	}
	if n == 0 {
		t.Error("no alerting rules")
	}
}

// headingAnchors returns the GitHub-style anchors of a Markdown document's headings.
func headingAnchors(doc string) []string {
	var out []string
	for line := range strings.Lines(doc) {
		title, ok := strings.CutPrefix(strings.TrimSpace(line), "#")
		if !ok {
			continue
		}
		title = strings.ToLower(strings.TrimSpace(strings.TrimLeft(title, "#")))
		var b strings.Builder
		for _, c := range title {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
				b.WriteRune(c)
			case c == ' ':
				b.WriteRune('-')
			}
		}
		out = append(out, b.String())
	}
	return out
}

// remarshal converts a decoded custom object's part into a typed value.
func remarshal(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}
