package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// numberTranslator converts gauges and sums (by far the most common OTLP metrics) and target_info
// straight from pdata into label strings for the encoder, with the semantics of Prometheus' OTLP
// translator (prw.PrometheusConverter, which the exporter still uses for histograms and summaries;
// fastpath_test.go checks that both produce the same series). Names come from otlptranslator,
// cached per metric and per attribute key, so that a data point costs no naming work and no
// allocation. Each shardingAppender owns one, used by one export (one goroutine) at a time.
type numberTranslator struct {
	settings   prw.Settings
	metricName otlptranslator.MetricNamer
	labelName  otlptranslator.LabelNamer
	unitName   otlptranslator.UnitNamer

	metrics map[metricKey]metricNames
	labels  map[string]labelNameResult
	les     map[uint64]string // le label values by the bits of their bound

	// Per ResourceMetrics / ScopeMetrics: the label operations the converter applies after the
	// data point attributes (job, instance, external labels, scope labels), in its order.
	resourceOps []labelOp
	ops         []labelOp
	job         string
	instance    string

	// Per data point scratch.
	attrs     []promLabel // attributes sorted by their OTLP key
	ls        []promLabel // the series labels
	series    []promLabel // a histogram series' labels (histogramSeries)
	arena     []byte      // text of non-string attribute values
	exemplars []promExemplar
	exLabels  []promLabel
	exSpans   [][2]int

	// target_info series of the current export, sent once each by flushTargetInfo.
	targetInfos     []pendingTargetInfo
	targetInfoIndex map[targetInfoKey]int
}

// pendingTargetInfo is a target_info series waiting for the end of the export.
type pendingTargetInfo struct {
	ls     []promLabel // cloned: the translator's label scratch is reused
	family string
	latest pcommon.Timestamp
}

// Cache bounds: names come from instrumentation, but a misbehaving producer can send unbounded
// distinct names; the caches then start over instead of growing.
const (
	maxCachedMetricNames = 20_000
	maxCachedLabelNames  = 20_000
	maxCachedBounds      = 20_000
)

type metricKey struct {
	name, unit string
	typ        otlptranslator.MetricType
}

type metricNames struct {
	family string
	unit   string
	err    error
}

type labelNameResult struct {
	name string
	err  error
}

// labelOp sets a label after the attributes; onlyIfAbsent keeps an existing value (external labels).
type labelOp struct {
	name, value  string
	onlyIfAbsent bool
}

// targetInfoKey identifies a target_info series (the hash of its labels) within one export.
type targetInfoKey uint64

func newNumberTranslator(settings prw.Settings) *numberTranslator {
	return &numberTranslator{
		settings: settings,
		metricName: otlptranslator.MetricNamer{
			Namespace:          settings.Namespace,
			WithMetricSuffixes: settings.AddMetricSuffixes,
			UTF8Allowed:        settings.AllowUTF8,
		},
		labelName: otlptranslator.LabelNamer{
			UTF8Allowed:                 settings.AllowUTF8,
			UnderscoreLabelSanitization: settings.LabelNameUnderscoreSanitization,
			PreserveMultipleUnderscores: settings.LabelNamePreserveMultipleUnderscores,
		},
		metrics:         make(map[metricKey]metricNames),
		labels:          make(map[string]labelNameResult),
		les:             make(map[uint64]string),
		targetInfoIndex: make(map[targetInfoKey]int),
	}
}

// fastPath reports whether numberTranslator translates metrics of type t: gauges, sums and,
// unless they are to become native histograms (NHCB), explicit-bucket histograms.
func (tr *numberTranslator) fastPath(t pmetric.MetricType) bool {
	switch t {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
		return true
	case pmetric.MetricTypeHistogram:
		return !tr.settings.ConvertHistogramsToNHCB
	}
	return false
}

// names returns the Prometheus family name and unit of a metric, from the cache when known.
func (tr *numberTranslator) names(m pmetric.Metric) metricNames {
	om := prw.TranslatorMetricFromOtelMetric(m)
	key := metricKey{name: om.Name, unit: om.Unit, typ: om.Type}
	if n, ok := tr.metrics[key]; ok {
		return n
	}
	if len(tr.metrics) >= maxCachedMetricNames {
		clear(tr.metrics)
	}
	family, err := tr.metricName.Build(om)
	n := metricNames{family: family, unit: tr.unitName.Build(om.Unit), err: err}
	// Keys are cloned: they must not keep the request's memory alive.
	key.name, key.unit = strings.Clone(key.name), strings.Clone(key.unit)
	tr.metrics[key] = n
	return n
}

