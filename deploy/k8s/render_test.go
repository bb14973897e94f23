package k8s

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlays are the kustomizations an operator applies (plus prod with the optional KEDA
// component, which only the checks render on its own).
var overlays = []string{"overlays/dev", "overlays/prod", "tests/prod-keda"}

// rendered is one overlay's output, every object decoded into its API type.
type rendered struct {
	namespace    string
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	services     []corev1.Service
	accounts     []corev1.ServiceAccount
	configMaps   []corev1.ConfigMap
	policies     []networkingv1.NetworkPolicy
	pdbs         []policyv1.PodDisruptionBudget
	hpas         []autoscalingv2.HorizontalPodAutoscaler
	ingresses    []networkingv1.Ingress
	// custom holds the objects of kinds whose Go types are not in k8s.io/api (CloudNativePG,
	// Prometheus Operator, KEDA), decoded as plain maps.
	custom []map[string]any
}

// kustomizeMu serialises kustomize runs: kyaml initialises its global
// OpenAPI schema lazily without a lock, which the race detector catches when
// two overlays render at once (tests of different overlays run in parallel).
var kustomizeMu sync.Mutex

// renderOnce caches each overlay's rendering: every test reads the same output.
var renderOnce = map[string]func() (*rendered, error){}

func init() {
	for _, dir := range overlays {
		renderOnce[dir] = sync.OnceValues(func() (*rendered, error) { return render(dir) })
	}
}

func mustRender(t *testing.T, dir string) *rendered {
	t.Helper()
	r, err := renderOnce[dir]()
	if err != nil {
		t.Fatalf("render %s: %v", dir, err)
	}
	return r
}

// render runs kustomize on dir and strictly decodes each object: a field unknown to its
// API type fails, as does a kind the checks do not know.
func render(dir string) (*rendered, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	kustomizeMu.Lock()
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	kustomizeMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("kustomize: %w", err)
	}
	r := &rendered{}
	var errs []string
	for _, res := range m.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s as yaml: %w", res.CurId(), err)
		}
		if ns := res.GetNamespace(); ns != "" {
			if r.namespace != "" && r.namespace != ns {
				errs = append(errs, fmt.Sprintf("%s: namespace %q, want %q", res.CurId(), ns, r.namespace))
			}
			r.namespace = ns
		}
		if err := r.add(res.GetApiVersion(), res.GetKind(), b); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", res.CurId(), err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("decode:\n%s", strings.Join(errs, "\n"))
	}
	return r, nil
}

func (r *rendered) add(apiVersion, kind string, b []byte) error {
	strict := func(dst any) error { return yaml.UnmarshalStrict(b, dst) }
	switch apiVersion + "/" + kind {
	case "apps/v1/Deployment":
		var o appsv1.Deployment
		r.deployments = append(r.deployments, o)
		return strict(&r.deployments[len(r.deployments)-1])
	case "apps/v1/StatefulSet":
		var o appsv1.StatefulSet
		r.statefulSets = append(r.statefulSets, o)
		return strict(&r.statefulSets[len(r.statefulSets)-1])
	case "v1/Service":
		var o corev1.Service
		r.services = append(r.services, o)
		return strict(&r.services[len(r.services)-1])
	case "v1/ServiceAccount":
		var o corev1.ServiceAccount
		r.accounts = append(r.accounts, o)
		return strict(&r.accounts[len(r.accounts)-1])
	case "v1/ConfigMap":
		var o corev1.ConfigMap
		r.configMaps = append(r.configMaps, o)
		return strict(&r.configMaps[len(r.configMaps)-1])
	case "networking.k8s.io/v1/NetworkPolicy":
		var o networkingv1.NetworkPolicy
		r.policies = append(r.policies, o)
		return strict(&r.policies[len(r.policies)-1])
	case "networking.k8s.io/v1/Ingress":
		var o networkingv1.Ingress
		r.ingresses = append(r.ingresses, o)
		return strict(&r.ingresses[len(r.ingresses)-1])
	case "policy/v1/PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		r.pdbs = append(r.pdbs, o)
		return strict(&r.pdbs[len(r.pdbs)-1])
	case "autoscaling/v2/HorizontalPodAutoscaler":
		var o autoscalingv2.HorizontalPodAutoscaler
		r.hpas = append(r.hpas, o)
		return strict(&r.hpas[len(r.hpas)-1])
	case "postgresql.cnpg.io/v1/Cluster", "postgresql.cnpg.io/v1/ScheduledBackup", "postgresql.cnpg.io/v1/Database",
		"monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule", "keda.sh/v1alpha1/ScaledObject":
		var o map[string]any
		if err := strict(&o); err != nil {
			return err
		}
		if err := checkCustom(kind, o); err != nil {
			return err
		}
		r.custom = append(r.custom, o)
		return nil
	}
	return fmt.Errorf("no check knows %s %s (a Secret, or a new kind to add to the checks)", apiVersion, kind)
}

// customRequired lists, per custom kind, the fields its CRD requires or this deployment
// relies on (dotted paths into the object).
var customRequired = map[string][]string{
	"Cluster":         {"spec.instances", "spec.storage.size", "spec.imageName", "spec.bootstrap.initdb.database"},
	"ScheduledBackup": {"spec.schedule", "spec.cluster.name"},
	"Database":        {"spec.name", "spec.owner", "spec.cluster.name"},
	"PodMonitor":      {"spec.selector", "spec.podMetricsEndpoints"},
	"PrometheusRule":  {"spec.groups"},
	"ScaledObject":    {"spec.scaleTargetRef.name", "spec.triggers"},
}

func checkCustom(kind string, o map[string]any) error {
	if name, _ := lookup(o, "metadata.name").(string); name == "" {
		return fmt.Errorf("%s without metadata.name", kind)
	}
	for _, path := range customRequired[kind] {
		if v := lookup(o, path); v == nil || v == "" {
			return fmt.Errorf("%s %v: %s is required", kind, lookup(o, "metadata.name"), path)
		}
	}
	return nil
}

func lookup(o map[string]any, path string) any {
	var cur any = o
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func (r *rendered) custom1(kind, name string) map[string]any {
	for _, o := range r.custom {
		if o["kind"] == kind && lookup(o, "metadata.name") == name {
			return o
		}
	}
	return nil
}

func (r *rendered) deployment(name string) *appsv1.Deployment {
	for i := range r.deployments {
		if r.deployments[i].Name == name {
			return &r.deployments[i]
		}
	}
	return nil
}

func (r *rendered) configMap(name string) *corev1.ConfigMap {
	for i := range r.configMaps {
		if r.configMaps[i].Name == name {
			return &r.configMaps[i]
		}
	}
	return nil
}

func TestOverlaysRenderAndDecodeStrictly(t *testing.T) {
	t.Parallel()
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := mustRender(t, dir)
			if r.namespace == "" {
				t.Errorf("no namespace set")
			}
			for _, name := range workloads {
				if r.deployment(name) == nil {
					t.Errorf("Deployment %s missing", name)
				}
			}
			if r.custom1("Cluster", "photoshoot-postgres") == nil {
				t.Errorf("CloudNativePG Cluster photoshoot-postgres missing")
			}
			if len(r.statefulSets) != 1 || r.statefulSets[0].Name != "nats" {
				t.Errorf("want the nats StatefulSet only, got %d StatefulSets", len(r.statefulSets))
			}
			if len(r.ingresses) != 1 {
				t.Errorf("want one Ingress, got %d", len(r.ingresses))
			}
		})
	}
}
