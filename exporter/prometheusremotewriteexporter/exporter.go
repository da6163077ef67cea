// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

// prwExporter translates OTLP metrics with Prometheus' own OTLP translator and sends the samples
// through ordering lanes (lanes.go): every series belongs to one lane by the hash of its labels,
// and a request is sent only after the earlier requests sharing a lane with it, so the samples of
// a series are never reordered while independent requests are sent concurrently.
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

	// partitions holds one partition per combination of include_metadata_keys values (a single
	// one without them); each has its own hand-off order and lane scheduler.
	partMu        sync.Mutex
	partitions    map[string]*partition
	tenantsClosed bool           // the tenants' queues are closed (shutdown)
	tenantsWG     sync.WaitGroup // the tenants' queue consumers

	batches     sync.Pool // *batch
	sendBuffers sync.Pool // *sendBuffers
	// Translation state (appender, encoder, name caches) for concurrent exports; kept across
	// exports (unlike a sync.Pool) so that the name caches stay warm.
	appenders chan *shardingAppender
	hashSeed  maphash.Seed
	// bytesPerPoint (float64 bits) is the encoded size of an OTLP data point seen in recent
	// exports: it predicts how many requests an export needs (partsFor).
	bytesPerPoint atomic.Uint64

	// ctx bounds HTTP attempts; it is canceled at the very end of shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	// retryCtx is canceled when shutdown begins: waits between retries (and rate-limit waits) end
	// at once, and no request is attempted again.
	retryCtx    context.Context
	stopRetries context.CancelFunc
	stopping    atomic.Bool
	// persistent is true when sending_queue has a storage: at shutdown, exports not delivered are
	// handed back to it (they stay on disk) instead of being dropped.
	persistent bool
	// queued is true when a queue consumes the exports (errors returned go nowhere but its log).
	queued  bool
	unsent  shutdownReport
	rejects rejectLog
}

// shutdownReport counts what a shutdown did not deliver, for its single log line.
type shutdownReport struct {
	droppedExports, droppedPoints atomic.Int64
	keptExports                   atomic.Int64
	logOnce                       sync.Once
}

// partition is the sending state of one tenant (one combination of include_metadata_keys values).
type partition struct {
	headers http.Header // the forwarded metadata
	order   handoffOrder
	sched   *laneScheduler
	// abandoned is set when a request failed during shutdown: the backend is considered down and
	// the partition's remaining data is not attempted any more.
	abandoned atomic.Bool
	// queue holds the tenant's exports (Config.tenantQueues); nil otherwise.
	queue chan queuedExport
}

// errShutdownInterrupted marks an export that was not completely delivered because the exporter
// is shutting down. With a persistent queue it is returned as a retryable error, which
// exporterhelper turns into a shutdown error: the export stays on disk for the next start.
var errShutdownInterrupted = errors.New("interrupted by shutdown before the data was delivered")

func newExporter(cfg *Config, set exporter.Settings) (*prwExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	withSuffixes, utf8 := cfg.withSuffixesAndUTF8()
	q := cfg.queueConfig()
	e := &prwExporter{
		cfg:        cfg,
		set:        set,
		telemetry:  tb,
		v2:         cfg.remoteWriteV2(),
		endpoint:   cfg.HTTP.Endpoint,
		userAgent:  fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		persistent: q.HasValue() && q.Get().StorageID != nil,
		queued:     q.HasValue() || cfg.tenantQueues(),
		partitions: map[string]*partition{},
		settings: prw.Settings{
			Namespace:                       cfg.Namespace,
			ExternalLabels:                  cfg.ExternalLabels,
			DisableTargetInfo:               !cfg.TargetInfo.Enabled,
			AddMetricSuffixes:               withSuffixes,
			AllowUTF8:                       utf8,
			ConvertHistogramsToNHCB:         cfg.ConvertExplicitHistogramsToNHCB,
			PromoteScopeMetadata:            !cfg.DisableScopeInfo,
			LabelNameUnderscoreSanitization: true,
		},
	}
	if cfg.MaxSamplesPerSecond > 0 {
		e.limiter = newTokenBucket(cfg.MaxSamplesPerSecond)
	}
	e.batches.New = func() any { return newBatch(e.v2) }
	e.sendBuffers.New = func() any { return &sendBuffers{} }
	e.appenders = make(chan *shardingAppender, 2*runtime.GOMAXPROCS(0))
	e.hashSeed = maphash.MakeSeed()
	e.bytesPerPoint.Store(math.Float64bits(initialBytesPerPoint))
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.retryCtx, e.stopRetries = context.WithCancel(e.ctx)
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
	e.client = c
	e.telemetry.ExporterPrometheusremotewriteShards.Add(ctx, int64(n))
	return nil
}

