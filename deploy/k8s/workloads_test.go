package k8s

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// workloads are the application Deployments: five services, the generation workers and
// the gateway.
var workloads = []string{"account", "billing", "media", "analysis", "generation", "generation-worker", "gateway"}

// migrating are the services whose pods run `<svc> migrate` as an init container.
var migrating = []string{"account", "billing", "media", "analysis", "generation"}

// shutdownTimeout is the services' default SHUTDOWN_TIMEOUT in seconds.
const shutdownTimeout = 20

func TestPodTemplatesMeetRestrictedProfile(t *testing.T) {
	t.Parallel()
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatalf("new evaluator: %v", err)
	}
	restricted := psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := mustRender(t, dir)
			type tmpl struct {
				name string
				meta metav1.ObjectMeta
				spec corev1.PodSpec
			}
			var templates []tmpl
			for _, d := range r.deployments {
				templates = append(templates, tmpl{"Deployment/" + d.Name, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec})
			}
			for _, s := range r.statefulSets {
				templates = append(templates, tmpl{"StatefulSet/" + s.Name, s.Spec.Template.ObjectMeta, s.Spec.Template.Spec})
			}
			for _, p := range templates {
				res := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &p.meta, &p.spec))
				if !res.Allowed {
					t.Errorf("%s violates the restricted profile: %s", p.name, res.ForbiddenDetail())
				}
				for _, c := range append(slices.Clone(p.spec.InitContainers), p.spec.Containers...) {
					if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
						t.Errorf("%s container %s: root filesystem is writable", p.name, c.Name)
					}
				}
			}
		})
	}
}

func TestDeploymentsAreProductionReady(t *testing.T) {
	t.Parallel()
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := mustRender(t, dir)
			accounts := map[string]bool{}
			for _, a := range r.accounts {
				accounts[a.Name] = true
			}
			for _, d := range r.deployments {
				spec := d.Spec.Template.Spec
				if spec.ServiceAccountName == "" || !accounts[spec.ServiceAccountName] {
					t.Errorf("%s: service account %q is not rendered", d.Name, spec.ServiceAccountName)
				}
				if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= shutdownTimeout {
					t.Errorf("%s: terminationGracePeriodSeconds must exceed the %ds shutdown timeout", d.Name, shutdownTimeout)
				}
				for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
					for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
						if _, ok := c.Resources.Requests[res]; !ok {
							t.Errorf("%s/%s: no %s request", d.Name, c.Name, res)
						}
					}
					if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
						t.Errorf("%s/%s: no memory limit", d.Name, c.Name)
					}
				}
				for _, c := range spec.Containers {
					if c.ReadinessProbe == nil || c.LivenessProbe == nil {
						t.Errorf("%s/%s: readiness and liveness probes are required", d.Name, c.Name)
					}
				}
			}
			for _, name := range workloads {
				d := r.deployment(name)
				if d == nil {
					t.Errorf("Deployment %s missing", name)
					continue
				}
				c := d.Spec.Template.Spec.Containers[0]
				if !strings.HasPrefix(c.Image, "photoshoot/") {
					t.Errorf("%s: image %q, want photoshoot/<binary>", name, c.Image)
				}
				if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
					t.Errorf("%s: no preStop sleep to let endpoints drain", name)
				}
				if name == "gateway" {
					if c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
						c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
						t.Errorf("gateway: want httpGet /readyz and /healthz probes")
					}
				} else if c.ReadinessProbe.GRPC == nil || c.LivenessProbe.GRPC == nil || c.ReadinessProbe.GRPC.Port != 50051 {
					t.Errorf("%s: want native gRPC probes on 50051", name)
				}
				init := d.Spec.Template.Spec.InitContainers
				wantMigrate := slices.Contains(migrating, name)
				if gotMigrate := len(init) == 1 && slices.Equal(init[0].Args, []string{"migrate"}) && init[0].Image == c.Image; gotMigrate != wantMigrate {
					t.Errorf("%s: migrate init container = %v, want %v", name, gotMigrate, wantMigrate)
				}
				if name == "generation-worker" && !slices.Equal(c.Args, []string{"worker"}) {
					t.Errorf("generation-worker: args %q, want [worker]", c.Args)
				}
			}
		})
	}
}