// buildLabelName sanitizes an attribute key (otlptranslator.LabelNamer), from the cache when known.
func (tr *numberTranslator) buildLabelName(key string) (string, error) {
	if r, ok := tr.labels[key]; ok {
		return r.name, r.err
	}
	if len(tr.labels) >= maxCachedLabelNames {
		clear(tr.labels)
	}
	name, err := tr.labelName.Build(key)
	tr.labels[strings.Clone(key)] = labelNameResult{name: name, err: err}
	return name, err
}

// startResource computes job, instance and the external labels of a resource.
func (tr *numberTranslator) startResource(res pcommon.Resource) {
	attrs := res.Attributes()
	tr.job, tr.instance = "", ""
	if v, ok := attrs.Get("service.name"); ok {
		tr.job = v.AsString()
		if ns, ok := attrs.Get("service.namespace"); ok {
			tr.job = ns.AsString() + "/" + tr.job
		}
	}
	if v, ok := attrs.Get("service.instance.id"); ok {
		tr.instance = v.AsString()
	}
	ops := tr.resourceOps[:0]
	if tr.job != "" {
		ops = append(ops, labelOp{name: model.JobLabel, value: tr.job})
	}
	if tr.instance != "" {
		ops = append(ops, labelOp{name: model.InstanceLabel, value: tr.instance})
	}
	for k, v := range tr.settings.ExternalLabels {
		ops = append(ops, labelOp{name: k, value: v, onlyIfAbsent: true})
	}
	tr.resourceOps = ops
}

// startScope adds the otel_scope_* labels of a scope (when promoted) to the resource's operations.
// An error (an unnamable scope attribute) skips the scope, like the converter.
func (tr *numberTranslator) startScope(sm pmetric.ScopeMetrics) error {
	tr.ops = append(tr.ops[:0], tr.resourceOps...)
	sc := sm.Scope()
	if !tr.settings.PromoteScopeMetadata || sc.Name() == "" {
		return nil
	}
	// Scope attributes: last one wins per label name, empty values are dropped.
	scopeAttrs := tr.attrs[:0]
	var err error
	sc.Attributes().Range(func(k string, v pcommon.Value) bool {
		var name string
		if name, err = tr.buildLabelName("otel_scope_" + k); err != nil {
			return false
		}
		scopeAttrs = setLabel(scopeAttrs, name, v.AsString())
		return true
	})
	tr.attrs = scopeAttrs[:0]
	if err != nil {
		return err
	}
	for _, l := range scopeAttrs {
		if l.value != "" {
			tr.ops = append(tr.ops, labelOp{name: l.name, value: l.value})
		}
	}
	tr.ops = append(tr.ops,
		labelOp{name: "otel_scope_name", value: sc.Name()},
		labelOp{name: "otel_scope_version", value: sc.Version()},
		labelOp{name: "otel_scope_schema_url", value: sm.SchemaUrl()},
	)
	return nil
}

// setLabel sets name to value in ls (an empty value removes the label when the set is finished).
func setLabel(ls []promLabel, name, value string) []promLabel {
	for i := range ls {
		if ls[i].name == name {
			ls[i].value = value
			return ls
		}
	}
	return append(ls, promLabel{name: name, value: value})
}

func getLabel(ls []promLabel, name string) string {
	for i := range ls {
		if ls[i].name == name {
			return ls[i].value
		}
	}
	return ""
}

// valueString is pcommon.Value.AsString without an allocation for integers (the text is kept in
// the data point's arena).
func (tr *numberTranslator) valueString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		start := len(tr.arena)
		tr.arena = strconv.AppendInt(tr.arena, v.Int(), 10)
		return unsafe.String(&tr.arena[start], len(tr.arena)-start)
	}
	return v.AsString()
}

