// Command loadgen drives an OTLP/gRPC endpoint as fast as it accepts (or at a fixed rate) with
// pre-built traces, metrics or logs requests, and doubles as the counting sink at the far end.
//
//	loadgen -mode sink -listen 127.0.0.1:5317                       # prints items received on SIGTERM
//	loadgen -mode send -target 127.0.0.1:4317 -signal traces -duration 30s -conns 4
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	// the collector's OTLP exporter compresses with gzip by default
	_ "google.golang.org/grpc/encoding/gzip"
)

type result struct {
	Signal   string  `json:"signal"`
	Items    int64   `json:"items"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"items_per_sec"`
	Received int64   `json:"received,omitempty"`
}

func main() {
	mode := flag.String("mode", "send", "send | sink")
	target := flag.String("target", "127.0.0.1:4317", "OTLP gRPC endpoint to send to")
	listen := flag.String("listen", "127.0.0.1:5317", "sink listen address")
	sig := flag.String("signal", "traces", "traces | metrics | logs")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	conns := flag.Int("conns", 4, "concurrent senders")
	batch := flag.Int("batch", 500, "items per request")
	flag.Parse()

	switch *mode {
	case "sink":
		runSink(*listen)
	case "send":
		r := send(*target, *sig, *duration, *conns, *batch)
		_ = json.NewEncoder(os.Stdout).Encode(r)
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
}

// send pushes identical pre-marshalled requests; each request's items get new timestamps in the
// collector only, which is fine for throughput (no per-item generation cost in the load generator).
func send(target, sig string, d time.Duration, conns, batch int) result {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	var export func(ctx context.Context) error
	switch sig {
	case "traces":
		req := ptraceotlp.NewExportRequestFromTraces(traces(batch))
		c := ptraceotlp.NewGRPCClient(conn)
		export = func(ctx context.Context) error { _, err := c.Export(ctx, req); return err }
	case "metrics":
		req := pmetricotlp.NewExportRequestFromMetrics(metrics(batch))
		c := pmetricotlp.NewGRPCClient(conn)
		export = func(ctx context.Context) error { _, err := c.Export(ctx, req); return err }
	case "logs":
		req := plogotlp.NewExportRequestFromLogs(logs(batch))
		c := plogotlp.NewGRPCClient(conn)
		export = func(ctx context.Context) error { _, err := c.Export(ctx, req); return err }
	default:
		log.Fatalf("unknown -signal %q", sig)
	}
	var items, errs atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := export(ctx); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
						time.Sleep(time.Millisecond)
					}
					continue
				}
				items.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return result{Signal: sig, Items: items.Load(), Errors: errs.Load(), Seconds: secs, PerSec: float64(items.Load()) / secs}
}

func traces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "loadgen")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		sp.SetName("load-span")
		sp.SetTraceID([16]byte{byte(i >> 8), byte(i), 7})
		sp.SetSpanID([8]byte{byte(i >> 8), byte(i), 7})
		sp.SetStartTimestamp(now)
		sp.SetEndTimestamp(now + 1000)
		sp.Attributes().PutStr("http.request.method", "GET")
		sp.Attributes().PutInt("http.response.status_code", 200)
	}
	return td
}

func metrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "loadgen")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("load.requests")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := 0; i < n; i++ {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(i))
		dp.Attributes().PutInt("series", int64(i))
	}
	return md
}

func logs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "loadgen")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := 0; i < n; i++ {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(now)
		lr.Body().SetStr("a log line of moderate length from the load generator")
		lr.Attributes().PutInt("i", int64(i))
	}
	return ld
}

type sink struct {
	ptraceotlp.UnimplementedGRPCServer
	n *atomic.Int64
}

func (s sink) Export(_ context.Context, r ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.n.Add(int64(r.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

type metricSink struct {
	pmetricotlp.UnimplementedGRPCServer
	n *atomic.Int64
}

func (s metricSink) Export(_ context.Context, r pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	s.n.Add(int64(r.Metrics().DataPointCount()))
	return pmetricotlp.NewExportResponse(), nil
}

type logSink struct {
	plogotlp.UnimplementedGRPCServer
	n *atomic.Int64
}

func (s logSink) Export(_ context.Context, r plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.n.Add(int64(r.Logs().LogRecordCount()))
	return plogotlp.NewExportResponse(), nil
}

// runSink counts received items until SIGTERM/SIGINT, then prints the count as JSON.
func runSink(addr string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	var n atomic.Int64
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &sink{n: &n})
	pmetricotlp.RegisterGRPCServer(srv, &metricSink{n: &n})
	plogotlp.RegisterGRPCServer(srv, &logSink{n: &n})
	go func() { _ = srv.Serve(lis) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	for s := range stop {
		fmt.Println(n.Load())
		if s != syscall.SIGUSR1 {
			srv.Stop()
			return
		}
	}
}