// TestSecretsAreReferencedOnly checks that no Secret is rendered (render fails on the kind)
// and that every secret the pods read is one of the documented photoshoot-* Secrets.
func TestSecretsAreReferencedOnly(t *testing.T) {
	t.Parallel()
	r := mustRender(t, "overlays/prod")
	for _, d := range r.deployments {
		for _, c := range append(slices.Clone(d.Spec.Template.Spec.InitContainers), d.Spec.Template.Spec.Containers...) {
			for _, e := range c.Env {
				if e.Value != "" && strings.Contains(strings.ToLower(e.Name), "secret") {
					t.Errorf("%s/%s: %s has a literal value", d.Name, c.Name, e.Name)
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !strings.HasPrefix(e.ValueFrom.SecretKeyRef.Name, "photoshoot-") {
					t.Errorf("%s/%s: %s reads Secret %q", d.Name, c.Name, e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
	}
	for _, cm := range r.configMaps {
		for k := range cm.Data {
			if strings.Contains(k, "SECRET") || strings.Contains(k, "API_KEY") || k == "DATABASE_URL" {
				t.Errorf("ConfigMap %s holds %s, which belongs in a Secret", cm.Name, k)
			}
		}
	}
}

func TestOverlaySizing(t *testing.T) {
	t.Parallel()
	t.Run("dev", func(t *testing.T) {
		t.Parallel()
		r := mustRender(t, "overlays/dev")
		for _, d := range r.deployments {
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				t.Errorf("%s: want one replica", d.Name)
			}
		}
		if n := *r.statefulSets[0].Spec.Replicas; n != 1 {
			t.Errorf("nats: %d replicas, want 1", n)
		}
		if len(r.pdbs) != 0 || len(r.hpas) != 0 {
			t.Errorf("dev renders %d PDBs and %d HPAs, want none", len(r.pdbs), len(r.hpas))
		}
		if got := lookup(r.custom1("Cluster", "photoshoot-postgres"), "spec.instances"); got != float64(1) {
			t.Errorf("postgres instances = %v, want 1", got)
		}
	})
	for _, dir := range []string{"overlays/prod", "tests/prod-keda"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := mustRender(t, dir)
			protected := map[string]bool{}
			for _, p := range r.pdbs {
				protected[p.Spec.Selector.MatchLabels["app.kubernetes.io/name"]] = true
			}
			for _, d := range r.deployments {
				if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
					t.Errorf("%s: want at least two replicas", d.Name)
				}
				if !protected[d.Name] {
					t.Errorf("%s: no PodDisruptionBudget", d.Name)
				}
			}
			if !protected["nats"] || *r.statefulSets[0].Spec.Replicas != 3 {
				t.Errorf("nats: want 3 replicas with a PodDisruptionBudget")
			}
			for _, name := range migrating {
				if got := r.configMap(name).Data["NATS_STREAM_REPLICAS"]; got != "3" {
					t.Errorf("%s: NATS_STREAM_REPLICAS = %q, want 3 (R3 streams)", name, got)
				}
			}
			if got := lookup(r.custom1("Cluster", "photoshoot-postgres"), "spec.instances"); got != float64(3) {
				t.Errorf("postgres instances = %v, want 3", got)
			}
			scaled := map[string]bool{}
			for _, h := range r.hpas {
				scaled[h.Spec.ScaleTargetRef.Name] = true
			}
			if !scaled["gateway"] {
				t.Errorf("gateway has no HorizontalPodAutoscaler")
			}
			keda := r.custom1("ScaledObject", "generation-worker") != nil
			if want := dir == "tests/prod-keda"; keda != want {
				t.Errorf("KEDA ScaledObject present = %v, want %v", keda, want)
			}
			if scaled["generation-worker"] == keda {
				t.Errorf("generation-worker must be scaled by exactly one of the HPA (%v) and KEDA (%v)", scaled["generation-worker"], keda)
			}
		})
	}
}
