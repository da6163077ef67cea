package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// metricDef names one emitted metric. All sums are cumulative and monotonic;
// all histograms are cumulative log2 histograms (see histogram.go). Durations
// use ns/us rather than seconds so that power-of-two buckets stay exact.
type metricDef struct {
	name, unit, description string
	histogram               bool
}

var (
	// TCP
	metricTCPOpened = metricDef{name: "ebpf.tcp.connections.opened", unit: "{connection}",
		description: "TCP connections established, by tcp.connection.direction (active = outgoing connect, passive = accepted)."}
	metricTCPClosed = metricDef{name: "ebpf.tcp.connections.closed", unit: "{connection}",
		description: "Established TCP connections that were closed."}
	metricTCPDuration = metricDef{name: "ebpf.tcp.connection.duration", unit: "us", histogram: true,
		description: "Lifetime of closed TCP connections from establishment to close."}
	metricTCPIO = metricDef{name: "ebpf.tcp.io", unit: "By",
		description: "Bytes of closed TCP connections by network.io.direction: transmit = payload bytes sent (retransmissions not counted again), receive = bytes received; read from the socket at close."}
	metricTCPSRTT = metricDef{name: "ebpf.tcp.srtt", unit: "us", histogram: true,
		description: "Smoothed round-trip time of closed TCP connections at close."}
	metricTCPRetransmits = metricDef{name: "ebpf.tcp.retransmits", unit: "{segment}",
		description: "TCP segments retransmitted."}
	metricTCPResets = metricDef{name: "ebpf.tcp.resets", unit: "{reset}",
		description: "TCP resets by network.io.direction: transmit = sent, receive = received."}
	metricTCPPeerClosed = metricDef{name: "ebpf.tcp.peer.connections.closed", unit: "{connection}",
		description: "Closed TCP connections by peer (tcp.per_peer): network.peer.address, and network.peer.port for outgoing connections."}
	metricTCPPeerIO = metricDef{name: "ebpf.tcp.peer.io", unit: "By",
		description: "Bytes of closed TCP connections by peer and network.io.direction (tcp.per_peer)."}
	metricTCPPeerRetransmits = metricDef{name: "ebpf.tcp.peer.retransmits", unit: "{segment}",
		description: "Retransmitted segments of closed TCP connections by peer (tcp.per_peer)."}

	// Scheduler
	metricRunqLatency = metricDef{name: "ebpf.sched.runqueue.latency", unit: "ns", histogram: true,
		description: "Time tasks spent runnable in a run queue before getting a CPU (wakeup or preemption to switch-in)."}
	metricContextSwitches = metricDef{name: "ebpf.sched.context_switches", unit: "{switch}",
		description: "Context switches away from tasks by process.context_switch.type (voluntary = blocked, involuntary = preempted)."}
	metricCPUTime = metricDef{name: "ebpf.sched.cpu.time", unit: "ns",
		description: "Time tasks spent on a CPU, accounted when they are switched out."}
	metricProcessStarts = metricDef{name: "ebpf.sched.processes.started", unit: "{process}",
		description: "Processes created (fork/clone without CLONE_THREAD)."}
	metricExecs = metricDef{name: "ebpf.sched.execs", unit: "{exec}",
		description: "Successful execve calls."}
	metricProcessExits = metricDef{name: "ebpf.sched.processes.exited", unit: "{process}",
		description: "Processes that exited (last thread of the process)."}

	// Memory
	metricPagesAllocated = metricDef{name: "ebpf.memory.pages.allocated", unit: "{page}",
		description: "Pages allocated by the page allocator, by memory.page.order (an order-n allocation counts 2^n pages), attributed to the allocating task's cgroup."}
	metricDirectReclaim = metricDef{name: "ebpf.memory.direct_reclaim.duration", unit: "ns", histogram: true,
		description: "Time allocating tasks spent in direct page reclaim."}
	metricExtfrag = metricDef{name: "ebpf.memory.fragmentation.events", unit: "{event}",
		description: "Page allocations that fell back to another migrate type (external fragmentation, mm_page_alloc_extfrag)."}
	metricOOMKills = metricDef{name: "ebpf.memory.oom_kills", unit: "{process}",
		description: "Processes chosen and killed by the OOM killer, attributed to the victim's cgroup."}
)

// allMetrics lists every metric for documentation tests.
var allMetrics = []metricDef{
	metricTCPOpened, metricTCPClosed, metricTCPDuration, metricTCPIO, metricTCPSRTT, metricTCPRetransmits,
	metricTCPResets, metricTCPPeerClosed, metricTCPPeerIO, metricTCPPeerRetransmits,
	metricRunqLatency, metricContextSwitches, metricCPUTime, metricProcessStarts, metricExecs, metricProcessExits,
	metricPagesAllocated, metricDirectReclaim, metricExtfrag, metricOOMKills,
}

// resourceMetrics collects the metrics of one resource (one cgroup).
type resourceMetrics struct {
	sm        pmetric.ScopeMetrics
	byName    map[string]pmetric.Metric
	start     pcommon.Timestamp
	now       pcommon.Timestamp
	histogram string
}

func newResourceMetrics(rm pmetric.ResourceMetrics, scopeName, version, histogram string, start, now pcommon.Timestamp) *resourceMetrics {
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	sm.Scope().SetVersion(version)
	return &resourceMetrics{sm: sm, byName: map[string]pmetric.Metric{}, start: start, now: now, histogram: histogram}
}

func (r *resourceMetrics) metric(d metricDef) pmetric.Metric {
	if m, ok := r.byName[d.name]; ok {
		return m
	}
	m := r.sm.Metrics().AppendEmpty()
	m.SetName(d.name)
	m.SetUnit(d.unit)
	m.SetDescription(d.description)
	switch {
	case !d.histogram:
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case r.histogram == HistogramExplicit:
		m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	default:
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
	r.byName[d.name] = m
	return m
}

// attr is one data point attribute; value is a string or an int64.
type attr struct {
	key string
	str string
	num int64
	isN bool
}

func strAttr(k, v string) attr       { return attr{key: k, str: v} }
func intAttr(k string, v int64) attr { return attr{key: k, num: v, isN: true} }

func putAttrs(m pcommon.Map, attrs []attr) {
	for _, a := range attrs {
		if a.isN {
			m.PutInt(a.key, a.num)
		} else {
			m.PutStr(a.key, a.str)
		}
	}
}

func (r *resourceMetrics) addSum(d metricDef, v uint64, attrs ...attr) {
	dp := r.metric(d).Sum().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(r.start)
	dp.SetTimestamp(r.now)
	dp.SetIntValue(int64(v))
	putAttrs(dp.Attributes(), attrs)
}

func (r *resourceMetrics) addHistogram(d metricDef, h *log2Histogram) {
	m := r.metric(d)
	if m.Type() == pmetric.MetricTypeHistogram {
		dp := m.Histogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(r.start)
		dp.SetTimestamp(r.now)
		h.toExplicit(dp)
		return
	}
	dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(r.start)
	dp.SetTimestamp(r.now)
	h.toExponential(dp)
}
