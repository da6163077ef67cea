// Package deploy holds the Kubernetes manifests of otelcol-custom (agent DaemonSet, load-balancing
// tier, gateway, sidecar example) as kustomize directories. The package has no Go code; its tests
// validate the manifests against a real API server (internal/k8stest) and check the collector
// configurations they embed.
package deploy
