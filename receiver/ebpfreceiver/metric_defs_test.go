package ebpfreceiver

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadata"
)

// Every metric of the generated metadata (from metadata.yaml) has a definition
// the emission code uses, and nothing else is defined.
func TestMetricDefs(t *testing.T) {
	defs, err := declaredMetrics(metadataYAML)
	require.NoError(t, err)
	info := reflect.ValueOf(metadata.MetricsInfo)
	require.Len(t, defs, info.NumField())
	for i := range info.NumField() {
		name := info.Field(i).FieldByName("Name").String()
		d, ok := defs[name]
		require.True(t, ok, "%s has no definition", name)
		require.NotEmpty(t, d.unit, name)
		require.NotEmpty(t, d.description, name)
		attrs := info.Field(i).FieldByName("Attributes").Interface().([]string)
		require.ElementsMatch(t, attrs, d.attributes, name)
	}
	for name := range histogramMetrics {
		require.True(t, defs[name].histogram, name)
	}
}

func TestDeclaredMetricsRejectsWhatTheReceiverCannotEmit(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"gauge", "metrics:\n  x:\n    unit: '1'\n    gauge: {value_type: int}\n", "cumulative monotonic int sum"},
		{"delta sum", "metrics:\n  x:\n    unit: '1'\n    sum: {value_type: int, monotonic: true, aggregation_temporality: delta}\n", "cumulative monotonic int sum"},
		{"histogram without note", "metrics:\n  " + metadata.MetricsInfo.EbpfTCPSrtt.Name +
			":\n    unit: us\n    sum: {value_type: int, monotonic: true, aggregation_temporality: cumulative}\n", "histogram=true"},
		{"note on a sum", "metrics:\n  x:\n    unit: '1'\n    extended_documentation: \"" + strings.ReplaceAll(histogramNote, `"`, `\"`) +
			" ...\"\n    sum: {value_type: int, monotonic: true, aggregation_temporality: cumulative}\n", "histogram=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := declaredMetrics([]byte(tc.yaml))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestMetricsConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.Empty(t, disabledMetrics(cfg.Metrics))
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"metrics": map[string]any{metadata.MetricsInfo.EbpfSchedExecs.Name: map[string]any{"enabled": false}},
	}).Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	require.Equal(t, map[string]bool{metadata.MetricsInfo.EbpfSchedExecs.Name: true}, disabledMetrics(cfg.Metrics))

	// Attribute selection is accepted by the generated config but not implemented: refused.
	cfg = createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"metrics": map[string]any{metadata.MetricsInfo.EbpfTCPIo.Name: map[string]any{"attributes": []any{}}},
	}).Unmarshal(cfg))
	require.ErrorContains(t, cfg.Validate(), "metrics: ebpf.tcp.io: attributes is not supported")
}

func TestDisabledMetricsAreNotEmitted(t *testing.T) {
	md := pmetric.NewMetrics()
	off := map[string]bool{metricCPUTime.name: true, metricRunqLatency.name: true}
	r := newResourceMetrics(md.ResourceMetrics().AppendEmpty(), "s", "v", HistogramExponential, off, 0, 1)
	var h log2Histogram
	r.addSum(metricCPUTime, 5)
	r.addHistogram(metricRunqLatency, &h)
	r.addSum(metricExecs, 1)
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 1, ms.Len())
	require.Equal(t, metricExecs.name, ms.At(0).Name())
	require.Equal(t, metricExecs.unit, ms.At(0).Unit())
	require.Equal(t, metricExecs.description, ms.At(0).Description())
}

// requireDeclared checks emitted metrics against metadata.yaml: name, unit,
// description, type and attribute keys (used by the kernel tests on real data).
func requireDeclared(t *testing.T, batches []pmetric.Metrics) {
	t.Helper()
	for _, md := range batches {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			ms := rms.At(i).ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				m := ms.At(j)
				d, ok := metricDefs[m.Name()]
				require.True(t, ok, "metric %s is not declared in metadata.yaml", m.Name())
				require.Equal(t, d.unit, m.Unit(), m.Name())
				require.Equal(t, d.description, m.Description(), m.Name())
				if !d.histogram {
					require.Equal(t, pmetric.MetricTypeSum, m.Type(), m.Name())
					for k := 0; k < m.Sum().DataPoints().Len(); k++ {
						for key := range m.Sum().DataPoints().At(k).Attributes().All() {
							require.Contains(t, d.attributes, key, "attribute of %s not declared in metadata.yaml", m.Name())
						}
					}
				} else {
					require.Contains(t, []pmetric.MetricType{pmetric.MetricTypeExponentialHistogram, pmetric.MetricTypeHistogram}, m.Type(), m.Name())
				}
			}
		}
	}
}