// partitionFor returns the partition of the export's client metadata (include_metadata_keys).
func (e *prwExporter) partitionFor(ctx context.Context) *partition {
	headers, key := e.forwardedHeaders(ctx)
	e.partMu.Lock()
	defer e.partMu.Unlock()
	return e.partitionLocked(key, headers)
}

func (e *prwExporter) partitionLocked(key string, headers http.Header) *partition {
	p := e.partitions[key]
	if p == nil {
		p = &partition{headers: headers}
		p.order.cond.L = &p.order.mu
		p.sched = newLaneScheduler(e, p, e.cfg.shardCount())
		if e.cfg.tenantQueues() {
			p.queue = make(chan queuedExport, e.cfg.RemoteWriteQueue.QueueSize)
			e.tenantsWG.Add(1)
			go e.consumeTenantQueue(p)
		}
		e.partitions[key] = p
	}
	return p
}

// queuedExport is an export waiting in a tenant's queue.
type queuedExport struct {
	ctx context.Context
	md  pmetric.Metrics
}

// errQueueFull refuses an export when its tenant's queue is full (back-pressure to the receiver,
// like exporterhelper's queue).
var errQueueFull = errors.New("the remote_write_queue of this tenant (include_metadata_keys values) is full")

// enqueue puts md in the queue of its tenant. With include_metadata_keys, every tenant has its
// own in-memory queue of remote_write_queue.queue_size exports with its own consumer, so that a
// tenant whose backend rejects or throttles it (retries) does not hold back the others.
func (e *prwExporter) enqueue(ctx context.Context, md pmetric.Metrics) error {
	headers, key := e.forwardedHeaders(ctx)
	e.partMu.Lock()
	defer e.partMu.Unlock()
	if e.tenantsClosed {
		return consumererror.NewPermanent(errors.New("the prometheus_remote_write exporter is shut down"))
	}
	p := e.partitionLocked(key, headers)
	select {
	case p.queue <- queuedExport{ctx: context.WithoutCancel(ctx), md: md}:
		return nil
	default:
		return errQueueFull
	}
}

func (e *prwExporter) consumeTenantQueue(p *partition) {
	defer e.tenantsWG.Done()
	for q := range p.queue {
		// The outcome was counted and logged by export; nobody is waiting for it.
		_ = e.export(q.ctx, p, q.md)
	}
}

// closeTenantQueues stops accepting exports and waits until the tenants' queues are drained
// (during shutdown, without retries).
func (e *prwExporter) closeTenantQueues() {
	e.partMu.Lock()
	if !e.tenantsClosed {
		e.tenantsClosed = true
		for _, p := range e.partitions {
			if p.queue != nil {
				close(p.queue)
			}
		}
	}
	e.partMu.Unlock()
	e.tenantsWG.Wait()
}

// beginShutdown runs before exporterhelper shuts its queue down: retries stop at once, so that
// the queue's consumers return promptly (see pushMetrics for what becomes of their exports).
func (e *prwExporter) beginShutdown() {
	e.stopping.Store(true)
	e.stopRetries()
}

// shutdown runs after exporterhelper has stopped its queue: every queued export has returned.
func (e *prwExporter) shutdown(context.Context) error {
	e.beginShutdown()
	e.closeTenantQueues()
	e.partMu.Lock()
	parts := make([]*partition, 0, len(e.partitions))
	for _, p := range e.partitions {
		parts = append(parts, p)
	}
	e.partMu.Unlock()
	for _, p := range parts {
		// Exports still handing off (synchronous mode) finish first.
		t := p.order.ticket()
		p.order.wait(t)
		p.order.done(t)
		p.sched.wait()
	}
	e.cancel()
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.logShutdownReport()
	e.telemetry.Shutdown()
	return nil
}

