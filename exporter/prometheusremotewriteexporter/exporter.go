// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

// prwExporter translates OTLP metrics with Prometheus' own OTLP translator and sends the samples
// through shards: every series is assigned to one shard by the hash of its labels, and each
// shard sends its requests one at a time, in order. Samples of a series are therefore never
// reordered, while the shards send concurrently.
type prwExporter struct {
	cfg       *Config
	set       exporter.Settings
	telemetry *metadata.TelemetryBuilder
	v2        bool
	settings  prw.Settings

	client    *http.Client
	endpoint  string
	userAgent string
	limiter   *tokenBucket
	shards    []*shard

	// handoffMu serializes translation and hand-off to the shards across concurrent exports, so
	// that exports reach every shard in the order they started.
	handoffMu sync.Mutex

	batches   sync.Pool // *batch
	appenders sync.Pool // *shardingAppender

	ctx      context.Context // canceled at shutdown: aborts retries
	cancel   context.CancelFunc
	shardsWG sync.WaitGroup
	rejects  rejectLog
}

func newExporter(cfg *Config, set exporter.Settings) (*prwExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	withSuffixes, utf8 := cfg.withSuffixesAndUTF8()
	e := &prwExporter{
		cfg:       cfg,
		set:       set,
		telemetry: tb,
		v2:        cfg.remoteWriteV2(),
		endpoint:  cfg.HTTP.Endpoint,
		userAgent: fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		settings: prw.Settings{
			Namespace:                       cfg.Namespace,
			ExternalLabels:                  cfg.ExternalLabels,
			DisableTargetInfo:               !cfg.TargetInfo.Enabled,
			AddMetricSuffixes:               withSuffixes,
			AllowUTF8:                       utf8,
			ConvertHistogramsToNHCB:         cfg.ConvertExplicitHistogramsToNHCB,
			PromoteScopeMetadata:            !cfg.DisableScopeInfo,
			LabelNameUnderscoreSanitization: true,
			// target_info is repeated within a batch's time range at this interval, like Prometheus.
			LookbackDelta: 5 * time.Minute,
		},
	}
	if cfg.MaxSamplesPerSecond > 0 {
		e.limiter = newTokenBucket(cfg.MaxSamplesPerSecond)
	}
	e.batches.New = func() any { return newBatch(e.v2) }
	e.appenders.New = func() any { return &shardingAppender{e: e, open: make([]*batch, cfg.shardCount())} }
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

func (e *prwExporter) start(ctx context.Context, host component.Host) error {
	httpCfg := e.cfg.HTTP
	// The body is snappy-compressed here, as remote write requires; the client must not compress it again.
	httpCfg.Compression = ""
	n := e.cfg.shardCount()
	if httpCfg.MaxIdleConnsPerHost == 0 {
		httpCfg.MaxIdleConnsPerHost = n // one kept-alive connection per shard
	}
	c, err := httpCfg.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.client = c
	e.shards = make([]*shard, n)
	for i := range e.shards {
		e.shards[i] = &shard{id: i, in: make(chan shardJob, 2)}
		e.shardsWG.Add(1)
		go e.runShard(e.shards[i])
	}
	e.telemetry.ExporterPrometheusremotewriteShards.Add(ctx, int64(n))
	return nil
}

// shutdown runs after exporterhelper has drained its queue: every export has returned, so the
// shards are idle. Canceling e.ctx aborts retries of an export still running (synchronous mode).
func (e *prwExporter) shutdown(context.Context) error {
	e.cancel()
	e.handoffMu.Lock()
	for _, s := range e.shards {
		close(s.in)
	}
	e.shards = nil
	e.handoffMu.Unlock()
	e.shardsWG.Wait()
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.telemetry.Shutdown()
	return nil
}

// exportCall tracks the batches of one export until every shard has sent them.
type exportCall struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
	headers http.Header // from include_metadata_keys
}

func (c *exportCall) done(err error) {
	if err != nil {
		c.mu.Lock()
		c.err = errors.Join(c.err, err)
		c.mu.Unlock()
	}
	c.wg.Done()
}

// pushMetrics translates md, hands its series to the shards as they fill up and waits until every
// request is delivered or permanently failed, so that a queue (persistent or not) only forgets
// data that reached the backend or was reported as dropped.
func (e *prwExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	call := &exportCall{headers: e.forwardedHeaders(ctx)}
	err := e.translateAndHandOff(ctx, md, call)
	call.wg.Wait()
	if call.err != nil {
		err = errors.Join(err, call.err)
	}
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return nil
}

