// Package ebpfreceiver collects kernel TCP, scheduler and memory events with
// eBPF programs attached to BTF tracepoints, aggregates them per cgroup in the
// kernel and emits them as metrics, logs and traces attributed to containers
// and pods. See README.md.
package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"