// seriesLabels builds the labels of a data point the way the converter's createAttributes does:
// attributes sorted by key and sanitized (values of keys that collide after sanitization are
// joined with ';'), then job, instance, external labels and scope labels, then __name__; empty
// values are dropped and the result is sorted by name. ignore lists attribute keys left out.
func (tr *numberTranslator) seriesLabels(attrs pcommon.Map, ops []labelOp, name string, ignore []string) ([]promLabel, error) {
	tr.arena = tr.arena[:0]
	kv := tr.attrs[:0]
	attrs.Range(func(k string, v pcommon.Value) bool {
		if k == model.MetricNameLabel || slices.Contains(ignore, k) {
			return true
		}
		kv = append(kv, promLabel{name: k, value: tr.valueString(v)})
		return true
	})
	tr.attrs = kv
	slices.SortFunc(kv, func(a, b promLabel) int { return strings.Compare(a.name, b.name) })

	ls := tr.ls[:0]
	if tr.settings.AllowUTF8 {
		for _, l := range kv {
			ls = setLabel(ls, l.name, l.value)
		}
	} else {
		for _, l := range kv {
			n, err := tr.buildLabelName(l.name)
			if err != nil {
				tr.ls = ls
				return nil, err
			}
			if prev := getLabel(ls, n); prev != "" {
				ls = setLabel(ls, n, prev+";"+l.value)
			} else {
				ls = setLabel(ls, n, l.value)
			}
		}
	}
	for _, op := range ops {
		if op.onlyIfAbsent && getLabel(ls, op.name) != "" {
			continue
		}
		ls = setLabel(ls, op.name, op.value)
	}
	ls = setLabel(ls, model.MetricNameLabel, name)
	ls = slices.DeleteFunc(ls, func(l promLabel) bool { return l.value == "" })
	slices.SortFunc(ls, func(a, b promLabel) int { return strings.Compare(a.name, b.name) })
	tr.ls = ls
	return ls, nil
}

// numberSink receives translated samples (the sharding appender).
type numberSink interface {
	appendSample(ls []promLabel, family string, s *sampleArgs)
}

// translateMetric converts a gauge, sum or explicit-bucket histogram. Errors concern the metric
// alone; like the converter, the data points before an error are kept.
func (tr *numberTranslator) translateMetric(m pmetric.Metric, out numberSink) error {
	if m.Type() == pmetric.MetricTypeHistogram {
		return tr.translateHistogram(m, out)
	}
	var dps pmetric.NumberDataPointSlice
	meta := metadata.Metadata{Help: m.Description()}
	withExemplars := false
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps = m.Gauge().DataPoints()
		meta.Type = model.MetricTypeGauge
	case pmetric.MetricTypeSum:
		sum := m.Sum()
		if sum.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return fmt.Errorf("invalid temporality and type combination for metric %q", m.Name())
		}
		dps = sum.DataPoints()
		meta.Type = model.MetricTypeGauge
		if sum.IsMonotonic() {
			meta.Type = model.MetricTypeCounter
		}
		withExemplars = true
	default:
		return fmt.Errorf("unsupported metric type %s", m.Type())
	}
	names := tr.names(m)
	if names.err != nil {
		return names.err
	}
	meta.Unit = names.unit
	if dps.Len() == 0 {
		return fmt.Errorf("empty data points. %s is dropped", m.Name())
	}
	var s sampleArgs
	for _, dp := range dps.All() {
		ls, err := tr.seriesLabels(dp.Attributes(), tr.ops, names.family, nil)
		if err != nil {
			return err
		}
		s = sampleArgs{st: msTimestamp(dp.StartTimestamp()), t: msTimestamp(dp.Timestamp()), meta: meta}
		switch dp.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			s.v = float64(dp.IntValue())
		case pmetric.NumberDataPointValueTypeDouble:
			s.v = dp.DoubleValue()
		}
		if dp.Flags().NoRecordedValue() {
			s.v = math.Float64frombits(value.StaleNaN)
		}
		if withExemplars && dp.Exemplars().Len() > 0 {
			if s.exemplars, err = tr.translateExemplars(dp.Exemplars(), s.t); err != nil {
				return err
			}
		}
		out.appendSample(ls, names.family, &s)
	}
	return nil
}

