// Package k8s holds the offline checks of the Kubernetes manifests in this directory: every
// overlay renders with kustomize, decodes strictly into the Kubernetes API types, passes the
// restricted Pod Security profile and allows exactly the service edges of DESIGN.md; every
// pod serves /metrics on a port only Prometheus reaches, the PodMonitor scrapes them all and
// the alerting rules read only metrics docs/operations.md lists; every binary builds
// statically for linux/amd64.
package k8s
