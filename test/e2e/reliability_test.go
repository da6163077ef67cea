//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// spanSink is an OTLP/gRPC trace backend that records span names (unique ids) it received.
type spanSink struct {
	ptraceotlp.UnimplementedGRPCServer
	// delay (nanoseconds) is spent on each request before it is recorded: a slow backend.
	delay atomic.Int64
	mu    sync.Mutex
	names map[string]int
}

func (s *spanSink) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ptraceotlp.NewExportResponse(), ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
			spans := rss.At(i).ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s.names[spans.At(k).Name()]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (s *spanSink) counts() (unique, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.names {
		unique++
		total += n
	}
	return unique, total
}

// startSpanSink serves the sink on address; opts configure the server (e.g. TLS credentials).
func startSpanSink(t *testing.T, address string, opts ...grpc.ServerOption) *spanSink {
	t.Helper()
	lis, err := net.Listen("tcp", address)
	require.NoError(t, err)
	s := &spanSink{names: map[string]int{}}
	srv := grpc.NewServer(opts...)
	ptraceotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s
}

func exportSpans(t *testing.T, endpoint string, first, n int) {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	const perRequest = 50
	for i := first; i < first+n; i += perRequest {
		td := ptrace.NewTraces()
		spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		for j := i; j < i+perRequest && j < first+n; j++ {
			sp := spans.AppendEmpty()
			sp.SetName(fmt.Sprintf("crash-span-%d", j))
			sp.SetTraceID([16]byte{byte(j >> 8), byte(j), 1})
			sp.SetSpanID([8]byte{byte(j >> 8), byte(j), 2})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
		require.NoError(t, err)
	}
}

// TestKill9WithPersistentQueue: the backend is down, the collector accepts spans into a file_storage
// sending queue and is killed with SIGKILL. Restarted with the backend up, it delivers every span.
// Delivery is at-least-once: a batch in flight at the kill may be sent twice; the test reports
// duplicates and requires every unique id.
func TestKill9WithPersistentQueue(t *testing.T) {
	recvPort, backendPort := proctest.FreePort(t), proctest.FreePort(t)
	queueDir := t.TempDir()
	cfg := writeFile(t, "persistent.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: "%s"}}
exporters:
  otlp_grpc:
    endpoint: %s
    tls: {insecure: true}
    timeout: 1s
    retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0}
    sending_queue: {enabled: true, storage: file_storage, queue_size: 100000, sizer: items}
extensions:
  file_storage:
    directory: %s
service:
  extensions: [file_storage]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_grpc]}
`, addr(recvPort), addr(backendPort), queueDir))

	const spans = 2000
	first := startCollector(t, nil, "--config", cfg)
	first.WaitReady(t, readyTimeout)
	exportSpans(t, addr(recvPort), 0, spans) // accepted = written to the persistent queue
	require.NoError(t, first.Cmd.Process.Signal(syscall.SIGKILL))
	<-first.Exited()

	sink := startSpanSink(t, addr(backendPort))
	second := startCollector(t, nil, "--config", cfg)
	second.WaitReady(t, readyTimeout)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		unique, _ := sink.counts()
		assert.Equal(c, spans, unique)
	}, 60*time.Second, 100*time.Millisecond, "every span accepted before SIGKILL arrives after restart")
	unique, total := sink.counts()
	t.Logf("kill -9 with persistent queue: %d spans accepted, %d unique delivered, %d duplicates", spans, unique, total-unique)
}

// rawCodec sends arbitrary bytes as a gRPC message, to feed the OTLP gRPC server garbage.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { *(v.(*[]byte)) = data; return nil }
func (rawCodec) Name() string                       { return "proto" }

var _ encoding.Codec = rawCodec{}

func goroutines(t *testing.T, pprofPort int) int {
	t.Helper()
	n, err := proctest.Goroutines(context.Background(), pprofPort)
	require.NoError(t, err)
	return n
}

// TestGarbageIn feeds the OTLP endpoints random and truncated protobuf, wrong content types,
// oversized bodies and invalid UTF-8: every request gets an error, the collector stays up, and
// goroutines do not pile up.
func TestGarbageIn(t *testing.T) {
	grpcPort, httpPort, pprofPort := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	cfg := writeFile(t, "garbage.yaml", fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "%s", max_recv_msg_size_mib: 1}
      http: {endpoint: "%s", max_request_body_size: 1048576}
exporters:
  nop:
extensions:
  pprof: {endpoint: "127.0.0.1:%d"}
service:
  extensions: [pprof]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [nop]}
    metrics: {receivers: [otlp], exporters: [nop]}
    logs: {receivers: [otlp], exporters: [nop]}
`, addr(grpcPort), addr(httpPort), pprofPort))
	col := startCollector(t, nil, "--config", cfg)
	col.WaitReady(t, readyTimeout)
	before := goroutines(t, pprofPort)

	valid, err := ptraceotlp.NewExportRequestFromTraces(makeTracesForGarbage()).MarshalProto()
	require.NoError(t, err)
	rng := rand.New(rand.NewSource(1))
	random := func(n int) []byte { b := make([]byte, n); rng.Read(b); return b }
	invalidUTF8 := bytes.ReplaceAll(valid, []byte("garbage-span"), []byte("garbag\xff\xfe-span"))

	bodies := [][]byte{random(10), random(1000), random(100000), valid[:len(valid)/2], valid[:len(valid)-1], invalidUTF8, bytes.Repeat([]byte{0xff}, 2<<20)}
	httpBase := fmt.Sprintf("http://%s", addr(httpPort))
	for round := 0; round < 5; round++ {
		for _, path := range []string{"/v1/traces", "/v1/metrics", "/v1/logs"} {
			for i, body := range bodies {
				for _, ct := range []string{"application/x-protobuf", "application/json", "text/plain", "application/x-www-form-urlencoded"} {
					resp, err := http.Post(httpBase+path, ct, bytes.NewReader(body))
					require.NoErrorf(t, err, "POST %s body %d (%s)", path, i, ct)
					resp.Body.Close()
					// invalid UTF-8 inside a well-formed protobuf is accepted by design (proto3 strings are
					// not validated by pdata); everything else must be rejected.
					if !(i == 5 && ct == "application/x-protobuf") {
						assert.GreaterOrEqualf(t, resp.StatusCode, 400, "POST %s body %d (%s) accepted", path, i, ct)
					}
				}
			}
		}
		conn, err := grpc.NewClient(addr(grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		for _, method := range []string{
			"/opentelemetry.proto.collector.trace.v1.TraceService/Export",
			"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
			"/opentelemetry.proto.collector.logs.v1.LogsService/Export",
		} {
			for i, body := range bodies[:5] {
				var reply []byte
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := conn.Invoke(ctx, method, body, &reply, grpc.ForceCodec(rawCodec{}))
				cancel()
				assert.Errorf(t, err, "gRPC %s body %d accepted", method, i)
			}
		}
		conn.Close()
	}
	require.NotContains(t, col.Output.String(), "panic")
	select {
	case <-col.Exited():
		t.Fatalf("collector exited on garbage input: %v", col.Err())
	default:
	}
	// Goroutines settle back (HTTP keep-alive and gRPC connections close).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.LessOrEqual(c, goroutines(t, pprofPort), before+5)
	}, 30*time.Second, 500*time.Millisecond, "goroutine leak after garbage input")
}

func makeTracesForGarbage() ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("garbage-span")
	sp.SetTraceID([16]byte{1})
	sp.SetSpanID([8]byte{1})
	return td
}