// translateHistogram converts an explicit-bucket histogram into the classic series, as the
// converter's addHistogramDataPoints does: per data point <family>_sum (when the point has a
// sum), <family>_count, and one cumulative <family>_bucket per bound plus le="+Inf", exemplars
// attached to the first bucket whose bound is >= their value (in their order), the rest to +Inf.
func (tr *numberTranslator) translateHistogram(m pmetric.Metric, out numberSink) error {
	h := m.Histogram()
	switch t := h.AggregationTemporality(); {
	case t == pmetric.AggregationTemporalityCumulative:
	case t == pmetric.AggregationTemporalityDelta && tr.settings.AllowDeltaTemporality:
	default:
		return fmt.Errorf("invalid temporality and type combination for metric %q", m.Name())
	}
	names := tr.names(m)
	if names.err != nil {
		return names.err
	}
	dps := h.DataPoints()
	if dps.Len() == 0 {
		return fmt.Errorf("empty data points. %s is dropped", m.Name())
	}
	meta := metadata.Metadata{Type: model.MetricTypeHistogram, Unit: names.unit, Help: m.Description()}
	sumName, countName, bucketName := names.family+"_sum", names.family+"_count", names.family+"_bucket"
	for _, dp := range dps.All() {
		base, err := tr.seriesLabels(dp.Attributes(), tr.ops, names.family, nil)
		if err != nil {
			return err
		}
		stale := dp.Flags().NoRecordedValue()
		sample := func(v float64) float64 {
			if stale {
				return math.Float64frombits(value.StaleNaN)
			}
			return v
		}
		s := sampleArgs{st: msTimestamp(dp.StartTimestamp()), t: msTimestamp(dp.Timestamp()), meta: meta}
		if dp.HasSum() {
			s.v = sample(dp.Sum())
			out.appendSample(tr.histogramSeries(base, sumName, ""), names.family, &s)
		}
		s.v = sample(float64(dp.Count()))
		out.appendSample(tr.histogramSeries(base, countName, ""), names.family, &s)

		exemplars, err := tr.translateExemplars(dp.Exemplars(), s.t)
		if err != nil {
			return err
		}
		next := 0
		var cumulative uint64
		bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
		for i := 0; i < bounds.Len() && i < counts.Len(); i++ {
			bound := bounds.At(i)
			cumulative += counts.At(i)
			first := next
			// Written as the converter's "stop at value > bound", so a NaN value stays here too.
			for next < len(exemplars) && !(exemplars[next].value > bound) {
				next++
			}
			s.v, s.exemplars = sample(float64(cumulative)), exemplars[first:next]
			out.appendSample(tr.histogramSeries(base, bucketName, tr.leValue(bound)), names.family, &s)
		}
		s.v, s.exemplars = sample(float64(dp.Count())), exemplars[next:]
		out.appendSample(tr.histogramSeries(base, bucketName, "+Inf"), names.family, &s)
	}
	return nil
}

// leValue formats a bucket bound as the converter does, from a cache: producers use a handful of
// bucket layouts, so formatting each bound once saves an allocation per bucket series.
func (tr *numberTranslator) leValue(bound float64) string {
	key := math.Float64bits(bound)
	if v, ok := tr.les[key]; ok {
		return v
	}
	if len(tr.les) >= maxCachedBounds {
		clear(tr.les)
	}
	v := strconv.FormatFloat(bound, 'f', -1, 64)
	tr.les[key] = v
	return v
}

// histogramSeries returns base (a data point's sorted labels) with __name__ set to name and, when
// le is not empty, the le label set to it; in scratch memory reused by the next call.
func (tr *numberTranslator) histogramSeries(base []promLabel, name, le string) []promLabel {
	ls := append(tr.series[:0], base...)
	ls = setLabel(ls, model.MetricNameLabel, name) // base has __name__: replaced in place, order kept
	if le != "" {
		ls = setLabel(ls, model.BucketLabel, le)
		slices.SortFunc(ls, func(a, b promLabel) int { return strings.Compare(a.name, b.name) })
	}
	tr.series = ls
	return ls
}

// maxExemplarRunes is the OpenMetrics limit on exemplar label text; attributes beyond it are
// dropped (trace and span ids are kept), like the converter.
const maxExemplarRunes = 128

