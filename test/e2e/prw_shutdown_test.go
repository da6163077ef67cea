//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
	"github.com/otelcol-custom/otelcol-custom/internal/promtest"
)

// shutdownBound is how long a collector may take to exit after SIGTERM while its remote-write
// endpoint answers 503 (issue 14: Kubernetes' default grace period is 30 s; 10 s leaves room). The
// configs below retry forever (max_elapsed_time: 0), the worst case, and bound one HTTP attempt
// by `timeout: 1s`: shutdown waits for at most that attempt, not for the retries.
const shutdownBound = 10 * time.Second

// failingSink is a remote-write sink that answers 503 while failing is set.
func failingSink(t *testing.T, port int) (*promtest.Sink, *atomic.Bool) {
	t.Helper()
	var failing atomic.Bool
	sink := &promtest.Sink{KeepSeries: true}
	sink.Respond = func(int64, http.ResponseWriter) int {
		if failing.Load() {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	ln, err := net.Listen("tcp", addr(port))
	require.NoError(t, err)
	srv := &http.Server{Handler: sink.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sink, &failing
}

// exportBatches sends n OTLP metric exports, each one gauge sample of series batch=<i>.
func exportBatches(t *testing.T, endpoint string, n int) {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pmetricotlp.NewGRPCClient(conn)
	now := time.Now()
	for i := range n {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "e2e")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("e2e_batch")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.Attributes().PutStr("batch", strconv.Itoa(i))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
		dp.SetDoubleValue(float64(i))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
		cancel()
		require.NoError(t, err, "export %d", i)
	}
}

// receivedBatches is the set of batch label values the sink stored.
func receivedBatches(sink *promtest.Sink) map[string]bool {
	series, _ := sink.Snapshot()
	got := map[string]bool{}
	for _, s := range series {
		if b := s.Labels.Get("batch"); b != "" && len(s.Samples) > 0 {
			got[b] = true
		}
	}
	return got
}

// stopWithin sends SIGTERM and returns how long the collector took to exit (failing after bound).
func stopWithin(t *testing.T, c *proctest.Collector, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, c.Cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-c.Exited():
	case <-time.After(bound):
		t.Fatalf("collector still running %s after SIGTERM with the endpoint answering 503", bound)
	}
	return time.Since(start)
}

// TestRemoteWriteShutdownUnder503: the remote-write endpoint answers 503, the queue holds many
// exports and one is being retried; SIGTERM ends the collector within shutdownBound. With a
// persistent queue, a restart against the recovered endpoint delivers every export; without one,
// what was dropped is logged once, with the number.
func TestRemoteWriteShutdownUnder503(t *testing.T) {
	const batches = 200
	config := func(recvPort, sinkPort int, queue string) string {
		return fmt.Sprintf(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: "%s"}}
exporters:
  prometheus_remote_write:
    endpoint: http://%s/api/v1/write
    timeout: 1s
    retry_on_failure: {enabled: true, initial_interval: 50ms, max_interval: 1s, max_elapsed_time: 0}
%s
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [otlp], exporters: [prometheus_remote_write]}
`, addr(recvPort), addr(sinkPort), queue)
	}

	t.Run("persistent queue", func(t *testing.T) {
		recvPort, sinkPort := proctest.FreePort(t), proctest.FreePort(t)
		sink, failing := failingSink(t, sinkPort)
		failing.Store(true)
		cfg := writeFile(t, "prw-persistent.yaml", config(recvPort, sinkPort, fmt.Sprintf(`
    sending_queue: {queue_size: 1000, num_consumers: 1, storage: file_storage}
extensions:
  file_storage: {directory: %s}`, t.TempDir()))+"  extensions: [file_storage]\n") // under service:

		first := startCollector(t, nil, "--config", cfg)
		first.WaitReady(t, readyTimeout)
		exportBatches(t, addr(recvPort), batches)
		require.Eventually(t, func() bool { return sink.Requests.Load() >= 3 }, 30*time.Second, 20*time.Millisecond,
			"the exporter retries against the 503 endpoint")
		took := stopWithin(t, first, shutdownBound)
		t.Logf("persistent queue: exited %s after SIGTERM (%d requests answered 503)", took.Round(time.Millisecond), sink.Requests.Load())
		assert.Contains(t, first.Output.String(), "stay in the persistent queue")

		failing.Store(false)
		second := startCollector(t, nil, "--config", cfg)
		second.WaitReady(t, readyTimeout)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.Len(c, receivedBatches(sink), batches)
		}, 60*time.Second, 100*time.Millisecond, "every export accepted before SIGTERM arrives after the restart")
	})

	t.Run("in-memory queue", func(t *testing.T) {
		recvPort, sinkPort := proctest.FreePort(t), proctest.FreePort(t)
		sink, failing := failingSink(t, sinkPort)
		failing.Store(true)
		cfg := writeFile(t, "prw-memory.yaml", config(recvPort, sinkPort, ""))
		c := startCollector(t, nil, "--config", cfg)
		c.WaitReady(t, readyTimeout)
		exportBatches(t, addr(recvPort), batches)
		require.Eventually(t, func() bool { return sink.Requests.Load() >= 3 }, 30*time.Second, 20*time.Millisecond)
		took := stopWithin(t, c, shutdownBound)
		out := c.Output.String()
		t.Logf("in-memory queue: exited %s after SIGTERM", took.Round(time.Millisecond))
		assert.Equal(t, 1, strings.Count(out, "remote write failed during shutdown"), "the drop is logged once")
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "remote write failed during shutdown") {
				t.Log(line)
			}
		}
		assert.Contains(t, out, `"dropped_data_points": `)
		assert.NotContains(t, out, "Exporting failed", "exporterhelper does not log every dropped export")
	})
}
