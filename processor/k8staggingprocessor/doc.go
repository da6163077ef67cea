// Package k8staggingprocessor adds Kubernetes metadata (pod, namespace, workload, node) to traces,
// metrics and logs from one lean watch cache shared by every processor instance in the process.
package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"
