package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// resourceMetrics collects the metrics of one resource (one cgroup).
type resourceMetrics struct {
	sm        pmetric.ScopeMetrics
	byName    map[string]pmetric.Metric
	start     pcommon.Timestamp
	now       pcommon.Timestamp
	histogram string
	disabled  map[string]bool // metrics switched off in the configuration
}

func newResourceMetrics(rm pmetric.ResourceMetrics, scopeName, version, histogram string, disabled map[string]bool, start, now pcommon.Timestamp) *resourceMetrics {
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	sm.Scope().SetVersion(version)
	return &resourceMetrics{sm: sm, byName: map[string]pmetric.Metric{}, start: start, now: now, histogram: histogram, disabled: disabled}
}

func (r *resourceMetrics) metric(d metricDef) pmetric.Metric {
	if m, ok := r.byName[d.name]; ok {
		return m
	}
	m := r.sm.Metrics().AppendEmpty()
	m.SetName(d.name)
	m.SetUnit(d.unit)
	m.SetDescription(d.description)
	switch {
	case !d.histogram:
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case r.histogram == HistogramExplicit:
		m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	default:
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
	r.byName[d.name] = m
	return m
}

// seriesStarts holds the start timestamp of each cumulative series the
// receiver emits (a cgroup's, an edge's), keyed by what identifies it in the
// kernel. A series starts at the first collection that reads it and keeps
// that start while its kernel entry lives. When the entry is deleted (cgroup
// removed, edge expired) the key must be forgotten: the kernel counts a
// recreated entry from zero, and a new start tells the backend that this is
// a new series (a counter reset), not a decrease inside the old one.
type seriesStarts[K comparable] map[K]pcommon.Timestamp

// of returns the start of k's series, which begins at now if k has none.
func (s seriesStarts[K]) of(k K, now pcommon.Timestamp) pcommon.Timestamp {
	start, ok := s[k]
	if !ok {
		start = now
		s[k] = start
	}
	return start
}

// forget ends k's series: its next value belongs to a new one.
func (s seriesStarts[K]) forget(k K) { delete(s, k) }

// since returns a view of r whose data points carry another start
// timestamp (a series that began after the resource's, such as an edge);
// the metrics themselves are shared.
func (r *resourceMetrics) since(start pcommon.Timestamp) *resourceMetrics {
	v := *r
	v.start = start
	return &v
}

// attr is one data point attribute; value is a string or an int64.
type attr struct {
	key string
	str string
	num int64
	isN bool
}

func strAttr(k, v string) attr       { return attr{key: k, str: v} }
func intAttr(k string, v int64) attr { return attr{key: k, num: v, isN: true} }

func putAttrs(m pcommon.Map, attrs []attr) {
	for _, a := range attrs {
		if a.isN {
			m.PutInt(a.key, a.num)
		} else {
			m.PutStr(a.key, a.str)
		}
	}
}

func (r *resourceMetrics) addSum(d metricDef, v uint64, attrs ...attr) {
	if r.disabled[d.name] {
		return
	}
	dp := r.metric(d).Sum().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(r.start)
	dp.SetTimestamp(r.now)
	dp.SetIntValue(int64(v))
	putAttrs(dp.Attributes(), attrs)
}

func (r *resourceMetrics) addHistogram(d metricDef, h *log2Histogram, attrs ...attr) {
	if r.disabled[d.name] {
		return
	}
	m := r.metric(d)
	if m.Type() == pmetric.MetricTypeHistogram {
		dp := m.Histogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(r.start)
		dp.SetTimestamp(r.now)
		h.toExplicit(dp)
		putAttrs(dp.Attributes(), attrs)
		return
	}
	dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(r.start)
	dp.SetTimestamp(r.now)
	h.toExponential(dp)
	putAttrs(dp.Attributes(), attrs)
}
