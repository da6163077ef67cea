//go:build soak

package soak

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp_grpc exporter compresses with gzip

	"github.com/otelcol-custom/otelcol-custom/internal/proctest"
)

// loadMarker starts the trace id of every span the load generator sends; the span id holds the
// span's sequence number + 1, so the sink counts unique spans exactly with a bitset.
var loadMarker = []byte("soakload")

// idSet records sequence numbers seen, and how often any was seen again (duplicates).
type idSet struct {
	bits       []uint64
	unique     int64
	duplicates int64
}

func (s *idSet) add(seq uint64) {
	word := seq / 64
	for uint64(len(s.bits)) <= word {
		s.bits = append(s.bits, make([]uint64, len(s.bits)+1024)...)
	}
	mask := uint64(1) << (seq % 64)
	if s.bits[word]&mask != 0 {
		s.duplicates++
		return
	}
	s.bits[word] |= mask
	s.unique++
}

// missing lists up to max sequence numbers below n that were never seen.
func (s *idSet) missing(n uint64, max int) []uint64 {
	var out []uint64
	for seq := uint64(0); seq < n && len(out) < max; seq++ {
		word := seq / 64
		if word >= uint64(len(s.bits)) || s.bits[word]&(1<<(seq%64)) == 0 {
			out = append(out, seq)
		}
	}
	return out
}

// sink is an OTLP/gRPC backend that can be stopped and started again on the same address (an
// outage). It counts load-generator spans by unique id, spans carrying k8s.pod.name, and log
// records; metrics are accepted and counted.
type sink struct {
	ptraceotlp.UnimplementedGRPCServer
	address string

	mu           sync.Mutex
	spans        idSet
	otherSpans   int64 // spans not from the load generator (eBPF)
	taggedSpans  int64 // load spans whose resource has k8s.pod.name (k8s_tagging worked)
	logRecords   int64
	metricPoints int64
	srv          *grpc.Server
}

type sinkLogs struct {
	plogotlp.UnimplementedGRPCServer
	s *sink
}

type sinkMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
	s *sink
}

func newSink(t *testing.T) *sink {
	s := &sink{address: addr(proctest.FreePort(t))}
	t.Cleanup(s.stop)
	return s
}

// start listens on the sink's address (retrying briefly while the old socket is released).
func (s *sink) start(t *testing.T) {
	t.Helper()
	var lis net.Listener
	var err error
	for range 50 {
		if lis, err = net.Listen("tcp", s.address); err == nil {
			break
		}
		select {
		case <-t.Context().Done():
			return
		default:
		}
	}
	if err != nil {
		t.Fatalf("sink: listen on %s: %v", s.address, err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	ptraceotlp.RegisterGRPCServer(srv, s)
	plogotlp.RegisterGRPCServer(srv, &sinkLogs{s: s})
	pmetricotlp.RegisterGRPCServer(srv, &sinkMetrics{s: s})
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
}

// stop closes the listener and every connection at once, as a crashed backend would.
func (s *sink) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (s *sink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rss := req.Traces().ResourceSpans()
	for i := range rss.Len() {
		_, tagged := rss.At(i).Resource().Attributes().Get("k8s.pod.name")
		for j := range rss.At(i).ScopeSpans().Len() {
			spans := rss.At(i).ScopeSpans().At(j).Spans()
			for k := range spans.Len() {
				sp := spans.At(k)
				tid, sid := sp.TraceID(), sp.SpanID()
				if !bytes.Equal(tid[:len(loadMarker)], loadMarker) {
					s.otherSpans++
					continue
				}
				s.spans.add(binary.BigEndian.Uint64(sid[:]) - 1)
				if tagged {
					s.taggedSpans++
				}
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (l *sinkLogs) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	l.s.mu.Lock()
	l.s.logRecords += int64(req.Logs().LogRecordCount())
	l.s.mu.Unlock()
	return plogotlp.NewExportResponse(), nil
}

func (m *sinkMetrics) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	m.s.mu.Lock()
	m.s.metricPoints += int64(req.Metrics().DataPointCount())
	m.s.mu.Unlock()
	return pmetricotlp.NewExportResponse(), nil
}

type sinkCounts struct {
	unique, duplicates, other, tagged, logs, points int64
}

func (s *sink) counts() sinkCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sinkCounts{s.spans.unique, s.spans.duplicates, s.otherSpans, s.taggedSpans, s.logRecords, s.metricPoints}
}

func (s *sink) missing(n uint64, max int) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spans.missing(n, max)
}