// logShutdownReport says once what the shutdown did not deliver.
func (e *prwExporter) logShutdownReport() {
	r := &e.unsent
	r.logOnce.Do(func() {
		if n := r.droppedExports.Load(); n > 0 {
			e.set.Logger.Error("remote write failed during shutdown: the undelivered exports were dropped (without a persistent queue nothing can keep them; configure sending_queue with storage: file_storage/<name>)",
				zap.Int64("dropped_exports", n), zap.Int64("dropped_data_points", r.droppedPoints.Load()), zap.String("endpoint", e.endpoint))
		}
		if n := r.keptExports.Load(); n > 0 {
			e.set.Logger.Info("exports interrupted by shutdown stay in the persistent queue and are sent after the next start",
				zap.Int64("interrupted_exports", n), zap.String("endpoint", e.endpoint))
		}
	})
}

// exportCall tracks the requests of one export until every one has finished.
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

// pushMetrics translates md, hands its requests to the lanes as they fill up and waits until
// every request is delivered or dropped, so that a queue (persistent or not) only forgets data
// that reached the backend or was reported as dropped.
//
// What it returns decides what exporterhelper does and logs. Data the endpoint rejected or that
// exhausted its retries was already counted (failed_samples) and logged by the exporter, once per
// kind at error level and then at debug level: behind a queue nil is returned, because
// exporterhelper would log every failed export at error level again. Without a queue the caller
// gets the error. An export interrupted by shutdown is kept by a persistent queue (retryable error)
// or counted as dropped and reported in one log line at the end of the shutdown.
func (e *prwExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	if e.ctx.Err() != nil {
		return consumererror.NewPermanent(errors.New("the prometheus_remote_write exporter is shut down"))
	}
	if e.cfg.tenantQueues() {
		return e.enqueue(ctx, md)
	}
	return e.export(ctx, e.partitionFor(ctx), md)
}

// export sends md through partition p and waits for the outcome (see pushMetrics).
func (e *prwExporter) export(ctx context.Context, p *partition, md pmetric.Metrics) error {
	var err error
	if e.stopping.Load() && (e.persistent || p.abandoned.Load()) {
		// Shutdown: a persistent queue keeps what is not sent yet; without one, the backend
		// already failed during this shutdown and the rest is not attempted.
		err = errShutdownInterrupted
	} else {
		call := &exportCall{headers: p.headers}
		err = e.translateAndHandOff(ctx, p, md, call)
		call.wg.Wait()
		err = errors.Join(err, call.err)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errShutdownInterrupted) && e.persistent:
		e.unsent.keptExports.Add(1)
		return err
	case errors.Is(err, errShutdownInterrupted):
		e.unsent.droppedExports.Add(1)
		e.unsent.droppedPoints.Add(int64(md.DataPointCount()))
		e.telemetry.ExporterPrometheusremotewriteShutdownDroppedDataPoints.Add(context.Background(), int64(md.DataPointCount()))
		if e.queued {
			return nil
		}
	case e.queued:
		return nil
	}
	return consumererror.NewPermanent(err)
}

// initialBytesPerPoint is the guess of partsFor before the first export was measured.
const initialBytesPerPoint = 100

// partsFor is the number of parts md is cut into. x, the predicted encoded size over
// max_batch_size_bytes (+5 %, so that a part slightly larger than predicted is not split in two),
// is the fewest requests md can go in, ceil(x); k parts need k·ceil(x/k) requests (each part ends
// with a partial one). The largest k up to `shards` that needs at most 15 % more requests than
// ceil(x) is chosen: an export that fits one request is one request, a medium one is not cut
// into more requests than contrib sends, and a large one goes out over every sender.
func (e *prwExporter) partsFor(md pmetric.Metrics) int {
	x := float64(md.DataPointCount()) * math.Float64frombits(e.bytesPerPoint.Load()) * 1.05 / float64(e.cfg.MaxBatchSizeBytes)
	fewest := math.Ceil(x)
	allowed := math.Floor(fewest * 1.15)
	for k := min(e.cfg.shardCount(), numLanes); k > 1; k-- {
		if float64(k)*math.Ceil(x/float64(k)) <= allowed {
			return k
		}
	}
	return 1
}

// learnSize updates the size prediction with an export of points data points encoded in n bytes.
func (e *prwExporter) learnSize(points, n int) {
	if points == 0 || n == 0 {
		return
	}
	observed := float64(n) / float64(points)
	old := math.Float64frombits(e.bytesPerPoint.Load())
	e.bytesPerPoint.Store(math.Float64bits((old + 3*observed) / 4))
}

