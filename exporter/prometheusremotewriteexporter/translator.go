package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"runtime"
	"sync/atomic"

	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

// translator turns one export into requests handed to a shard set: gauges, sums and (unless they
// become NHCB) explicit-bucket histograms through the fast path (fastpath.go), the other types
// through Prometheus' OTLP converter, both into a shardingAppender. It also decides how many parts
// an export is cut into.
type translator struct {
	settings prw.Settings
	// nhcbAndClassic sends explicit-bucket histograms both as NHCB and as classic series
	// (convert_explicit_histograms_to_nhcb with keep_classic_histograms).
	nhcbAndClassic bool
	shards         int
	appendOpts     appendOptions
	logger         *zap.Logger
	failed         metric.Int64Counter // failed_translations

	// Translation state (appender, encoder, name caches) for concurrent exports; kept across
	// exports (unlike a sync.Pool) so that the name caches stay warm.
	appenders chan *shardingAppender
	// bytesPerPoint (float64 bits) is the encoded size of an OTLP data point seen in recent
	// exports: it predicts how many requests an export needs (partsFor).
	bytesPerPoint atomic.Uint64
}

func newTranslator(cfg *Config, logger *zap.Logger, tb *metadata.TelemetryBuilder) *translator {
	withSuffixes, utf8 := cfg.withSuffixesAndUTF8()
	v2 := cfg.remoteWriteV2()
	t := &translator{
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
		nhcbAndClassic: cfg.ConvertExplicitHistogramsToNHCB && cfg.KeepClassicHistograms,
		shards:         cfg.shardCount(),
		appendOpts: appendOptions{
			v2:            v2,
			maxBatchBytes: cfg.MaxBatchSizeBytes,
			createdSeries: !v2 && cfg.CreatedMetric.Enabled,
			sendMetadata:  !v2 && cfg.SendMetadata,
			seed:          maphash.MakeSeed(),
			translated:    tb.ExporterPrometheusremotewriteTranslatedTimeSeries,
		},
		logger:    logger,
		failed:    tb.ExporterPrometheusremotewriteFailedTranslations,
		appenders: make(chan *shardingAppender, 2*runtime.GOMAXPROCS(0)),
	}
	t.bytesPerPoint.Store(math.Float64bits(initialBytesPerPoint))
	return t
}

// translate translates md and hands its requests to set, in the export's turn, as they fill up.
// The requests are added to call, which the caller waits on. A translation error concerns single
// metrics that cannot be represented; it is logged and counted, not returned, so that the
// translatable data is not dropped again by the caller.
func (t *translator) translate(ctx context.Context, set *shardSet, md pmetric.Metrics, call *exportCall) {
	app := t.getAppender()
	defer t.putAppender(app)
	app.begin(set, call, t.partsFor(md))
	defer func() {
		app.finish()
		t.learnSize(md.DataPointCount(), app.handedOffBytes)
	}()
	if err := t.translateInto(ctx, app, md); err != nil {
		t.failed.Add(ctx, 1)
		t.logger.Warn("some metrics could not be translated to Prometheus series and were dropped; the rest is sent", zap.Error(err))
	}
}

// translateInto sends the fast path's metrics to the appender at once and collects the other types
// for Prometheus' converter; target_info covers every data point of a resource.
func (t *translator) translateInto(ctx context.Context, app *shardingAppender, md pmetric.Metrics) error {
	tr := app.numbers
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
				if !t.settings.DisableTargetInfo {
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
		if err := tr.targetInfo(rm.Resource(), latest, hasPoints, t.seriesHash); err != nil {
			errs = append(errs, err)
		}
	}
	tr.flushTargetInfo(app)
	if convertAll {
		rest = md
	}
	if rest != (pmetric.Metrics{}) {
		errs = append(errs, t.convert(ctx, rest, app))
	}
	app.flushAll()
	return errors.Join(errs...)
}

// convert translates histograms, exponential histograms and summaries with Prometheus' OTLP
// converter (target_info is emitted by the fast path).
func (t *translator) convert(ctx context.Context, md pmetric.Metrics, app *shardingAppender) error {
	settings := t.settings
	settings.DisableTargetInfo = true
	annots, err := prw.NewPrometheusConverter(app).FromMetrics(ctx, md, settings)
	if t.nhcbAndClassic {
		classic := settings
		classic.ConvertHistogramsToNHCB = false
		if only := histogramsOnly(md); only.DataPointCount() > 0 {
			_, cerr := prw.NewPrometheusConverter(app).FromMetrics(ctx, only, classic)
			err = errors.Join(err, cerr)
		}
	}
	if len(annots) > 0 {
		t.logger.Debug("translation warnings", zap.Error(annots.AsErrors()[0]), zap.Int("count", len(annots)))
	}
	return err
}

func (t *translator) getAppender() *shardingAppender {
	select {
	case a := <-t.appenders:
		return a
	default:
		return t.newAppender()
	}
}

func (t *translator) newAppender() *shardingAppender {
	return &shardingAppender{opts: t.appendOpts, numbers: newNumberTranslator(t.settings)}
}

func (t *translator) putAppender(a *shardingAppender) {
	a.release()
	select {
	case t.appenders <- a:
	default:
	}
}

// seriesHash is a hash of a label set (target_info deduplication).
func (t *translator) seriesHash(ls []promLabel) uint64 {
	var h maphash.Hash
	h.SetSeed(t.appendOpts.seed)
	for _, l := range ls {
		h.WriteString(l.name)
		h.WriteByte(0xff)
		h.WriteString(l.value)
		h.WriteByte(0xff)
	}
	return h.Sum64()
}

// initialBytesPerPoint is the guess of partsFor before the first export was measured.
const initialBytesPerPoint = 100

// partsFor is the number of parts md is cut into. x, the predicted encoded size over
// max_batch_size_bytes (+5 %, so that a part slightly larger than predicted is not split in two),
// is the fewest requests md can go in, ceil(x); k parts need k·ceil(x/k) requests (each part ends
// with a partial one). The largest k up to `shards` that needs at most 15 % more requests than
// ceil(x) is chosen: an export that fits one request is one request, a medium one is not cut
// into more requests than contrib sends, and a large one goes out over every sender.
func (t *translator) partsFor(md pmetric.Metrics) int {
	x := float64(md.DataPointCount()) * math.Float64frombits(t.bytesPerPoint.Load()) * 1.05 / float64(t.appendOpts.maxBatchBytes)
	fewest := math.Ceil(x)
	allowed := math.Floor(fewest * 1.15)
	for k := min(t.shards, numLanes); k > 1; k-- {
		if float64(k)*math.Ceil(x/float64(k)) <= allowed {
			return k
		}
	}
	return 1
}

// learnSize updates the size prediction with an export of points data points encoded in n bytes.
func (t *translator) learnSize(points, n int) {
	if points == 0 || n == 0 {
		return
	}
	observed := float64(n) / float64(points)
	old := math.Float64frombits(t.bytesPerPoint.Load())
	t.bytesPerPoint.Store(math.Float64bits((old + 3*observed) / 4))
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
