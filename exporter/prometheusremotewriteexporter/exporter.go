package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

// prwExporter is the exporter's lifecycle and its entry point, pushMetrics. An export goes one
// way: to its tenant's shard set (tenants.go), through the translator (translator.go, fastpath.go)
// into a shardingAppender (appender.go), which encodes requests (encode.go) and hands them to the
// shard set (shards.go), whose 64 ordering lanes keep every series in order while independent
// requests are sent concurrently by the sender (sender.go).
type prwExporter struct {
	cfg       *Config
	set       exporter.Settings
	telemetry *metadata.TelemetryBuilder

	tenants    *tenants
	translator *translator
	sender     *sender
	drops      *dropAccount

	// cancel ends the sender's HTTP attempts, at the very end of shutdown; stopRetries ends its
	// retries (and rate-limit waits) when shutdown begins.
	cancel      context.CancelFunc
	stopRetries context.CancelFunc
	// queued is true when a queue consumes the exports (errors returned go nowhere but its log).
	queued bool
}

func newExporter(cfg *Config, set exporter.Settings) (*prwExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	q := cfg.queueConfig()
	e := &prwExporter{
		cfg:       cfg,
		set:       set,
		telemetry: tb,
		queued:    q.HasValue() || cfg.tenantQueues(),
		drops:     &dropAccount{persistent: q.HasValue() && q.Get().StorageID != nil, telemetry: tb},
	}
	ctx, cancel := context.WithCancel(context.Background())
	retryCtx, stopRetries := context.WithCancel(ctx)
	e.cancel, e.stopRetries = cancel, stopRetries
	e.sender = newSender(cfg, set, tb, ctx, retryCtx)
	e.translator = newTranslator(cfg, set.Logger, tb)
	batches := newBatchPool(cfg.remoteWriteV2(), cfg.MaxBatchSizeBytes)
	shards := cfg.shardCount()
	e.tenants = &tenants{
		keys: cfg.IncludeMetadataKeys,
		newSet: func(headers http.Header) *shardSet {
			return newShardSet(shards, headers, batches, e.drops, e.sender.send)
		},
		export: e.export,
	}
	if cfg.tenantQueues() {
		e.tenants.queued, e.tenants.queueSize = true, cfg.RemoteWriteQueue.QueueSize
	}
	return e, nil
}

func (e *prwExporter) start(ctx context.Context, host component.Host) error {
	httpCfg := e.cfg.HTTP
	// The body is snappy-compressed here, as remote write requires; the client must not compress it again.
	httpCfg.Compression = ""
	n := e.cfg.shardCount()
	if httpCfg.MaxIdleConnsPerHost == 0 {
		httpCfg.MaxIdleConnsPerHost = n // one kept-alive connection per concurrent request
	}
	c, err := httpCfg.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.sender.client = c
	e.telemetry.ExporterPrometheusremotewriteShards.Add(ctx, int64(n))
	return nil
}

// beginShutdown runs before exporterhelper shuts its queue down: retries stop at once, so that
// the queue's consumers return promptly (see pushMetrics for what becomes of their exports).
func (e *prwExporter) beginShutdown() {
	e.stopRetries()
}

// shutdown runs after exporterhelper has stopped its queue: every queued export has returned.
func (e *prwExporter) shutdown(context.Context) error {
	e.beginShutdown()
	e.tenants.closeQueues()
	for _, s := range e.tenants.shardSets() {
		s.drain()
	}
	e.cancel()
	if e.sender.client != nil {
		e.sender.client.CloseIdleConnections()
	}
	e.drops.logShutdown(e.set.Logger, e.sender.endpoint)
	e.telemetry.Shutdown()
	return nil
}

// pushMetrics translates md, hands its requests to the shards as they fill up and waits until
// every request is delivered or dropped, so that a queue (persistent or not) only forgets data
// that reached the backend or was reported as dropped.
//
// What it returns decides what exporterhelper does and logs. Data the endpoint rejected or that
// exhausted its retries was already counted (failed_samples) and logged by the sender, once per
// kind at error level and then at debug level: behind a queue nil is returned, because
// exporterhelper would log every failed export at error level again. Without a queue the caller
// gets the error. An export interrupted by shutdown is kept by a persistent queue (retryable error)
// or counted as dropped and reported in one log line at the end of the shutdown.
func (e *prwExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	if e.sender.ctx.Err() != nil {
		return consumererror.NewPermanent(errors.New("the prometheus_remote_write exporter is shut down"))
	}
	if e.tenants.queued {
		return e.tenants.enqueue(ctx, md)
	}
	return e.export(ctx, e.tenants.shardSetFor(ctx), md)
}

// export sends md through shard set s and waits for the outcome (see pushMetrics).
func (e *prwExporter) export(ctx context.Context, s *shardSet, md pmetric.Metrics) error {
	var err error
	if e.sender.stopping() && (e.drops.persistent || s.abandoned.Load()) {
		// Shutdown: a persistent queue keeps what is not sent yet; without one, the backend
		// already failed during this shutdown and the rest is not attempted.
		err = errShutdownInterrupted
	} else {
		call := &exportCall{}
		e.translator.translate(ctx, s, md, call)
		call.wg.Wait()
		err = call.err
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errShutdownInterrupted):
		if e.drops.interruptedExport(md.DataPointCount()) {
			return err
		}
		if e.queued {
			return nil
		}
	case e.queued:
		return nil
	}
	return consumererror.NewPermanent(err)
}
