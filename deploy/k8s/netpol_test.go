package k8s

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// designEdges are the gRPC edges of the "talks to" table in /work/shared/DESIGN.md:
// gateway → all five services; generation → billing, media, analysis; analysis → media;
// account → billing, media, analysis, generation. generation-worker is the generation image
// running `worker`, so it has generation's outgoing edges.
var designEdges = []string{
	"gateway->account", "gateway->billing", "gateway->media", "gateway->analysis", "gateway->generation",
	"generation->billing", "generation->media", "generation->analysis",
	"generation-worker->billing", "generation-worker->media", "generation-worker->analysis",
	"analysis->media",
	"account->billing", "account->media", "account->analysis", "account->generation",
}

// signingKeyEdges are not in DESIGN.md's table but exist in the code: every service other
// than account dials ACCOUNT_ADDR (pkg/platform) for the Ed25519 public keys that verify
// access tokens (AccountService.GetSigningKeys). Without them no service verifies a token.
var signingKeyEdges = []string{
	"billing->account", "media->account", "analysis->account", "generation->account", "generation-worker->account",
}

// internetEgress are the workloads that call providers on the public internet, with ports:
// billing → Stripe, account → Resend/SMTP, analysis → Anthropic, generation → AIML API and
// Slack, media → the object store.
var internetEgress = map[string][]int32{
	"account":           {443, 465, 587},
	"billing":           {443},
	"media":             {443},
	"analysis":          {443},
	"generation":        {443},
	"generation-worker": {443},
}

// pod is a pod as NetworkPolicies see it: a namespace and labels.
type pod struct {
	namespace string
	labels    map[string]string
}

// endpoint is a destination: a pod, or an address outside the cluster.
type endpoint struct {
	pod  *pod
	addr netip.Addr
	port int32
}

// allows reports whether the policies let from open a TCP connection to to: the egress
// side of from and the ingress side of to must both allow it (a pod that no policy
// selects for a direction is open in that direction).
func allows(policies []networkingv1.NetworkPolicy, namespace string, from pod, to endpoint) bool {
	egress := direction(policies, namespace, from, networkingv1.PolicyTypeEgress, func(p networkingv1.NetworkPolicy) bool {
		for _, r := range p.Spec.Egress {
			if peersMatch(r.To, p.Namespace, to.pod, to.addr) && portsMatch(r.Ports, to.port) {
				return true
			}
		}
		return false
	})
	if to.pod == nil {
		return egress
	}
	ingress := direction(policies, namespace, *to.pod, networkingv1.PolicyTypeIngress, func(p networkingv1.NetworkPolicy) bool {
		for _, r := range p.Spec.Ingress {
			if peersMatch(r.From, p.Namespace, &from, netip.Addr{}) && portsMatch(r.Ports, to.port) {
				return true
			}
		}
		return false
	})
	return egress && ingress
}

func direction(policies []networkingv1.NetworkPolicy, namespace string, subject pod, typ networkingv1.PolicyType, rulesAllow func(networkingv1.NetworkPolicy) bool) bool {
	if subject.namespace != namespace {
		return true // outside the namespace the manifests do not isolate anything
	}
	isolated := false
	for _, p := range policies {
		if !slices.Contains(p.Spec.PolicyTypes, typ) || !selectorMatches(&p.Spec.PodSelector, subject.labels) {
			continue
		}
		isolated = true
		if rulesAllow(p) {
			return true
		}
	}
	return !isolated
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNamespace string, target *pod, addr netip.Addr) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peer.IPBlock != nil {
			if target == nil && ipBlockContains(peer.IPBlock, addr) {
				return true
			}
			continue
		}
		if target == nil {
			continue
		}
		if peer.NamespaceSelector == nil {
			if target.namespace != policyNamespace {
				continue
			}
		} else if !selectorMatches(peer.NamespaceSelector, map[string]string{"kubernetes.io/metadata.name": target.namespace}) {
			continue
		}
		if peer.PodSelector == nil || selectorMatches(peer.PodSelector, target.labels) {
			return true
		}
	}
	return false
}

func ipBlockContains(b *networkingv1.IPBlock, addr netip.Addr) bool {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !cidr.Contains(addr) {
		return false
	}
	for _, e := range b.Except {
		if ex, err := netip.ParsePrefix(e); err == nil && ex.Contains(addr) {
			return false
		}
	}
	return true
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type != 0: // a named port: the manifests use numbers only
			return true
		case p.EndPort != nil && port >= p.Port.IntVal && port <= *p.EndPort:
			return true
		case p.Port.IntVal == port:
			return true
		}
	}
	return false
}

func selectorMatches(s *metav1.LabelSelector, l map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(s)
	return err == nil && sel.Matches(labels.Set(l))
}

// appPods returns each workload's pod as its rendered template labels it, and the port its
// Service targets.
func appPods(t *testing.T, r *rendered) (map[string]pod, map[string]int32) {
	t.Helper()
	pods, ports := map[string]pod{}, map[string]int32{}
	for _, name := range workloads {
		d := r.deployment(name)
		if d == nil {
			t.Fatalf("Deployment %s missing", name)
		}
		pods[name] = pod{namespace: r.namespace, labels: d.Spec.Template.Labels}
	}
	for _, s := range r.services {
		if _, ok := pods[s.Name]; ok {
			d := r.deployment(s.Name)
			ports[s.Name] = d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort
		}
	}
	return pods, ports
}

