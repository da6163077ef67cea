package prometheusremotewriteexporter

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// shutdownSlack is what shutdown may take beyond one HTTP attempt (timeout): stopping goroutines
// and draining an in-memory queue whose exports are no longer attempted.
const shutdownSlack = 5 * time.Second

func numberedExport(i, series int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("queued")
	dps := m.SetEmptyGauge().DataPoints()
	for s := range series {
		dp := dps.AppendEmpty()
		dp.Attributes().PutInt("series", int64(s))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Hour + time.Duration(i)*time.Second)))
		dp.SetDoubleValue(float64(i))
	}
	return md
}

// failingSink answers 503 while failing is set.
func failingSink(t *testing.T) (*promtest.Sink, *atomic.Bool) {
	sink := promtest.NewSink()
	t.Cleanup(sink.Close)
	var failing atomic.Bool
	failing.Store(true)
	sink.Respond = func(int64, http.ResponseWriter) int {
		if failing.Load() {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	return sink, &failing
}

// queueAndShutDown queues exports of series each, waits until the exporter is retrying against
// the failing sink, and shuts it down, which must take at most one attempt's timeout (plus slack).
func queueAndShutDown(t *testing.T, exp *testExporter, sink *promtest.Sink, exports, series int, timeout time.Duration) {
	t.Helper()
	for i := range exports {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), numberedExport(i, series)))
	}
	require.Eventually(t, func() bool { return sink.Requests.Load() >= 3 }, 10*time.Second, 10*time.Millisecond)
	start := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	took := time.Since(start)
	assert.Less(t, took, timeout+shutdownSlack)
	t.Logf("shutdown took %s", took)
}

// Retrying forever against a 503 endpoint with the in-memory queue full: shutdown returns within
// one attempt's timeout (plus slack), and every data point not delivered is counted.
func TestShutdownUnder503InMemoryQueue(t *testing.T) {
	sink, _ := failingSink(t)
	const exports, series = 100, 10
	exp := startExporter(t, sink.URL(), func(c *Config) {
		c.RemoteWriteQueue.Enabled = true
		c.BackOffConfig.MaxElapsedTime = 0 // retry forever: the worst case for shutdown
		c.TimeoutSettings.Timeout = time.Second
		c.TargetInfo.Enabled = false
	})
	queueAndShutDown(t, exp, sink, exports, series, time.Second)
	assert.EqualValues(t, exports*series, exp.counter(t, "shutdown_dropped_data_points"), "every queued data point is counted as dropped")
}

// The same with a persistent queue: shutdown is as quick, and after a restart against the
// recovered endpoint every export arrives (the one being retried included).
func TestShutdownUnder503PersistentQueue(t *testing.T) {
	sink, failing := failingSink(t)
	dir := t.TempDir()
	const exports, series = 50, 10
	exp := startPersistentExporter(t, dir, sink.URL())
	queueAndShutDown(t, exp, sink, exports, series, defaultTimeout())
	assert.Zero(t, exp.counter(t, "shutdown_dropped_data_points"))
	assert.Zero(t, sink.Samples.Load())

	failing.Store(false)
	exp = startPersistentExporter(t, dir, sink.URL())
	require.Eventually(t, func() bool { return sink.Samples.Load() >= exports*series }, 30*time.Second, 50*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.EqualValues(t, exports*series, sink.Samples.Load())
	// The interrupted export is re-enqueued at the tail of the persistent queue (as after a
	// crash, see README), so its samples may arrive after newer ones of the same series.
	_, ooo := sink.Snapshot()
	assert.LessOrEqual(t, ooo, int64(series))
}

func defaultTimeout() time.Duration { return createDefaultConfig().(*Config).TimeoutSettings.Timeout }

// During an incident in which the endpoint rejects every request, the first rejection is logged at
// error level and the later ones at debug level only: exporterhelper does not log each failed
// export again ("Exporting failed"), and every dropped sample is counted.
func TestRejectionsLoggedOnceAtErrorLevel(t *testing.T) {
	sink := promtest.NewSink()
	defer sink.Close()
	sink.Respond = func(int64, http.ResponseWriter) int { return http.StatusBadRequest }
	core, logs := observer.New(zap.DebugLevel)
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.Endpoint = sink.URL()
	cfg.TargetInfo.Enabled = false
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	defer func() { _ = tel.Shutdown(context.Background()) }()
	set := exportertestSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	te := &testExporter{Metrics: exp, tel: tel}
	const exports, series = 10, 3
	for i := range exports {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), numberedExport(i, series)))
	}
	require.Eventually(t, func() bool { return te.counter(t, "failed_samples") == exports*series }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	errorsLogged := logs.FilterLevelExact(zap.ErrorLevel).All()
	require.Len(t, errorsLogged, 1, "error-level entries: %v", errorsLogged)
	assert.Contains(t, errorsLogged[0].Message, "rejected the request permanently")
	assert.Len(t, logs.FilterLevelExact(zap.DebugLevel).FilterMessageSnippet("rejected").All(), exports-1)
	assert.Empty(t, logs.FilterMessageSnippet("Exporting failed").All())
}

// With a healthy endpoint, shutdown still delivers everything queued (one attempt each): a
// rollout loses nothing.
func TestShutdownDeliversQueueWhenHealthy(t *testing.T) {
	sink := promtest.NewSink()
	defer sink.Close()
	const exports, series = 200, 10
	exp := startExporter(t, sink.URL(), func(c *Config) {
		c.RemoteWriteQueue.Enabled = true
		c.TargetInfo.Enabled = false
	})
	for i := range exports {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), numberedExport(i, series)))
	}
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.EqualValues(t, exports*series, sink.Samples.Load())
	assert.Zero(t, exp.counter(t, "shutdown_dropped_data_points"))
	_, ooo := sink.Snapshot()
	assert.Zero(t, ooo)
}
