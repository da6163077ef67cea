//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"strconv"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

// One function per signal turns a cgroup's per-CPU values (its hash entry's
// and its slots', see forEachCgroup) into data points. A cgroup whose values
// are all zero gets no resource.

// The owner and the stats of each signal's slot (bpf/common.bpf.h: stats_for).
func schedSlot(s *probes.ProbesSchedSlot) (uint64, *probes.ProbesSchedStats) {
	return s.Owner, &s.Stats
}
func tcpSlot(s *probes.ProbesTcpSlot) (uint64, *probes.ProbesTcpStats) { return s.Owner, &s.Stats }
func memorySlot(s *probes.ProbesMemorySlot) (uint64, *probes.ProbesMemoryStats) {
	return s.Owner, &s.Stats
}

func (b *metricsBatch) addScheduler(id uint64, per []probes.ProbesSchedStats) {
	if !b.include(id) {
		return
	}
	var s probes.ProbesSchedStats
	var h log2Histogram
	for i := range per {
		v := &per[i]
		s.VoluntarySwitches += v.VoluntarySwitches
		s.InvoluntarySwitches += v.InvoluntarySwitches
		s.OncpuNs += v.OncpuNs
		s.ProcessForks += v.ProcessForks
		s.Execs += v.Execs
		s.ProcessExits += v.ProcessExits
		h.add(v.RunqLatencyNs.Slots[:], v.RunqLatencyNs.Zero, v.RunqLatencyNs.Sum)
	}
	if s.VoluntarySwitches+s.InvoluntarySwitches+s.OncpuNs+s.ProcessForks+s.Execs+s.ProcessExits+h.count() == 0 {
		return
	}
	r := b.forCgroup(id)
	r.addHistogram(metricRunqLatency, &h)
	r.addSum(metricContextSwitches, s.VoluntarySwitches, strAttr("process.context_switch.type", "voluntary"))
	r.addSum(metricContextSwitches, s.InvoluntarySwitches, strAttr("process.context_switch.type", "involuntary"))
	r.addSum(metricCPUTime, s.OncpuNs)
	r.addSum(metricProcessStarts, s.ProcessForks)
	r.addSum(metricExecs, s.Execs)
	r.addSum(metricProcessExits, s.ProcessExits)
}

func (b *metricsBatch) addTCP(id uint64, per []probes.ProbesTcpStats) {
	if !b.include(id) {
		return
	}
	var s probes.ProbesTcpStats
	var dur, rtt log2Histogram
	for i := range per {
		v := &per[i]
		s.ActiveOpens += v.ActiveOpens
		s.PassiveOpens += v.PassiveOpens
		s.Closes += v.Closes
		s.BytesSent += v.BytesSent
		s.BytesReceived += v.BytesReceived
		s.Retransmits += v.Retransmits
		s.ResetsSent += v.ResetsSent
		s.ResetsReceived += v.ResetsReceived
		dur.add(v.DurationUs.Slots[:], v.DurationUs.Zero, v.DurationUs.Sum)
		rtt.add(v.SrttUs.Slots[:], v.SrttUs.Zero, v.SrttUs.Sum)
	}
	if s.ActiveOpens+s.PassiveOpens+s.Closes+s.Retransmits+s.ResetsSent+s.ResetsReceived == 0 {
		return
	}
	r := b.forCgroup(id)
	r.addSum(metricTCPOpened, s.ActiveOpens, strAttr("tcp.connection.direction", "active"))
	r.addSum(metricTCPOpened, s.PassiveOpens, strAttr("tcp.connection.direction", "passive"))
	r.addSum(metricTCPClosed, s.Closes)
	r.addHistogram(metricTCPDuration, &dur)
	r.addSum(metricTCPIO, s.BytesSent, strAttr(attrIODirection, "transmit"))
	r.addSum(metricTCPIO, s.BytesReceived, strAttr(attrIODirection, "receive"))
	r.addHistogram(metricTCPSRTT, &rtt)
	r.addSum(metricTCPRetransmits, s.Retransmits)
	r.addSum(metricTCPResets, s.ResetsSent, strAttr(attrIODirection, "transmit"))
	r.addSum(metricTCPResets, s.ResetsReceived, strAttr(attrIODirection, "receive"))
}

// addTCPPeer takes one entry of the per-peer table (tcp.per_peer), which has
// no slots: its key carries the cgroup.
func (b *metricsBatch) addTCPPeer(key probes.ProbesTcpPeerKey, per []probes.ProbesTcpPeerStats) {
	if !b.include(key.CgroupId) {
		return
	}
	var s probes.ProbesTcpPeerStats
	for i := range per {
		s.Closes += per[i].Closes
		s.BytesSent += per[i].BytesSent
		s.BytesReceived += per[i].BytesReceived
		s.Retransmits += per[i].Retransmits
	}
	peer := []attr{strAttr(attrPeerAddress, peerAddr(key.Family, key.Addr).String())}
	if key.Port != 0 {
		peer = append(peer, intAttr(attrPeerPort, int64(key.Port)))
	}
	r := b.forCgroup(key.CgroupId)
	r.addSum(metricTCPPeerClosed, s.Closes, peer...)
	r.addSum(metricTCPPeerIO, s.BytesSent, append(peer, strAttr(attrIODirection, "transmit"))...)
	r.addSum(metricTCPPeerIO, s.BytesReceived, append(peer, strAttr(attrIODirection, "receive"))...)
	r.addSum(metricTCPPeerRetransmits, s.Retransmits, peer...)
}

func (b *metricsBatch) addMemory(id uint64, per []probes.ProbesMemoryStats) {
	if !b.include(id) {
		return
	}
	var s probes.ProbesMemoryStats
	var h log2Histogram
	for i := range per {
		v := &per[i]
		for o := range s.PagesByOrder {
			s.PagesByOrder[o] += v.PagesByOrder[o]
		}
		s.ExtfragEvents += v.ExtfragEvents
		s.DirectReclaims += v.DirectReclaims
		s.OomKills += v.OomKills
		h.add(v.DirectReclaimNs.Slots[:], v.DirectReclaimNs.Zero, v.DirectReclaimNs.Sum)
	}
	var allocs uint64
	for _, n := range s.PagesByOrder {
		allocs += n
	}
	if allocs+s.ExtfragEvents+s.DirectReclaims+s.OomKills == 0 {
		return
	}
	r := b.forCgroup(id)
	for o, n := range s.PagesByOrder {
		if n != 0 {
			r.addSum(metricPagesAllocated, n<<o, strAttr("memory.page.order", strconv.Itoa(o)))
		}
	}
	r.addHistogram(metricDirectReclaim, &h)
	r.addSum(metricExtfrag, s.ExtfragEvents)
	r.addSum(metricOOMKills, s.OomKills)
}