func (tr *numberTranslator) translateExemplars(exs pmetric.ExemplarSlice, sampleTS int64) ([]promExemplar, error) {
	out := tr.exemplars[:0]
	lbls := tr.exLabels[:0]
	tr.exSpans = tr.exSpans[:0]
	for _, ex := range exs.All() {
		pe := promExemplar{ts: msTimestamp(ex.Timestamp())}
		if pe.ts == 0 {
			pe.ts = sampleTS
		}
		switch ex.ValueType() {
		case pmetric.ExemplarValueTypeInt:
			pe.value = float64(ex.IntValue())
		case pmetric.ExemplarValueTypeDouble:
			pe.value = ex.DoubleValue()
		default:
			return nil, fmt.Errorf("unsupported exemplar value type: %v", ex.ValueType())
		}
		start := len(lbls)
		runes := 0
		if id := ex.TraceID(); !id.IsEmpty() {
			v := hex.EncodeToString(id[:])
			runes += len("trace_id") + len(v)
			lbls = append(lbls, promLabel{name: "trace_id", value: v})
		}
		if id := ex.SpanID(); !id.IsEmpty() {
			v := hex.EncodeToString(id[:])
			runes += len("span_id") + len(v)
			lbls = append(lbls, promLabel{name: "span_id", value: v})
		}
		attrs := ex.FilteredAttributes()
		attrs.Range(func(k string, v pcommon.Value) bool {
			runes += utf8.RuneCountInString(k) + utf8.RuneCountInString(v.AsString())
			return true
		})
		if runes <= maxExemplarRunes {
			attrs.Range(func(k string, v pcommon.Value) bool {
				lbls = append(lbls, promLabel{name: k, value: v.AsString()})
				return true
			})
		}
		slices.SortStableFunc(lbls[start:], func(a, b promLabel) int { return strings.Compare(a.name, b.name) })
		tr.exSpans = append(tr.exSpans, [2]int{start, len(lbls)})
		out = append(out, pe)
	}
	// Label slices are taken once lbls no longer grows.
	for i := range out {
		out[i].labels = lbls[tr.exSpans[i][0]:tr.exSpans[i][1]]
	}
	tr.exemplars, tr.exLabels = out, lbls
	return out, nil
}

// msTimestamp converts an OTLP timestamp to milliseconds.
func msTimestamp(t pcommon.Timestamp) int64 { return int64(t) / 1_000_000 }

// targetInfo records the target_info series of a resource; flushTargetInfo sends it once per
// export, at the newest timestamp of the data points of every resource with these labels, as
// contrib does. Prometheus' converter instead repeats it every
// half lookback delta across the data points' time range, which turns one sample with an old
// explicit timestamp (or timestamp 0) into millions of target_info samples; one sample per export
// is enough for joins, since every export carries it again.
func (tr *numberTranslator) targetInfo(res pcommon.Resource, latest pcommon.Timestamp, hasPoints bool, hash func([]promLabel) uint64) error {
	if tr.settings.DisableTargetInfo || !hasPoints {
		return nil
	}
	attrs := res.Attributes()
	identifying := []string{"service.namespace", "service.name", "service.instance.id"}
	nonIdentifying := attrs.Len()
	for _, a := range identifying {
		if _, ok := attrs.Get(a); ok {
			nonIdentifying--
		}
	}
	if nonIdentifying == 0 {
		return nil
	}
	if tr.settings.KeepIdentifyingResourceAttributes {
		identifying = nil
	}
	name := "target_info"
	if tr.settings.Namespace != "" {
		name = tr.settings.Namespace + "_" + name
	}
	ls, err := tr.seriesLabels(attrs, tr.resourceOps, name, identifying)
	if err != nil {
		return err
	}
	if getLabel(ls, model.JobLabel) == "" && getLabel(ls, model.InstanceLabel) == "" {
		return nil // target_info needs an identifying label
	}
	// Several ResourceMetrics of one export may carry the same resource: one sample for all.
	key := targetInfoKey(hash(ls))
	if i, seen := tr.targetInfoIndex[key]; seen {
		tr.targetInfos[i].latest = max(tr.targetInfos[i].latest, latest)
		return nil
	}
	tr.targetInfoIndex[key] = len(tr.targetInfos)
	owned := make([]promLabel, len(ls))
	for i, l := range ls {
		owned[i] = promLabel{name: strings.Clone(l.name), value: strings.Clone(l.value)}
	}
	tr.targetInfos = append(tr.targetInfos, pendingTargetInfo{ls: owned, family: name, latest: latest})
	return nil
}

// flushTargetInfo sends the export's target_info samples and forgets them.
func (tr *numberTranslator) flushTargetInfo(out numberSink) {
	s := sampleArgs{v: 1, meta: metadata.Metadata{Type: model.MetricTypeGauge, Help: "Target metadata"}}
	for _, ti := range tr.targetInfos {
		s.t = msTimestamp(ti.latest)
		out.appendSample(ti.ls, ti.family, &s)
	}
	clear(tr.targetInfos)
	tr.targetInfos = tr.targetInfos[:0]
	clear(tr.targetInfoIndex)
}