func (e *prwExporter) translateAndHandOff(ctx context.Context, p *partition, md pmetric.Metrics, call *exportCall) error {
	app := e.getAppender()
	defer e.putAppender(app)
	app.call = call
	app.part = p
	app.err = nil
	app.setParts(e.partsFor(md))
	app.ticket = p.order.ticket()
	app.myTurn = false
	defer func() {
		// Whatever happened, the next export's turn must come.
		p.order.wait(app.ticket)
		app.myTurn = true
		app.handOffPending()
		p.order.done(app.ticket)
		e.learnSize(md.DataPointCount(), app.handedOffBytes)
	}()
	tr := app.numbers

	// Gauges and sums go through the fast path at once; the other types are collected for
	// Prometheus' converter. target_info covers every data point of a resource.
	var errs []error
	var rest pmetric.Metrics
	// A request without gauges or sums goes to the converter as it is, without a copy.
	convertAll := !hasFastPathMetric(md, tr)
	for _, rm := range md.ResourceMetrics().All() {
		tr.startResource(rm.Resource())
		var latest pcommon.Timestamp
		hasPoints := false
		var restRM pmetric.ResourceMetrics
		for _, sm := range rm.ScopeMetrics().All() {
			if err := tr.startScope(sm); err != nil {
				errs = append(errs, err)
				continue
			}
			var restSM pmetric.ScopeMetrics
			for _, m := range sm.Metrics().All() {
				if !e.settings.DisableTargetInfo {
					latest, hasPoints = newestTimestamp(m, latest, hasPoints)
				}
				if tr.fastPath(m.Type()) {
					if err := tr.translateMetric(m, app); err != nil {
						errs = append(errs, err)
					}
					continue
				}
				if convertAll {
					continue
				}
				if restSM == (pmetric.ScopeMetrics{}) {
					if restRM == (pmetric.ResourceMetrics{}) {
						if rest == (pmetric.Metrics{}) {
							rest = pmetric.NewMetrics()
						}
						restRM = rest.ResourceMetrics().AppendEmpty()
						rm.Resource().CopyTo(restRM.Resource())
					}
					restSM = restRM.ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(restSM.Scope())
					restSM.SetSchemaUrl(sm.SchemaUrl())
				}
				m.CopyTo(restSM.Metrics().AppendEmpty())
			}
		}
		if err := tr.targetInfo(rm.Resource(), latest, hasPoints, e.seriesHash); err != nil {
			errs = append(errs, err)
		}
	}
	tr.flushTargetInfo(app)
	if convertAll {
		rest = md
	}
	if rest != (pmetric.Metrics{}) {
		errs = append(errs, e.convert(ctx, rest, app))
	}
	app.flushAll()
	if err := errors.Join(errs...); err != nil {
		e.telemetry.ExporterPrometheusremotewriteFailedTranslations.Add(ctx, 1)
		e.set.Logger.Warn("some metrics could not be translated to Prometheus series and were dropped; the rest is sent", zap.Error(err))
	}
	// A translation error concerns single metrics that cannot be represented; it is logged and
	// counted, not returned, so that the translatable data is not dropped again by the caller.
	return app.err
}

func (e *prwExporter) getAppender() *shardingAppender {
	select {
	case a := <-e.appenders:
		return a
	default:
		return &shardingAppender{e: e, numbers: newNumberTranslator(e.settings)}
	}
}

func (e *prwExporter) putAppender(a *shardingAppender) {
	a.call = nil
	a.part = nil
	select {
	case e.appenders <- a:
	default:
	}
}

// handoffOrder hands out tickets in the order exports start and lets the holder of the current
// turn hand batches to the shards: a series' samples from an earlier export always reach its shard
// before those of a later one, while translation itself runs concurrently.
type handoffOrder struct {
	mu   sync.Mutex
	cond sync.Cond
	next uint64
	turn atomic.Uint64
}

func (h *handoffOrder) ticket() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.next
	h.next++
	return t
}

func (h *handoffOrder) wait(t uint64) {
	h.mu.Lock()
	for h.turn.Load() != t {
		h.cond.Wait()
	}
	h.mu.Unlock()
}

func (h *handoffOrder) done(t uint64) {
	h.mu.Lock()
	h.turn.Store(t + 1)
	h.cond.Broadcast()
	h.mu.Unlock()
}

