//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

var edgeSides = map[uint8]string{probes.EdgeSideClient: "client", probes.EdgeSideServer: "server"}

// addEdges brings the open connections' bytes into the edge table (one run
// of the kernel's edge iterator) and emits every edge of an included cgroup
// on that cgroup's resource, each with the start of its own series. The
// overflow edge has no peer attributes. Edges idle for tcp.edges.idle_timeout
// are deleted afterwards (expireIdleEdges).
func (b *metricsBatch) addEdges() {
	if err := b.r.p.FlushEdges(); err != nil {
		b.r.logger.Warn("edges of open connections not updated this interval; they still count at close", zap.Error(err))
	}
	var key probes.ProbesTcpEdgeKey
	var s probes.ProbesTcpEdgeStats
	var idle []idleEdge
	it := b.r.p.TCPEdges.Iterate()
	for it.Next(&key, &s) {
		if b.idleLongEnough(key, &s) {
			idle = append(idle, idleEdge{key, s})
		}
		start := b.r.edgeStarts.of(key, b.now)
		if s.Opened+s.Closed+s.Failed+s.BytesSent+s.BytesReceived+s.Retransmits == 0 || !b.include(key.CgroupId) {
			continue
		}
		var peer []attr
		if side, ok := edgeSides[key.Side]; ok {
			peer = append(peer, strAttr(attrPeerAddress, peerAddr(key.Family, key.Addr).Unmap().String()))
			if key.Port != 0 {
				peer = append(peer, intAttr(attrPeerPort, int64(key.Port)))
			}
			peer = append(peer, strAttr(attrConnectionSide, side))
		}
		var rtt log2Histogram
		rtt.add(s.SrttUs.Slots[:], s.SrttUs.Zero, s.SrttUs.Sum)
		r := b.forCgroup(key.CgroupId).since(start)
		r.addSum(metricEdgeOpened, s.Opened, peer...)
		r.addSum(metricEdgeClosed, s.Closed, peer...)
		r.addSum(metricEdgeFailed, s.Failed, peer...)
		r.addSum(metricEdgeIO, s.BytesSent, append(peer, strAttr(attrIODirection, "transmit"))...)
		r.addSum(metricEdgeIO, s.BytesReceived, append(peer, strAttr(attrIODirection, "receive"))...)
		r.addSum(metricEdgeRetransmits, s.Retransmits, peer...)
		if rtt.count() > 0 { // failed connects only: no RTT
			r.addHistogram(metricEdgeSRTT, &rtt, peer...)
		}
	}
	if err := it.Err(); err != nil {
		b.r.logger.Warn("reading eBPF map incomplete", zap.String("table", "tcp_edges"), zap.Error(err))
	}
	b.r.expireIdleEdges(idle)
}

// edgeActivity is what the receiver remembers of an edge between
// collections to tell how long it has been idle.
type edgeActivity struct {
	total   uint64    // edgeTotal at the last change
	changed time.Time // the collection that read that total first
}

// edgeTotal sums all counters of an edge. They only grow, so the sum
// changes exactly when one of them does.
func edgeTotal(s *probes.ProbesTcpEdgeStats) uint64 {
	n := s.BytesSent + s.BytesReceived + s.Opened + s.Closed + s.Failed + s.Retransmits +
		s.SrttUs.Zero + s.SrttUs.Sum + s.SrttUs.Clamped
	for _, c := range s.SrttUs.Slots {
		n += c
	}
	return n
}

// idleEdge is an edge to expire, with the value this collection read.
type idleEdge struct {
	key   probes.ProbesTcpEdgeKey
	stats probes.ProbesTcpEdgeStats
}

// idleLongEnough records the edge's activity and tells whether it has had no
// open connection and no change for tcp.edges.idle_timeout. "No open
// connection" is closed >= opened as the kernel counts: equal normally;
// closed is ahead when a connection's open went elsewhere (the overflow edge
// while the table was full, or lost in the race of expireIdleEdges), and
// such an edge must expire too or it would hold its place for the cgroup's
// lifetime. The overflow edge never expires: the kernel adds to it without
// creating it.
func (b *metricsBatch) idleLongEnough(key probes.ProbesTcpEdgeKey, s *probes.ProbesTcpEdgeStats) bool {
	if key == probes.OverflowEdge {
		return false
	}
	total := edgeTotal(s)
	a, ok := b.r.edgeActivity[key]
	if !ok || a.total != total {
		b.r.edgeActivity[key] = edgeActivity{total: total, changed: b.at}
		return false
	}
	return s.Closed >= s.Opened && b.at.Sub(a.changed) >= b.r.cfg.TCP.Edges.IdleTimeout
}

// expireIdleEdges deletes idle edges from the kernel table; their values,
// unchanged for idle_timeout, were emitted by earlier collections and by
// this one. cilium/ebpf (and the kernel) have no compare-and-delete, so each
// edge is read again just before its deletion and kept when it changed since
// this collection's read. What remains is the window between that read and
// the delete, plus a program that looked the edge up before the delete and
// adds after it: that update goes to the deleted element and is lost. Worst
// case one connection's open or one failed connect is not counted; a lost
// open makes the connection's close start the edge again with closed one
// ahead of opened, and that edge expires when idle like any other (with
// one more connection open and idle on it, it expires under that
// connection, whose bytes and close then start a new series).
func (r *mapReader) expireIdleEdges(idle []idleEdge) {
	var now probes.ProbesTcpEdgeStats
	for _, e := range idle {
		if err := r.p.TCPEdges.Lookup(e.key, &now); err != nil || now != e.stats {
			continue // gone, or active again: the next collection sees the change
		}
		if err := r.deleteEdge(e.key); err != nil {
			r.logger.Warn("deleting an idle edge", zap.Error(err))
			continue
		}
		r.edgesExpired.Add(1)
	}
}

// deleteEdge removes an edge from the kernel table and ends its series: if
// the kernel creates it again, it counts from zero and gets a new start.
func (r *mapReader) deleteEdge(key probes.ProbesTcpEdgeKey) error {
	r.edgeStarts.forget(key)
	delete(r.edgeActivity, key)
	return r.p.TCPEdges.Delete(key)
}

// deleteEdges removes the edges of removed cgroups (their last values were emitted).
func (r *mapReader) deleteEdges(dead map[uint64]bool) {
	var key probes.ProbesTcpEdgeKey
	var s probes.ProbesTcpEdgeStats
	var keys []probes.ProbesTcpEdgeKey
	it := r.p.TCPEdges.Iterate()
	for it.Next(&key, &s) {
		if dead[key.CgroupId] {
			keys = append(keys, key)
		}
	}
	for _, k := range keys {
		_ = r.deleteEdge(k)
	}
}