func (e *prwExporter) translateAndHandOff(ctx context.Context, md pmetric.Metrics, call *exportCall) error {
	e.handoffMu.Lock()
	defer e.handoffMu.Unlock()
	if e.shards == nil {
		return errors.New("exporter is shut down")
	}
	app := e.appenders.Get().(*shardingAppender)
	defer e.appenders.Put(app)
	app.call = call
	app.err = nil

	conv := prw.NewPrometheusConverter(app)
	annots, err := conv.FromMetrics(ctx, md, e.settings)
	if e.cfg.ConvertExplicitHistogramsToNHCB && e.cfg.KeepClassicHistograms {
		classic := e.settings
		classic.ConvertHistogramsToNHCB = false
		classic.DisableTargetInfo = true
		if only := histogramsOnly(md); only.DataPointCount() > 0 {
			_, cerr := prw.NewPrometheusConverter(app).FromMetrics(ctx, only, classic)
			err = errors.Join(err, cerr)
		}
	}
	app.flushAll()
	if err != nil {
		e.telemetry.ExporterPrometheusremotewriteFailedTranslations.Add(ctx, 1)
		e.set.Logger.Warn("some metrics could not be translated to Prometheus series and were dropped; the rest is sent", zap.Error(err))
	}
	if len(annots) > 0 {
		e.set.Logger.Debug("translation warnings", zap.Error(annots.AsErrors()[0]), zap.Int("count", len(annots)))
	}
	if app.err != nil {
		return app.err
	}
	// A translation error concerns single metrics that cannot be represented; it is logged and
	// counted, not returned, so that the translatable data is not dropped again by the caller.
	return nil
}

// histogramsOnly copies the explicit-bucket histograms of md (for keep_classic_histograms).
func histogramsOnly(md pmetric.Metrics) pmetric.Metrics {
	out := pmetric.NewMetrics()
	for _, rm := range md.ResourceMetrics().All() {
		var orm pmetric.ResourceMetrics
		for _, sm := range rm.ScopeMetrics().All() {
			var osm pmetric.ScopeMetrics
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeHistogram {
					continue
				}
				if osm == (pmetric.ScopeMetrics{}) {
					if orm == (pmetric.ResourceMetrics{}) {
						orm = out.ResourceMetrics().AppendEmpty()
						rm.Resource().CopyTo(orm.Resource())
					}
					osm = orm.ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(osm.Scope())
				}
				m.CopyTo(osm.Metrics().AppendEmpty())
			}
		}
	}
	return out
}

func (e *prwExporter) forwardedHeaders(ctx context.Context) http.Header {
	if len(e.cfg.IncludeMetadataKeys) == 0 {
		return nil
	}
	info := client.FromContext(ctx)
	var h http.Header
	for _, k := range e.cfg.IncludeMetadataKeys {
		if vs := info.Metadata.Get(k); len(vs) > 0 {
			if h == nil {
				h = http.Header{}
			}
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	return h
}

// shardingAppender receives the samples of Prometheus' OTLP translator and encodes each into the
// open batch of its shard; full batches go to the shard at once, so sending overlaps translation.
type shardingAppender struct {
	e    *prwExporter
	call *exportCall
	open []*batch
	enc  seriesEncoder
	err  error
}

var _ storage.AppenderV2 = (*shardingAppender)(nil)

func (a *shardingAppender) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	hash := ls.Hash()
	i := int(hash % uint64(len(a.open)))
	est := estimate(ls, h, fh, len(opts.Exemplars))
	b := a.open[i]
	if b != nil && !b.empty() && b.size()+est > a.e.cfg.MaxBatchSizeBytes {
		a.flush(i)
		b = nil
	}
	if b == nil {
		b = a.e.batches.Get().(*batch)
		a.open[i] = b
	}
	if a.e.v2 {
		a.enc.encodeV2(b, ls, st, t, v, h, fh, opts.Exemplars, opts.Metadata)
	} else {
		a.enc.encodeV1(b, ls, t, v, h, fh, opts.Exemplars)
		if a.e.cfg.SendMetadata {
			b.encodeMetadataV1(opts.MetricFamilyName, opts.Metadata)
		}
		if a.e.cfg.CreatedMetric.Enabled && st != 0 && h == nil && fh == nil && !math.IsNaN(v) {
			if name := createdSeriesName(ls, opts.Metadata); name != "" {
				created := labels.NewBuilder(ls).Set(labels.MetricName, name).Labels()
				a.enc.encodeV1(b, created, t, float64(st)/1000, nil, nil, nil)
			}
		}
	}
	return storage.SeriesRef(hash), nil
}

// flush hands the open batch of shard i to its sender.
func (a *shardingAppender) flush(i int) {
	b := a.open[i]
	a.open[i] = nil
	if b == nil {
		return
	}
	if b.empty() {
		a.e.putBatch(b)
		return
	}
	a.e.telemetry.ExporterPrometheusremotewriteTranslatedTimeSeries.Add(context.Background(), int64(b.points()))
	a.call.wg.Add(1)
	select {
	case a.e.shards[i].in <- shardJob{batch: b, call: a.call}:
	case <-a.e.ctx.Done():
		a.e.dropBatch(b, "the exporter is shutting down")
		a.call.done(errors.New("exporter shut down before the data could be sent"))
	}
}

func (a *shardingAppender) flushAll() {
	for i := range a.open {
		a.flush(i)
	}
}

func (*shardingAppender) Commit() error   { return nil }
func (*shardingAppender) Rollback() error { return nil }

func (e *prwExporter) putBatch(b *batch) {
	// Very large buffers (a single huge request) are not kept, to bound idle memory.
	if cap(b.series) > 4*e.cfg.MaxBatchSizeBytes {
		return
	}
	b.reset()
	e.batches.Put(b)
}
