//go:build soak

package soak

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
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
)

// spanLoad sends spans with unique ids over OTLP/gRPC at a steady rate. A request the collector
// refuses (or that fails in transport) is not retried: its spans count as sent and rejected, so
// sent − received is exactly what the collector did not deliver.
type spanLoad struct {
	rate       int // spans per second
	perRequest int
	// resource sets resource attributes of request number n (optional).
	resource func(n int, attrs pcommon.Map)

	sent, rejected atomic.Int64
	requests       atomic.Int64
	lastErr        atomic.Value
	maxLag         atomic.Int64 // nanoseconds the generator fell behind its schedule at most
}

// run sends until ctx is done. Requests go out on a fixed schedule; when a request is slow the
// next ones catch up, so the average rate holds unless the collector blocks for long.
func (l *spanLoad) run(ctx context.Context, endpoint string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	interval := time.Duration(float64(time.Second) * float64(l.perRequest) / float64(l.rate))
	start := time.Now()
	var seq uint64
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		} else if lag := -wait; lag.Nanoseconds() > l.maxLag.Load() {
			l.maxLag.Store(lag.Nanoseconds())
		}
		if ctx.Err() != nil {
			return nil
		}
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "soak-load")
		if l.resource != nil {
			l.resource(n, rs.Resource().Attributes())
		}
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		now := pcommon.NewTimestampFromTime(time.Now())
		for range l.perRequest {
			sp := spans.AppendEmpty()
			var tid [16]byte
			var sid [8]byte
			copy(tid[:], loadMarker)
			binary.BigEndian.PutUint64(tid[8:], seq+1)
			binary.BigEndian.PutUint64(sid[:], seq+1)
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetName("soak-span")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(now)
			sp.SetEndTimestamp(now)
			sp.Attributes().PutStr("http.route", "/checkout")
			seq++
		}
		// Not the test context: a request in flight finishes even when the load stops.
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Export(rctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
		l.sent.Add(int64(l.perRequest))
		l.requests.Add(1)
		if err != nil {
			l.rejected.Add(int64(l.perRequest))
			l.lastErr.Store(err.Error())
		}
	}
}

func (l *spanLoad) lastError() string {
	if s, ok := l.lastErr.Load().(string); ok {
		return s
	}
	return ""
}

// sideLoad sends log records and metric points (series gauges) at a steady rate for the soak.
type sideLoad struct {
	logsPerSecond int
	series        int // gauge series, each written once per second
	resource      func(n int, attrs pcommon.Map)

	logsSent, pointsSent, errors atomic.Int64
}

func (l *sideLoad) run(ctx context.Context, endpoint string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	logs, metrics := plogotlp.NewGRPCClient(conn), pmetricotlp.NewGRPCClient(conn)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		if l.resource != nil {
			l.resource(n, rl.Resource().Attributes())
		}
		recs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range l.logsPerSecond / 10 {
			r := recs.AppendEmpty()
			r.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			r.Body().SetStr(fmt.Sprintf("soak log %d/%d", n, i))
			r.SetSeverityNumber(plog.SeverityNumberInfo)
		}
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := logs.Export(rctx, plogotlp.NewExportRequestFromLogs(ld)); err != nil {
			l.errors.Add(1)
		} else {
			l.logsSent.Add(int64(recs.Len()))
		}
		cancel()
		if n%10 != 0 {
			continue
		}
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "soak-load")
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("soak.load.value")
		dps := g.SetEmptyGauge().DataPoints()
		for i := range l.series {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			dp.SetIntValue(int64(n))
			dp.Attributes().PutInt("series", int64(i))
		}
		rctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := metrics.Export(rctx, pmetricotlp.NewExportRequestFromMetrics(md)); err != nil {
			l.errors.Add(1)
		} else {
			l.pointsSent.Add(int64(l.series))
		}
		cancel()
	}
}
