//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

// Edge attributes (the peer attributes are shared with tcp.per_peer).
const (
	attrPeerAddress    = "network.peer.address"
	attrPeerPort       = "network.peer.port"
	attrConnectionSide = "tcp.connection.side"
)

var edgeSides = map[uint8]string{probes.EdgeSideClient: "client", probes.EdgeSideServer: "server"}

// addEdges brings the open connections' bytes into the edge table (one run
// of the kernel's edge iterator) and emits every edge of an included cgroup
// on that cgroup's resource. The overflow edge has no peer attributes.
func (b *metricsBatch) addEdges() {
	if err := b.r.p.FlushEdges(); err != nil {
		b.r.logger.Warn("edges of open connections not updated this interval; they still count at close", zap.Error(err))
	}
	var key probes.ProbesTcpEdgeKey
	var s probes.ProbesTcpEdgeStats
	it := b.r.p.TCPEdges.Iterate()
	for it.Next(&key, &s) {
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
		r := b.forCgroup(key.CgroupId)
		r.addSum(metricEdgeOpened, s.Opened, peer...)
		r.addSum(metricEdgeClosed, s.Closed, peer...)
		r.addSum(metricEdgeFailed, s.Failed, peer...)
		r.addSum(metricEdgeIO, s.BytesSent, append(peer, strAttr("network.io.direction", "transmit"))...)
		r.addSum(metricEdgeIO, s.BytesReceived, append(peer, strAttr("network.io.direction", "receive"))...)
		r.addSum(metricEdgeRetransmits, s.Retransmits, peer...)
		if rtt.count() > 0 { // failed connects only: no RTT
			r.addHistogram(metricEdgeSRTT, &rtt, peer...)
		}
	}
	if err := it.Err(); err != nil {
		b.r.logger.Warn("reading eBPF map incomplete", zap.String("table", "tcp_edges"), zap.Error(err))
	}
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
		_ = r.p.TCPEdges.Delete(k)
	}
}
