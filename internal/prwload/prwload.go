// Package prwload builds the gauge requests the remote-write benchmarks send (bench/prw and the
// exporter's in-package benchmarks), so both measure the same input.
package prwload // import "github.com/otelcol-custom/otelcol-custom/internal/prwload"

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Gauges builds one OTLP request with the gauge points of series start … start+n-1: two resource
// attributes (job, instance after translation) and five point attributes per series.
func Gauges(start, n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "bench")
	rm.Resource().Attributes().PutStr("service.instance.id", "bench-1")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("bench.requests.inflight")
	m.SetUnit("{request}")
	dps := m.SetEmptyGauge().DataPoints()
	dps.EnsureCapacity(n)
	for i := start; i < start+n; i++ {
		dp := dps.AppendEmpty()
		a := dp.Attributes()
		a.PutStr("http.route", "/api/v1/items/"+strconv.Itoa(i%100))
		a.PutStr("http.method", "GET")
		a.PutStr("k8s.pod.name", "pod-"+strconv.Itoa(i/100))
		a.PutStr("k8s.namespace.name", "ns-"+strconv.Itoa(i%10))
		a.PutInt("series", int64(i))
		dp.SetDoubleValue(float64(i))
	}
	return md
}