// convert translates histograms, exponential histograms and summaries with Prometheus' OTLP
// converter (target_info is emitted by the fast path).
func (e *prwExporter) convert(ctx context.Context, md pmetric.Metrics, app *shardingAppender) error {
	settings := e.settings
	settings.DisableTargetInfo = true
	annots, err := prw.NewPrometheusConverter(app).FromMetrics(ctx, md, settings)
	if e.cfg.ConvertExplicitHistogramsToNHCB && e.cfg.KeepClassicHistograms {
		classic := settings
		classic.ConvertHistogramsToNHCB = false
		if only := histogramsOnly(md); only.DataPointCount() > 0 {
			_, cerr := prw.NewPrometheusConverter(app).FromMetrics(ctx, only, classic)
			err = errors.Join(err, cerr)
		}
	}
	if len(annots) > 0 {
		e.set.Logger.Debug("translation warnings", zap.Error(annots.AsErrors()[0]), zap.Int("count", len(annots)))
	}
	return err
}

// hasFastPathMetric reports whether md holds a metric the fast path translates.
func hasFastPathMetric(md pmetric.Metrics, tr *numberTranslator) bool {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if tr.fastPath(m.Type()) {
					return true
				}
			}
		}
	}
	return false
}

// newestTimestamp raises latest to the newest timestamp of m's data points (for target_info);
// hasPoints becomes true once a data point was seen.
func newestTimestamp(m pmetric.Metric, latest pcommon.Timestamp, hasPoints bool) (pcommon.Timestamp, bool) {
	see := func(ts pcommon.Timestamp) {
		latest, hasPoints = max(latest, ts), true
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			see(dp.Timestamp())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			see(dp.Timestamp())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			see(dp.Timestamp())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			see(dp.Timestamp())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			see(dp.Timestamp())
		}
	}
	return latest, hasPoints
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

// forwardedHeaders returns the values of include_metadata_keys in the export's client metadata,
// forwarded as request headers like contrib does (each value of each key, under the key's name),
// and the partition key they make.
func (e *prwExporter) forwardedHeaders(ctx context.Context) (http.Header, string) {
	if len(e.cfg.IncludeMetadataKeys) == 0 {
		return nil, ""
	}
	info := client.FromContext(ctx)
	var h http.Header
	var key strings.Builder
	for _, k := range e.cfg.IncludeMetadataKeys {
		vs := info.Metadata.Get(k)
		// The key distinguishes absent from empty values and cannot be forged by a value
		// containing the separators: lengths are written before the strings.
		fmt.Fprintf(&key, "%d:", len(vs))
		for _, v := range vs {
			fmt.Fprintf(&key, "%d:%s", len(v), v)
			if h == nil {
				h = http.Header{}
			}
			h.Add(k, v)
		}
	}
	return h, key.String()
}

// shardingAppender receives the samples of both translation paths (numberTranslator directly,
// Prometheus' OTLP converter through storage.AppenderV2) and encodes each into the open batch of
// its shard; full batches go to the shard at once, so sending overlaps translation.
type shardingAppender struct {
	e       *prwExporter
	call    *exportCall
	part    *partition
	open    []*batch  // the open request of each part of the export
	lanes   []laneSet // the lanes of each part
	enc     seriesEncoder
	numbers *numberTranslator
	err     error
	// handedOffBytes is the encoded size of the export so far (learnSize).
	handedOffBytes int

	// Hand-off order: batches completed before this export's turn wait in pending.
	ticket  uint64
	myTurn  bool
	pending []pendingBatch

	// Scratch for samples from the converter.
	ls        []promLabel
	exLabels  []promLabel
	exemplars []promExemplar
	sample    sampleArgs
}

var (
	_ storage.AppenderV2 = (*shardingAppender)(nil)
	_ numberSink         = (*shardingAppender)(nil)
)

// seriesHash is a hash of a label set (target_info deduplication).
func (e *prwExporter) seriesHash(ls []promLabel) uint64 {
	var h maphash.Hash
	h.SetSeed(e.hashSeed)
	for _, l := range ls {
		h.WriteString(l.name)
		h.WriteByte(0xff)
		h.WriteString(l.value)
		h.WriteByte(0xff)
	}
	return h.Sum64()
}

