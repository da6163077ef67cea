package k8staggingprocessor // import "github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-custom/otelcol-custom/processor/k8staggingprocessor/internal/metadata"
)

var capabilities = consumer.Capabilities{MutatesData: true}

// NewFactory returns the factory of the k8s_tagging processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

// createDefaultConfig matches contrib's defaults (v0.161.0); hold_on_miss is off.
func createDefaultConfig() component.Config {
	return &Config{
		APIConfig:              APIConfig{AuthType: AuthTypeServiceAccount},
		Extract:                ExtractConfig{Metadata: defaultMetadata()},
		Exclude:                ExcludeConfig{Pods: defaultExcludedPods()},
		WaitForMetadataTimeout: 10 * time.Second,
		WatchSyncPeriod:        5 * time.Minute,
		PodDeleteGracePeriod:   120 * time.Second,
		HoldOnMiss:             HoldOnMissConfig{MaxBatches: 64},
	}
}

// defaultExcludedPods are contrib's default exclude.pods: the Jaeger agent and collector relay other pods'
// spans, which would otherwise be tagged with the relay's pod (the connection comes from it). An
// empty exclude.pods means these too.
func defaultExcludedPods() []ExcludePodConfig {
	return []ExcludePodConfig{{Name: "jaeger-agent"}, {Name: "jaeger-collector"}}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	t, err := newTagger(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, t.processTraces,
		processorhelper.WithCapabilities(capabilities), processorhelper.WithStart(t.start), processorhelper.WithShutdown(t.shutdown))
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	t, err := newTagger(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, t.processMetrics,
		processorhelper.WithCapabilities(capabilities), processorhelper.WithStart(t.start), processorhelper.WithShutdown(t.shutdown))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	t, err := newTagger(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, t.processLogs,
		processorhelper.WithCapabilities(capabilities), processorhelper.WithStart(t.start), processorhelper.WithShutdown(t.shutdown))
}
