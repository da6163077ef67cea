package prometheusremotewriteexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// Every OTLP metric type through the exporter into real backends, read back through their query
// APIs: names, labels, values and timestamps as Prometheus' OTLP conventions define them.
func TestRealBackendsAllTypes(t *testing.T) {
	cases := []struct {
		kind promtest.Kind
		v2   bool
	}{
		{promtest.Prometheus2, false},
		{promtest.Prometheus3, false},
		{promtest.Prometheus3, true},
		{promtest.VictoriaMetrics, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/v2=%v", tc.kind, tc.v2), func(t *testing.T) {
			t.Parallel()
			backend := promtest.Start(t, tc.kind)
			exp := startExporter(t, backend.WriteURL(), func(c *Config) {
				if tc.v2 {
					c.RemoteWriteProtoMsg = writeV2MessageType
				}
			})
			const batches = 3
			base := time.Now().Add(-2 * time.Minute).Truncate(time.Millisecond)
			var stamps []int64
			for i := range batches {
				ts := base.Add(time.Duration(i) * 10 * time.Second)
				stamps = append(stamps, ts.UnixMilli())
				require.NoError(t, exp.ConsumeMetrics(context.Background(), allTypes(ts, i)))
			}
			assert.Zero(t, exp.counter(t, "failed_samples"))

			ctx := context.Background()
			at := base.Add(time.Minute)
			want := expectedFloatSeries(batches - 1)
			var series []promtest.Series
			_, err := backend.WaitQuery(ctx, `count({__name__=~"test_.*|target_info"})`, at, 30*time.Second, func(s []promtest.Sample) bool {
				var qerr error
				series, qerr = backend.QueryRaw(ctx, `{__name__=~"test_.*|target_info"}`, at, 5*time.Minute)
				n := 0
				for _, s := range series {
					if len(s.Points) >= batches || (s.Labels["__name__"] == "target_info" && len(s.Points) > 0) {
						n++
					}
				}
				return qerr == nil && n >= len(want)
			})
			require.NoError(t, err, "backend log:\n%s", backend.Log())

			got := map[string]float64{}
			var hist *promtest.Series
			for i, s := range series {
				assert.Equal(t, "ns/svc", s.Labels["job"], s.Labels)
				assert.Equal(t, "inst-1", s.Labels["instance"], s.Labels)
				if s.Labels["__name__"] == "test_exp_seconds" {
					hist = &series[i]
					continue
				}
				if s.Labels["__name__"] != "target_info" {
					assert.Equal(t, "scope.a", s.Labels["otel_scope_name"], s.Labels)
					assert.Equal(t, "1.0", s.Labels["otel_scope_version"], s.Labels)
					var ts []int64
					for _, p := range s.Points {
						ts = append(ts, p.T)
					}
					assert.Equal(t, stamps, ts, "sample timestamps of %v", s.Labels)
				}
				require.NotEmpty(t, s.Points, s.Labels)
				v, err := strconv.ParseFloat(s.Points[len(s.Points)-1].V, 64)
				require.NoError(t, err)
				got[seriesKey(s.Labels)] = v
			}
			assert.Equal(t, want, got)

			if tc.kind == promtest.VictoriaMetrics {
				return // VictoriaMetrics does not store native histograms from remote write.
			}
			require.NotNil(t, hist, "exponential histogram stored as a native histogram")
			require.Len(t, hist.Histograms, batches)
			var h struct {
				Count string `json:"count"`
				Sum   string `json:"sum"`
			}
			require.NoError(t, json.Unmarshal([]byte(hist.Histograms[batches-1].V), &h))
			assert.Equal(t, strconv.Itoa(4+batches-1), h.Count)
			assert.Equal(t, strconv.Itoa(10+batches-1), h.Sum)
			assert.Equal(t, stamps[batches-1], hist.Histograms[batches-1].T)
			if tc.v2 {
				assert.EqualValues(t, exp.counter(t, "sent_samples"), exp.counter(t, "written_samples")+exp.counter(t, "written_histograms"),
					"Prometheus 3 confirms every sample via the remote write 2.0 response headers")
			}
		})
	}
}