// Append takes a sample from Prometheus' converter.
func (a *shardingAppender) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	a.ls = a.ls[:0]
	ls.Range(func(l labels.Label) { a.ls = append(a.ls, promLabel{name: l.Name, value: l.Value}) })
	a.exemplars, a.exLabels = a.exemplars[:0], a.exLabels[:0]
	for _, ex := range opts.Exemplars {
		start := len(a.exLabels)
		ex.Labels.Range(func(l labels.Label) { a.exLabels = append(a.exLabels, promLabel{name: l.Name, value: l.Value}) })
		ets := ex.Ts
		if !ex.HasTs {
			ets = t
		}
		// Label slices are fixed up below, once exLabels no longer grows.
		a.exemplars = append(a.exemplars, promExemplar{value: ex.Value, ts: ets, labels: a.exLabels[start:len(a.exLabels):len(a.exLabels)]})
	}
	off := 0
	for i := range a.exemplars {
		n := len(a.exemplars[i].labels)
		a.exemplars[i].labels = a.exLabels[off : off+n]
		off += n
	}
	a.sample = sampleArgs{st: st, t: t, v: v, h: h, fh: fh, exemplars: a.exemplars, meta: opts.Metadata}
	return storage.SeriesRef(a.add(a.ls, opts.MetricFamilyName, &a.sample)), nil
}

// appendSample encodes one sample of the series ls into the open batch of its shard.
func (a *shardingAppender) appendSample(ls []promLabel, family string, s *sampleArgs) {
	a.add(ls, family, s)
}

// setParts prepares the appender for an export cut into k parts.
func (a *shardingAppender) setParts(k int) {
	a.handedOffBytes = 0
	if len(a.open) == k {
		return
	}
	a.open = make([]*batch, k)
	a.lanes = make([]laneSet, k)
	for p := range k {
		a.lanes[p] = partLanes(k, p)
	}
}

// add is appendSample returning the series' hash. Both translation paths come here, so a series
// always lands in the same lane, the one its encoded label set hashes to, and in the part of the
// export holding that lane.
func (a *shardingAppender) add(ls []promLabel, family string, s *sampleArgs) uint64 {
	cfg := a.e.cfg
	encodedLabels := a.enc.encodeLabels(ls)
	hash := maphash.Bytes(a.e.hashSeed, encodedLabels)
	i := int(hash%numLanes) % len(a.open)
	created := ""
	if !a.e.v2 && cfg.CreatedMetric.Enabled && s.st != 0 && s.h == nil && s.fh == nil && !math.IsNaN(s.v) {
		created = createdSeriesName(getLabel(ls, model.MetricNameLabel), s.meta)
	}
	est := estimate(ls, s.h, s.fh, s.exemplars)
	if created != "" {
		est *= 2
	}
	b := a.open[i]
	if b != nil && !b.empty() && b.size()+est > cfg.MaxBatchSizeBytes {
		a.flush(i)
		b = nil
	}
	if b == nil {
		b = a.e.batches.Get().(*batch)
		a.open[i] = b
	}
	a.enc.encode(b, ls, encodedLabels, s)
	if a.e.v2 {
		return hash
	}
	if cfg.SendMetadata {
		b.encodeMetadataV1(family, s.meta)
	}
	if created != "" {
		a.enc.encodeV1(b, a.enc.encodeLabels(a.enc.withName(ls, created)), &sampleArgs{t: s.t, v: float64(s.st) / 1000})
	}
	return hash
}

type pendingBatch struct {
	lanes laneSet
	b     *batch
}

// flush hands the open request of part i to the lanes, or keeps it until this export's turn.
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
	a.handedOffBytes += b.size()
	a.call.wg.Add(1)
	if !a.myTurn && a.part.order.turn.Load() == a.ticket {
		a.myTurn = true // the turn stays until this export is done
	}
	if !a.myTurn {
		a.pending = append(a.pending, pendingBatch{lanes: a.lanes[i], b: b})
		return
	}
	a.handOffPending()
	a.part.sched.submit(b, a.lanes[i], a.call)
}

// handOffPending sends the batches kept until this export's turn (which the caller holds).
func (a *shardingAppender) handOffPending() {
	for _, p := range a.pending {
		a.part.sched.submit(p.b, p.lanes, a.call)
	}
	clear(a.pending)
	a.pending = a.pending[:0]
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
