// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"errors"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/xexporter"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

// NewFactory returns the factory of the exporter, registered as prometheus_remote_write with the
// deprecated alias prometheusremotewrite, exactly like contrib's at v0.161.0.
func NewFactory() exporter.Factory {
	return xexporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		xexporter.WithMetrics(createMetricsExporter, metadata.MetricsStability),
		xexporter.WithDeprecatedTypeAlias(metadata.DeprecatedType),
	)
}

// defaultHTTPClientConfig mirrors contrib's defaults.
func defaultHTTPClientConfig() confighttp.ClientConfig {
	c := confighttp.NewDefaultClientConfig()
	c.Endpoint = "http://some.url:9411/api/prom/push"
	c.ReadBufferSize = 0 // responses are tiny
	c.WriteBufferSize = 512 * 1024
	c.Timeout = exporterhelper.NewDefaultTimeoutConfig().Timeout
	return c
}

func createDefaultConfig() component.Config {
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = 50 * time.Millisecond
	return &Config{
		ExternalLabels:      map[string]string{},
		MaxBatchSizeBytes:   defaultMaxBatchSizeBytes,
		TimeoutSettings:     exporterhelper.NewDefaultTimeoutConfig(),
		BackOffConfig:       retry,
		AddMetricSuffixes:   true,
		RemoteWriteProtoMsg: writeV1MessageType,
		ClientConfig:        defaultHTTPClientConfig(),
		HTTP:                defaultHTTPClientConfig(),
		RemoteWriteQueue: RemoteWriteQueue{
			Enabled:      true,
			QueueSize:    10000,
			NumConsumers: 5,
		},
		TargetInfo:  TargetInfo{Enabled: true},
		QueueConfig: configoptional.Default(defaultSendingQueue()),
	}
}

// defaultSendingQueue is what a `sending_queue:` section starts from: exporterhelper's defaults
// with one consumer, so a user writing only `enabled: true` or `storage: file_storage/x` gets a
// working queue that keeps samples in order (the shards provide the parallelism).
func defaultSendingQueue() exporterhelper.QueueBatchConfig {
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = 1
	return q
}

// queueConfig returns sending_queue when set, else the queue contrib derives from
// remote_write_queue. One queue consumer by default: it hands samples to the shards in queue
// order, which keeps every series in order; the shards provide the parallelism.
func (cfg *Config) queueConfig() configoptional.Optional[exporterhelper.QueueBatchConfig] {
	if cfg.QueueConfig.HasValue() {
		return cfg.QueueConfig
	}
	if cfg.tenantQueues() {
		// The exporter queues per tenant itself (prwExporter.enqueue).
		return configoptional.None[exporterhelper.QueueBatchConfig]()
	}
	q := configoptional.Default(exporterhelper.QueueBatchConfig{
		NumConsumers: 1,
		QueueSize:    int64(cfg.RemoteWriteQueue.QueueSize),
		Sizer:        exporterhelper.RequestSizerTypeRequests,
	})
	if cfg.RemoteWriteQueue.Enabled {
		q.GetOrInsertDefault()
	}
	return q
}

// tenantQueues tells whether the exporter keeps one in-memory queue per tenant: with
// include_metadata_keys and remote_write_queue (not sending_queue, whose single queue, possibly
// persistent, is exporterhelper's).
func (cfg *Config) tenantQueues() bool {
	return len(cfg.IncludeMetadataKeys) > 0 && cfg.RemoteWriteQueue.Enabled && !cfg.QueueConfig.HasValue()
}

func createMetricsExporter(ctx context.Context, set exporter.Settings, c component.Config) (exporter.Metrics, error) {
	cfg, ok := c.(*Config)
	if !ok {
		return nil, errors.New("invalid configuration type for the prometheus_remote_write exporter")
	}
	if cfg.WAL.HasValue() {
		set.Logger.Warn("wal is accepted for compatibility but not used; configure sending_queue with storage: file_storage/<name> for a persistent queue")
	}
	prw, err := newExporter(cfg, set)
	if err != nil {
		return nil, err
	}
	opts := []exporterhelper.Option{
		// The per-attempt timeout is applied by the senders; the export as a whole may last as
		// long as retry_on_failure allows.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
		exporterhelper.WithQueue(cfg.queueConfig()),
		exporterhelper.WithStart(prw.start),
		exporterhelper.WithShutdown(prw.shutdown),
	}
	if prw.persistent {
		// The exporter retries by itself and returns a retryable error only for an export
		// interrupted by shutdown; exporterhelper's retry sender, already stopped then, turns it
		// into a shutdown error, which makes the persistent queue keep the export on disk.
		opts = append(opts, exporterhelper.WithRetry(configretry.BackOffConfig{
			Enabled:         true,
			InitialInterval: 10 * time.Millisecond,
			MaxInterval:     100 * time.Millisecond,
			Multiplier:      2,
		}))
	}
	helper, err := exporterhelper.NewMetrics(ctx, set, cfg, prw.pushMetrics, opts...)
	if err != nil {
		return nil, err
	}
	exp := stopRetriesFirst{Metrics: helper, prw: prw}
	labels := cfg.ResourceConstantLabels
	if labels.IsEmpty() && !cfg.ResourceToTelemetrySettings.IsEmpty() {
		set.Logger.Warn("resource_to_telemetry_conversion is deprecated; use resource_constant_labels instead")
		labels = cfg.ResourceToTelemetrySettings
	}
	return resourcetotelemetry.WrapMetricsExporter(labels, exp), nil
}

// stopRetriesFirst stops the exporter's retries before exporterhelper shuts its queue down, which
// waits for the exports in progress: retried until max_elapsed_time, they would hold the shutdown
// for minutes while the endpoint fails.
type stopRetriesFirst struct {
	exporter.Metrics
	prw *prwExporter
}

func (s stopRetriesFirst) Shutdown(ctx context.Context) error {
	s.prw.beginShutdown()
	return s.Metrics.Shutdown(ctx)
}
