//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

const (
	// maxBatch bounds the records held in user space: when a batch is full it
	// is handed to the next consumer before more is read, so a slow pipeline
	// makes the kernel side drop (and count) instead of growing memory.
	maxBatch = 1024
	// flushInterval bounds how long a record waits in a partial batch.
	flushInterval = time.Second
)

// eventReader turns ring-buffer records into log records and spans.
type eventReader struct {
	rd      *ringbuf.Reader
	attrs   *resourceAttrs
	matcher *cgroupMatcher
	logs    consumer.Logs
	traces  consumer.Traces
	logger  *zap.Logger
	clock   monotonicClock
	page    uint64

	logBatch   *logBatch
	traceBatch *traceBatch
}

func newEventReader(m *ebpf.Map, attrs *resourceAttrs, matcher *cgroupMatcher, logs consumer.Logs, traces consumer.Traces, logger *zap.Logger) (*eventReader, error) {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, err
	}
	return &eventReader{rd: rd, attrs: attrs, matcher: matcher, logs: logs, traces: traces, logger: logger,
		clock: newMonotonicClock(), page: uint64(os.Getpagesize())}, nil
}

func (e *eventReader) close() { _ = e.rd.Close() }

func (e *eventReader) run(ctx context.Context) {
	var rec ringbuf.Record
	lastFlush := time.Now()
	for {
		e.rd.SetDeadline(time.Now().Add(flushInterval))
		err := e.rd.ReadInto(&rec)
		switch {
		case err == nil:
			e.handle(rec.RawSample)
		case errors.Is(err, os.ErrDeadlineExceeded):
		case errors.Is(err, ringbuf.ErrClosed):
			e.flush(context.WithoutCancel(ctx))
			return
		default:
			e.logger.Warn("reading the eBPF ring buffer", zap.Error(err))
		}
		if e.pending() >= maxBatch || time.Since(lastFlush) >= flushInterval {
			e.flush(ctx)
			lastFlush = time.Now()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (e *eventReader) pending() int {
	n := 0
	if e.logBatch != nil {
		n += e.logBatch.n
	}
	if e.traceBatch != nil {
		n += e.traceBatch.n
	}
	return n
}

func (e *eventReader) flush(ctx context.Context) {
	if b := e.logBatch; b != nil && b.n > 0 {
		e.logBatch = nil
		if err := e.logs.ConsumeLogs(ctx, b.ld); err != nil {
			e.logger.Warn("the next consumer rejected eBPF logs", zap.Error(err))
		}
	}
	if b := e.traceBatch; b != nil && b.n > 0 {
		e.traceBatch = nil
		if err := e.traces.ConsumeTraces(ctx, b.td); err != nil {
			e.logger.Warn("the next consumer rejected eBPF spans", zap.Error(err))
		}
	}
}

// decode copies a record into the generated struct T, rejecting short records.
func decode[T any](raw []byte) (*T, bool) {
	var v T
	if len(raw) < int(unsafe.Sizeof(v)) {
		return nil, false
	}
	if err := binary.Read(bytes.NewReader(raw), binary.NativeEndian, &v); err != nil {
		return nil, false
	}
	return &v, true
}

func (e *eventReader) handle(raw []byte) {
	if len(raw) < 4 {
		return
	}
	switch binary.NativeEndian.Uint32(raw) {
	case probes.EventExec:
		handleAs(raw, e.logs != nil, e.addExec)
	case probes.EventExit:
		handleAs(raw, e.logs != nil, e.addExit)
	case probes.EventOOM:
		handleAs(raw, e.logs != nil, e.addOOM)
	case probes.EventTCPReset:
		handleAs(raw, e.logs != nil, e.addReset)
	case probes.EventTCPConn:
		handleAs(raw, e.traces != nil, e.addSpan)
	}
}

// handleAs decodes raw as the event type T and hands it to add, when a
// pipeline wants it; short records are dropped.
func handleAs[T any](raw []byte, wanted bool, add func(*T)) {
	if !wanted {
		return
	}
	if v, ok := decode[T](raw); ok {
		add(v)
	}
}

// logBatch groups log records by cgroup into resources.
type logBatch struct {
	ld  plog.Logs
	res map[uint64]plog.LogRecordSlice
	n   int
}

func (e *eventReader) newLog(cgroupID uint64, mono uint64, name string, sev plog.SeverityNumber, body string) (plog.LogRecord, bool) {
	if !e.attrs.included(e.matcher, cgroupID) {
		return plog.LogRecord{}, false
	}
	if e.logBatch == nil {
		e.logBatch = &logBatch{ld: plog.NewLogs(), res: map[uint64]plog.LogRecordSlice{}}
	}
	b := e.logBatch
	recs, ok := b.res[cgroupID]
	if !ok {
		rl := b.ld.ResourceLogs().AppendEmpty()
		e.attrs.fill(rl.Resource(), cgroupID)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(metadata.ScopeName)
		recs = sl.LogRecords()
		b.res[cgroupID] = recs
	}
	b.n++
	lr := recs.AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(e.clock.wall(mono)))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetEventName(name)
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(sev.String())
	lr.Body().SetStr(body)
	return lr, true
}

// putProcess sets the attributes exec and exit records share.
func putProcess(a pcommon.Map, pid, ppid uint32, comm []int8) {
	a.PutInt("process.pid", int64(pid))
	a.PutInt("process.parent_pid", int64(ppid))
	a.PutStr("process.command", cString(comm))
}

func (e *eventReader) addExec(v *probes.ProbesExecEvent) {
	filename := cString(v.Filename[:])
	lr, ok := e.newLog(v.Hdr.CgroupId, v.Hdr.TimestampNs, "ebpf.process.exec", plog.SeverityNumberInfo, "process exec "+filename)
	if !ok {
		return
	}
	a := lr.Attributes()
	putProcess(a, v.Pid, v.Ppid, v.Comm[:])
	a.PutStr("process.executable.path", filename)
	a.PutInt("process.user.id", int64(v.Uid))
}

func (e *eventReader) addExit(v *probes.ProbesExitEvent) {
	lr, ok := e.newLog(v.Hdr.CgroupId, v.Hdr.TimestampNs, "ebpf.process.exit", plog.SeverityNumberInfo, "process exit")
	if !ok {
		return
	}
	a := lr.Attributes()
	putProcess(a, v.Pid, v.Ppid, v.Comm[:])
	if v.Signal != 0 {
		a.PutInt("process.exit.signal", int64(v.Signal))
		lr.Body().SetStr("process killed by signal " + signalName(v.Signal))
	} else {
		a.PutInt("process.exit.code", int64(v.ExitStatus))
	}
	a.PutInt("process.lifetime_ns", int64(v.LifetimeNs))
}

func (e *eventReader) addOOM(v *probes.ProbesOomEvent) {
	comm := cString(v.Comm[:])
	lr, ok := e.newLog(v.Hdr.CgroupId, v.Hdr.TimestampNs, "ebpf.oom.kill", plog.SeverityNumberWarn, "OOM killer chose "+comm+" as victim")
	if !ok {
		return
	}
	a := lr.Attributes()
	a.PutInt("process.pid", int64(v.Pid))
	a.PutStr("process.command", comm)
	a.PutInt("process.user.id", int64(v.Uid))
	a.PutInt("oom.total_vm_bytes", int64(v.TotalVmPages*e.page))
	a.PutInt("oom.anon_rss_bytes", int64(v.AnonRssPages*e.page))
	a.PutInt("oom.file_rss_bytes", int64(v.FileRssPages*e.page))
	a.PutInt("oom.shmem_rss_bytes", int64(v.ShmemRssPages*e.page))
	a.PutInt("oom.score_adj", v.OomScoreAdj)
}

func (e *eventReader) addReset(v *probes.ProbesTcpResetEvent) {
	dir, body := "receive", "TCP reset received"
	if v.Sent != 0 {
		dir, body = "transmit", "TCP reset sent"
	}
	lr, ok := e.newLog(v.Hdr.CgroupId, v.Hdr.TimestampNs, "ebpf.tcp.reset", plog.SeverityNumberInfo, body)
	if !ok {
		return
	}
	a := lr.Attributes()
	a.PutStr(attrIODirection, dir)
	a.PutStr("network.transport", "tcp")
	// Without a socket (a RST answering a segment for which none exists) the
	// addresses come from that segment and there is no state.
	if v.Addrs.Family != 0 {
		putAddrs(a, v.Addrs.Family, v.Addrs.Laddr, v.Addrs.Raddr, v.Addrs.Lport, v.Addrs.Rport)
	}
	if v.State != 0 {
		a.PutStr("tcp.state", tcpStateName(v.State))
	}
}

func putAddrs(a pcommon.Map, family uint16, laddr, raddr [16]uint8, lport, rport uint16) {
	if family == afInet6 {
		a.PutStr("network.type", "ipv6")
	} else {
		a.PutStr("network.type", "ipv4")
	}
	a.PutStr("network.local.address", peerAddr(family, laddr).String())
	a.PutInt("network.local.port", int64(lport))
	a.PutStr(attrPeerAddress, peerAddr(family, raddr).String())
	a.PutInt(attrPeerPort, int64(rport))
}

// traceBatch groups spans by cgroup into resources.
type traceBatch struct {
	td  ptrace.Traces
	res map[uint64]ptrace.SpanSlice
	n   int
}

func (e *eventReader) addSpan(v *probes.ProbesTcpConnEvent) {
	if !e.attrs.included(e.matcher, v.Hdr.CgroupId) {
		return
	}
	if e.traceBatch == nil {
		e.traceBatch = &traceBatch{td: ptrace.NewTraces(), res: map[uint64]ptrace.SpanSlice{}}
	}
	b := e.traceBatch
	spans, ok := b.res[v.Hdr.CgroupId]
	if !ok {
		rs := b.td.ResourceSpans().AppendEmpty()
		e.attrs.fill(rs.Resource(), v.Hdr.CgroupId)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(metadata.ScopeName)
		spans = ss.Spans()
		b.res[v.Hdr.CgroupId] = spans
	}
	b.n++
	s := spans.AppendEmpty()
	var tid pcommon.TraceID
	var sid pcommon.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	s.SetTraceID(tid)
	s.SetSpanID(sid)
	if v.Active != 0 {
		s.SetKind(ptrace.SpanKindClient)
		s.SetName("tcp connect")
	} else {
		s.SetKind(ptrace.SpanKindServer)
		s.SetName("tcp accept")
	}
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(e.clock.wall(v.StartNs)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(e.clock.wall(v.Hdr.TimestampNs)))
	a := s.Attributes()
	a.PutStr("network.transport", "tcp")
	putAddrs(a, v.Addrs.Family, v.Addrs.Laddr, v.Addrs.Raddr, v.Addrs.Lport, v.Addrs.Rport)
	a.PutInt("tcp.bytes_sent", int64(v.BytesSent))
	a.PutInt("tcp.bytes_received", int64(v.BytesReceived))
	a.PutInt("tcp.retransmits", int64(v.Retransmits))
	a.PutInt("tcp.srtt_us", int64(v.SrttUs))
}

// monotonicClock converts CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns, the
// events' timestamps) to wall-clock time.
type monotonicClock struct{ offset int64 }

func newMonotonicClock() monotonicClock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return monotonicClock{offset: time.Now().UnixNano() - ts.Nano()}
}

func (c monotonicClock) wall(mono uint64) time.Time { return time.Unix(0, int64(mono)+c.offset) }
