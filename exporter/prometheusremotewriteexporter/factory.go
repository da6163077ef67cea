package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"errors"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/component"
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

func createDefaultConfig() component.Config { return defaultConfig() }

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
	if prw.drops.persistent {
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
