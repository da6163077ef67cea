package prometheusremotewriteexporter

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// A steady stream into a real Prometheus that is stopped for 30 s and restarted: with 8 shards and
// the default queue, every sample arrives and Prometheus rejects none as out of order.
func TestBackendOutageNoLossNoReordering(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute (-short)")
	}
	t.Parallel()
	backend := promtest.Start(t, promtest.Prometheus2)
	exp := startExporter(t, backend.WriteURL(), func(c *Config) {
		c.Shards = 8
		c.RemoteWriteQueue.Enabled = true
		c.MaxBatchSizeBytes = 4000 // many requests per batch and shard
		c.BackOffConfig.MaxInterval = time.Second
		c.BackOffConfig.MaxElapsedTime = 0 // retry until the backend is back
		c.TargetInfo.Enabled = false
	})

	const seriesN = 200
	const interval = 100 * time.Millisecond
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	sent := 0
	step := 0
	produce := func(d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			md := pmetric.NewMetrics()
			m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("outage_load")
			dps := m.SetEmptyGauge().DataPoints()
			ts := pcommon.NewTimestampFromTime(base.Add(time.Duration(step) * interval))
			for s := range seriesN {
				dp := dps.AppendEmpty()
				dp.Attributes().PutStr("series", strconv.Itoa(s))
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(float64(step))
			}
			require.NoError(t, exp.ConsumeMetrics(context.Background(), md), "queue must accept during the outage")
			sent += seriesN
			step++
			time.Sleep(interval)
		}
	}
	produce(5 * time.Second)
	backend.Stop()
	produce(30 * time.Second)
	require.NoError(t, backend.Start())
	produce(5 * time.Second)
	require.NoError(t, exp.Shutdown(context.Background()), "shutdown drains the queue")

	ctx := context.Background()
	want := strconv.Itoa(sent)
	res, err := backend.WaitQuery(ctx, `sum(count_over_time(outage_load[1h]))`, time.Now(), 30*time.Second, func(s []promtest.Sample) bool {
		return len(s) == 1 && s[0].Value == want
	})
	require.NoError(t, err, "every sample sent must be stored")
	require.Len(t, res, 1)
	assert.Equal(t, want, res[0].Value)
	assert.Zero(t, exp.counter(t, "failed_samples"))
	assert.Positive(t, exp.counter(t, "retries"), "the outage caused retries")
	log := strings.ToLower(backend.Log())
	assert.NotContains(t, log, "out of order")
	assert.NotContains(t, log, "out-of-order")
	t.Logf("sent %d samples over %d steps; %d retries", sent, step, exp.counter(t, "retries"))
}
