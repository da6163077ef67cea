package prometheusremotewriteexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-custom/otelcol-custom/internal/prwload"
)

// benchHistograms builds one OTLP request of n explicit-bucket histogram points (12 series each
// after translation: 10 buckets, _sum, _count).
func benchHistograms(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "bench")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.request.duration")
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range n {
		dp := h.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("http.route", "/r/"+strconv.Itoa(i))
		dp.Attributes().PutStr("http.request.method", "GET")
		dp.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})
		dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
		dp.SetCount(55)
		dp.SetSum(12.5)
	}
	return md
}

func setGaugeTimestamps(md pmetric.Metrics, ts pcommon.Timestamp) {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						dp.SetTimestamp(ts)
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						dp.SetStartTimestamp(ts - pcommon.Timestamp(time.Hour))
						dp.SetTimestamp(ts)
					}
				}
			}
		}
	}
}

// discardServer accepts remote-write requests without decoding them, so that a benchmark measures
// the exporter (translation, encoding, compression, HTTP client) and little else.
func discardServer(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var bytesIn atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		bytesIn.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv, &bytesIn
}

// benchmarkExport sends the requests built by mk through a started exporter, once per iteration,
// and reports samples (Prometheus series points) per second and allocations per sample.
func benchmarkExport(b *testing.B, v2 bool, requests []pmetric.Metrics, samplesPerRound int) {
	srv, bytesIn := discardServer(b)
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.Endpoint = srv.URL + "/api/v1/write"
	cfg.RemoteWriteQueue.Enabled = false
	cfg.TargetInfo.Enabled = false
	if v2 {
		cfg.RemoteWriteProtoMsg = writeV2MessageType
	}
	exp, err := NewFactory().CreateMetrics(context.Background(), exportertestSettings(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	base := time.Now().Add(-time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ts := pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Second))
		var wg sync.WaitGroup
		for _, md := range requests {
			// Requests of a round are exported concurrently, like pipelines calling one exporter.
			wg.Go(func() {
				setGaugeTimestamps(md, ts)
				if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	samples := float64(b.N) * float64(samplesPerRound)
	b.ReportMetric(samples/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(bytesIn.Load())/samples, "wire-B/sample")
}

// BenchmarkExportGauges: 10 000 gauge series (seven labels each) per round, in one request.
func BenchmarkExportGauges(b *testing.B) {
	for _, v := range []struct {
		name string
		v2   bool
	}{{"rw1", false}, {"rw2", true}} {
		b.Run(v.name, func(b *testing.B) {
			benchmarkExport(b, v.v2, []pmetric.Metrics{prwload.Gauges(0, 10_000)}, 10_000)
		})
	}
}

// BenchmarkExportGaugesConcurrent: the same 10 000 series per round in two requests exported
// concurrently (translation runs in parallel, hand-off in start order).
func BenchmarkExportGaugesConcurrent(b *testing.B) {
	benchmarkExport(b, false, []pmetric.Metrics{prwload.Gauges(0, 5_000), prwload.Gauges(5_000, 5_000)}, 10_000)
}

// BenchmarkExportHistograms: 1 000 explicit histograms (12 000 series) per round.
func BenchmarkExportHistograms(b *testing.B) {
	for _, v := range []struct {
		name string
		v2   bool
	}{{"rw1", false}, {"rw2", true}} {
		b.Run(v.name, func(b *testing.B) {
			benchmarkExport(b, v.v2, []pmetric.Metrics{benchHistograms(1_000)}, 12_000)
		})
	}
}
