// Package prometheusremotewriteexporter sends metrics to Prometheus remote-write endpoints (remote
// write 1.0 and 2.0). It accepts the configuration of contrib's prometheusremotewriteexporter at
// v0.161.0 and shards series across ordered senders so that throughput scales without reordering
// the samples of any one series.
package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"