func TestNetworkPoliciesAllowExactlyDesignEdges(t *testing.T) {
	t.Parallel()
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := mustRender(t, dir)
			pods, ports := appPods(t, r)
			if len(ports) != len(workloads)-1 {
				t.Fatalf("%d workloads have a Service, want all but generation-worker: %v", len(ports), ports)
			}

			var got []string
			for _, from := range workloads {
				for _, to := range workloads {
					port, served := ports[to]
					if from == to || !served {
						continue
					}
					dst := pods[to]
					if allows(r.policies, r.namespace, pods[from], endpoint{pod: &dst, port: port}) {
						got = append(got, from+"->"+to)
					}
				}
			}
			want := append(slices.Clone(designEdges), signingKeyEdges...)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("allowed service edges differ from DESIGN.md\nextra:   %v\nmissing: %v", minus(got, want), minus(want, got))
			}

			// Infrastructure: each service reaches Postgres and NATS; the gateway neither.
			pg := pod{r.namespace, map[string]string{"cnpg.io/cluster": "photoshoot-postgres"}}
			nats := pod{r.namespace, map[string]string{"app.kubernetes.io/name": "nats"}}
			for _, name := range workloads {
				want := name != "gateway"
				if got := allows(r.policies, r.namespace, pods[name], endpoint{pod: &pg, port: 5432}); got != want {
					t.Errorf("%s -> postgres = %v, want %v", name, got, want)
				}
				if got := allows(r.policies, r.namespace, pods[name], endpoint{pod: &nats, port: 4222}); got != want {
					t.Errorf("%s -> nats = %v, want %v", name, got, want)
				}
			}

			// Internet: only the listed workloads, only on their ports; never private ranges.
			public, private := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("10.1.2.3")
			for _, name := range workloads {
				for _, port := range []int32{80, 443, 465, 587, 5432, 8080} {
					want := slices.Contains(internetEgress[name], port)
					if got := allows(r.policies, r.namespace, pods[name], endpoint{addr: public, port: port}); got != want {
						t.Errorf("%s -> internet:%d = %v, want %v", name, port, got, want)
					}
					if allows(r.policies, r.namespace, pods[name], endpoint{addr: private, port: port}) {
						t.Errorf("%s -> %s:%d allowed: private ranges must be denied", name, private, port)
					}
				}
			}

			// From outside the namespace only the ingress controller, and only to the gateway.
			outsiders := map[string]pod{
				"ingress-nginx": {"ingress-nginx", map[string]string{"app.kubernetes.io/name": "ingress-nginx"}},
				"other":         {"default", map[string]string{"app.kubernetes.io/name": "gateway"}},
			}
			for oname, o := range outsiders {
				for _, to := range workloads {
					port, served := ports[to]
					if !served {
						continue
					}
					dst := pods[to]
					want := oname == "ingress-nginx" && to == "gateway"
					if got := allows(r.policies, r.namespace, o, endpoint{pod: &dst, port: port}); got != want {
						t.Errorf("%s -> %s = %v, want %v", oname, to, got, want)
					}
				}
			}
		})
	}
}

// TestNetworkPolicyEvaluator checks the evaluator itself on hand-made policies, so a bug in
// it cannot make the edge check pass vacuously.
func TestNetworkPolicyEvaluator(t *testing.T) {
	t.Parallel()
	tcp := corev1.ProtocolTCP
	port := func(n int32) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptrIntOrString(n)}}
	}
	app := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	}
	deny := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns"},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"}},
	}
	aToB := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *app("a"), PolicyTypes: []networkingv1.PolicyType{"Egress"},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: app("b")}}, Ports: port(50051)}},
		},
	}
	bFromA := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *app("b"), PolicyTypes: []networkingv1.PolicyType{"Ingress"},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: app("a")}}, Ports: port(50051)}},
		},
	}
	a, b := pod{"ns", map[string]string{"app": "a"}}, pod{"ns", map[string]string{"app": "b"}}
	bElsewhere := pod{"other", map[string]string{"app": "b"}}
	for _, tc := range []struct {
		name     string
		policies []networkingv1.NetworkPolicy
		from     pod
		to       endpoint
		want     bool
	}{
		{"no policies", nil, a, endpoint{pod: &b, port: 50051}, true},
		{"default deny", []networkingv1.NetworkPolicy{deny}, a, endpoint{pod: &b, port: 50051}, false},
		{"egress only", []networkingv1.NetworkPolicy{deny, aToB}, a, endpoint{pod: &b, port: 50051}, false},
		{"both sides", []networkingv1.NetworkPolicy{deny, aToB, bFromA}, a, endpoint{pod: &b, port: 50051}, true},
		{"wrong port", []networkingv1.NetworkPolicy{deny, aToB, bFromA}, a, endpoint{pod: &b, port: 8080}, false},
		{"reverse", []networkingv1.NetworkPolicy{deny, aToB, bFromA}, b, endpoint{pod: &a, port: 50051}, false},
		{"other namespace", []networkingv1.NetworkPolicy{deny, aToB, bFromA}, a, endpoint{pod: &bElsewhere, port: 50051}, false},
		{"internet denied", []networkingv1.NetworkPolicy{deny, aToB}, a, endpoint{addr: netip.MustParseAddr("1.1.1.1"), port: 443}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := allows(tc.policies, "ns", tc.from, tc.to); got != tc.want {
				t.Errorf("allows = %v, want %v", got, tc.want)
			}
		})
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func ptrIntOrString(n int32) *intstr.IntOrString {
	v := intstr.FromInt32(n)
	return &v
}
