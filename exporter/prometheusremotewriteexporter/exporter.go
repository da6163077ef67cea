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
	"sync"
	"sync/atomic"
	"time"

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

	// order lets concurrent exports translate in parallel but hand their batches to the shards in
	// the order they started.
	order handoffOrder

	batches sync.Pool // *batch
	// Translation state (appender, encoder, name caches) for concurrent exports; kept across
	// exports (unlike a sync.Pool) so that the name caches stay warm.
	appenders chan *shardingAppender
	hashSeed  maphash.Seed

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
	e.appenders = make(chan *shardingAppender, 2*runtime.GOMAXPROCS(0))
	e.hashSeed = maphash.MakeSeed()
	e.order.cond.L = &e.order.mu
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
	// Exports still handing off (synchronous mode) go first; later ones find the shards closed.
	t := e.order.ticket()
	e.order.wait(t)
	for _, s := range e.shards {
		close(s.in)
	}
	e.shards = nil
	e.order.done(t)
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
	app := e.getAppender()
	defer e.putAppender(app)
	app.call = call
	app.err = nil
	app.ticket = e.order.ticket()
	app.myTurn = false
	defer func() {
		// Whatever happened, the next export's turn must come.
		e.order.wait(app.ticket)
		app.myTurn = true
		app.handOffPending()
		e.order.done(app.ticket)
	}()
	tr := app.numbers
	clear(tr.seenTargetInfo)

	// Gauges and sums go through the fast path at once; the other types are collected for
	// Prometheus' converter. target_info covers every data point of a resource.
	var errs []error
	var rest pmetric.Metrics
	// A request without gauges or sums goes to the converter as it is, without a copy.
	convertAll := !hasFastPathMetric(md, tr)
	for _, rm := range md.ResourceMetrics().All() {
		tr.startResource(rm.Resource())
		earliest, latest := pcommon.Timestamp(math.MaxUint64), pcommon.Timestamp(0)
		var restRM pmetric.ResourceMetrics
		for _, sm := range rm.ScopeMetrics().All() {
			if err := tr.startScope(sm); err != nil {
				errs = append(errs, err)
				continue
			}
			var restSM pmetric.ScopeMetrics
			for _, m := range sm.Metrics().All() {
				if !e.settings.DisableTargetInfo {
					earliest, latest = timeRange(m, earliest, latest)
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
		if err := tr.targetInfo(rm.Resource(), earliest, latest, app, e.seriesHash); err != nil {
			errs = append(errs, err)
		}
	}
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
		return &shardingAppender{e: e, open: make([]*batch, e.cfg.shardCount()), numbers: newNumberTranslator(e.settings)}
	}
}

func (e *prwExporter) putAppender(a *shardingAppender) {
	a.call = nil
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

// timeRange widens [earliest, latest] to the timestamps of m's data points (for target_info).
func timeRange(m pmetric.Metric, earliest, latest pcommon.Timestamp) (pcommon.Timestamp, pcommon.Timestamp) {
	widen := func(ts pcommon.Timestamp) {
		earliest, latest = min(earliest, ts), max(latest, ts)
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			widen(dp.Timestamp())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			widen(dp.Timestamp())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			widen(dp.Timestamp())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			widen(dp.Timestamp())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			widen(dp.Timestamp())
		}
	}
	return earliest, latest
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

// shardingAppender receives the samples of both translation paths (numberTranslator directly,
// Prometheus' OTLP converter through storage.AppenderV2) and encodes each into the open batch of
// its shard; full batches go to the shard at once, so sending overlaps translation.
type shardingAppender struct {
	e       *prwExporter
	call    *exportCall
	open    []*batch
	enc     seriesEncoder
	numbers *numberTranslator
	err     error

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

// add is appendSample returning the series' hash. Both translation paths come here, so a series
// always lands on the same shard: the one its encoded label set hashes to.
func (a *shardingAppender) add(ls []promLabel, family string, s *sampleArgs) uint64 {
	cfg := a.e.cfg
	encodedLabels := a.enc.encodeLabels(ls)
	hash := maphash.Bytes(a.e.hashSeed, encodedLabels)
	i := int(hash % uint64(len(a.open)))
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
	shard int
	b     *batch
}

// flush hands the open batch of shard i to its sender, or keeps it until this export's turn.
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
	if !a.myTurn && a.e.order.turn.Load() == a.ticket {
		a.myTurn = true // the turn stays until this export is done
	}
	if !a.myTurn {
		a.pending = append(a.pending, pendingBatch{shard: i, b: b})
		return
	}
	a.handOffPending()
	a.send(i, b)
}

// handOffPending sends the batches kept until this export's turn (which the caller holds).
func (a *shardingAppender) handOffPending() {
	for _, p := range a.pending {
		a.send(p.shard, p.b)
	}
	clear(a.pending)
	a.pending = a.pending[:0]
}

func (a *shardingAppender) send(i int, b *batch) {
	if a.e.shards == nil {
		a.e.dropBatch(b, "the exporter is shut down")
		a.call.done(errors.New("exporter shut down before the data could be sent"))
		return
	}
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
