package prometheusremotewriteexporter

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter/internal/metadata"
)

// allTypes builds one data point of every OTLP metric type at ts, with values derived from i so
// that successive batches differ. The expected Prometheus series are listed in expectedSeries.
func allTypes(ts time.Time, i int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("service.name", "svc")
	res.PutStr("service.namespace", "ns")
	res.PutStr("service.instance.id", "inst-1")
	res.PutStr("host.name", "h1")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("scope.a")
	sm.Scope().SetVersion("1.0")
	now := pcommon.NewTimestampFromTime(ts)
	start := pcommon.NewTimestampFromTime(ts.Add(-time.Hour))
	f := float64(i)

	g := sm.Metrics().AppendEmpty()
	g.SetName("test.gauge")
	g.SetUnit("By")
	gp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gp.SetTimestamp(now)
	gp.SetDoubleValue(42.5 + f)
	gp.Attributes().PutStr("http.method", "GET")

	c := sm.Metrics().AppendEmpty()
	c.SetName("test.requests")
	c.SetUnit("1")
	cs := c.SetEmptySum()
	cs.SetIsMonotonic(true)
	cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cp := cs.DataPoints().AppendEmpty()
	cp.SetStartTimestamp(start)
	cp.SetTimestamp(now)
	cp.SetIntValue(100 + int64(i))
	ex := cp.Exemplars().AppendEmpty()
	ex.SetTimestamp(now)
	ex.SetDoubleValue(1)
	ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	ex.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})

	u := sm.Metrics().AppendEmpty()
	u.SetName("test.queue.size")
	u.SetUnit("{item}")
	us := u.SetEmptySum()
	us.SetIsMonotonic(false)
	us.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	up := us.DataPoints().AppendEmpty()
	up.SetTimestamp(now)
	up.SetIntValue(7)

	h := sm.Metrics().AppendEmpty()
	h.SetName("test.latency")
	h.SetUnit("ms")
	hh := h.SetEmptyHistogram()
	hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hh.DataPoints().AppendEmpty()
	hp.SetStartTimestamp(start)
	hp.SetTimestamp(now)
	hp.ExplicitBounds().FromRaw([]float64{10, 100})
	hp.BucketCounts().FromRaw([]uint64{1, 2, 3 + uint64(i)})
	hp.SetCount(6 + uint64(i))
	hp.SetSum(500 + f)

	e := sm.Metrics().AppendEmpty()
	e.SetName("test.exp")
	e.SetUnit("s")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	ep := eh.DataPoints().AppendEmpty()
	ep.SetStartTimestamp(start)
	ep.SetTimestamp(now)
	ep.SetScale(0)
	ep.SetZeroCount(1)
	ep.Positive().SetOffset(0)
	ep.Positive().BucketCounts().FromRaw([]uint64{1, 2 + uint64(i)})
	ep.SetCount(4 + uint64(i))
	ep.SetSum(10 + f)

	s := sm.Metrics().AppendEmpty()
	s.SetName("test.summary")
	sp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sp.SetStartTimestamp(start)
	sp.SetTimestamp(now)
	sp.SetCount(3 + uint64(i))
	sp.SetSum(30 + f)
	q := sp.QuantileValues().AppendEmpty()
	q.SetQuantile(0.5)
	q.SetValue(9 + f)
	return md
}

// expectedFloatSeries are the float series allTypes produces (per Prometheus' OTLP conventions),
// with their value for batch i.
func expectedFloatSeries(i int) map[string]float64 {
	f := float64(i)
	return map[string]float64{
		`test_gauge_bytes{http_method="GET"}`:         42.5 + f,
		`test_requests_total`:                         100 + f,
		`test_queue_size`:                             7,
		`test_latency_milliseconds_bucket{le="10"}`:   1,
		`test_latency_milliseconds_bucket{le="100"}`:  3,
		`test_latency_milliseconds_bucket{le="+Inf"}`: 6 + f,
		`test_latency_milliseconds_sum`:               500 + f,
		`test_latency_milliseconds_count`:             6 + f,
		`test_summary{quantile="0.5"}`:                9 + f,
		`test_summary_sum`:                            30 + f,
		`test_summary_count`:                          3 + f,
		`target_info{host_name="h1"}`:                 1,
	}
}

type testExporter struct {
	exporter.Metrics
	tel *componenttest.Telemetry
}

// startExporter creates and starts an exporter against endpoint; mutate adjusts the default config.
func startExporter(t *testing.T, endpoint string, mutate func(*Config)) *testExporter {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.Endpoint = endpoint
	cfg.BackOffConfig.InitialInterval = 20 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 200 * time.Millisecond
	// Bounded, so that a failing test cannot hang in retries.
	cfg.BackOffConfig.MaxElapsedTime = 20 * time.Second
	// Synchronous by default: ConsumeMetrics returns once the data is delivered or dropped.
	cfg.RemoteWriteQueue.Enabled = false
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	te := &testExporter{Metrics: exp, tel: tel}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return te
}

// counter returns the sum of an int64 counter self-metric, 0 when it was never recorded.
func (te *testExporter) counter(t *testing.T, name string) int64 {
	t.Helper()
	m, err := te.tel.GetMetric("otelcol_exporter_prometheusremotewrite_" + name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "metric %s is %T", name, m.Data)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	return total
}

func exportertestSettings() exporter.Settings { return exportertest.NewNopSettings(metadata.Type) }

func storageOpts() storage.AppendV2Options { return storage.AppendV2Options{} }
