package distribution_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-custom/otelcol-custom/cmd/otelcol-custom/distribution"
)

// sink is an OTLP gRPC backend that counts what it receives.
type sink struct {
	spans, logs, points atomic.Int64
}

type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	*sink
}

func (s traceSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

type logSink struct {
	plogotlp.UnimplementedGRPCServer
	*sink
}

func (s logSink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.logs.Add(int64(req.Logs().LogRecordCount()))
	return plogotlp.NewExportResponse(), nil
}

type metricSink struct {
	pmetricotlp.UnimplementedGRPCServer
	*sink
}

func (s metricSink) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	s.points.Add(int64(req.Metrics().DataPointCount()))
	return pmetricotlp.NewExportResponse(), nil
}

func startSink(t *testing.T) (*sink, string) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &sink{}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &traceSink{sink: s})
	plogotlp.RegisterGRPCServer(srv, &logSink{sink: s})
	pmetricotlp.RegisterGRPCServer(srv, &metricSink{sink: s})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s, lis.Addr().String()
}

func freeAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	return lis.Addr().String()
}

// TestEmbeddedCollector runs otelcol-custom in-process from a YAML string, pushes traces, metrics
// and logs through it to a sink and checks that shutdown delivers every item.
func TestEmbeddedCollector(t *testing.T) {
	s, sinkAddr := startSink(t)
	recvAddr := freeAddr(t)
	cfg := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
processors:
  batch:
    timeout: 5s
exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
    sending_queue:
      enabled: true
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}
    logs: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}
`, recvAddr, sinkAddr)

	col, err := otelcol.NewCollector(distribution.Settings("yaml:" + cfg))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	require.Eventually(t, func() bool { return col.GetState() == otelcol.StateRunning }, 30*time.Second, 20*time.Millisecond)

	conn, err := grpc.NewClient(recvAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	const batches, perBatch = 20, 50
	for i := 0; i < batches; i++ {
		_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(makeTraces(perBatch)))
		require.NoError(t, err)
		_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(makeMetrics(perBatch)))
		require.NoError(t, err)
		_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(makeLogs(perBatch)))
		require.NoError(t, err)
	}

	// The batch processor holds items for up to 5 s; shutdown must flush the batch and drain the
	// sending queue rather than drop what the receiver already accepted.
	col.Shutdown()
	require.NoError(t, <-done)
	require.Equal(t, int64(batches*perBatch), s.spans.Load(), "spans")
	require.Equal(t, int64(batches*perBatch), s.points.Load(), "metric points")
	require.Equal(t, int64(batches*perBatch), s.logs.Load(), "log records")
}

func TestComponentsMatchBuildInfo(t *testing.T) {
	f, err := distribution.Components()
	require.NoError(t, err)
	for _, typ := range []string{"otlp", "host_metrics", "jaeger", "kafka", "prometheus", "zipkin"} {
		require.Containsf(t, keys(f.Receivers), typ, "receiver %s", typ)
	}
	require.Equal(t, "otelcol-custom", distribution.BuildInfo.Command)
}

func keys[K interface {
	comparable
	fmt.Stringer
}, V any](m map[K]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k.String())
	}
	return out
}

func makeTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		sp.SetName(fmt.Sprintf("span-%d", i))
		sp.SetTraceID([16]byte{1, byte(i)})
		sp.SetSpanID([8]byte{2, byte(i)})
	}
	return td
}

func makeMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	for i := 0; i < n; i++ {
		m := ms.AppendEmpty()
		m.SetName(fmt.Sprintf("metric_%d", i))
		m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(int64(i))
	}
	return md
}

func makeLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < n; i++ {
		lrs.AppendEmpty().Body().SetStr(fmt.Sprintf("log %d", i))
	}
	return ld
}
