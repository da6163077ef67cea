//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver/internal/probes"
)

// unresolvedRounds is how many collections an id may stay unresolvable before
// its entries are treated as belonging to a removed cgroup and deleted.
const unresolvedRounds = 3

// collector reads the per-CPU maps every interval and emits cumulative metrics.
type collector struct {
	cfg     *Config
	p       *probes.Set
	attrs   *resourceAttrs
	matcher *cgroupMatcher
	next    consumer.Metrics
	logger  *zap.Logger
	version string

	disabled    map[string]bool              // metrics switched off in the configuration
	firstSeen   map[uint64]pcommon.Timestamp // start timestamp of each cgroup's series
	unresolved  map[uint64]int
	cgroupCount atomic.Int64

	// slotsOf lists, per cgroup, the slot indexes it owns on some CPU in some
	// slot table, and inHash the cgroups with a hash entry, as read by the
	// current collection.
	slotsOf map[uint64][]uint32
	inHash  map[uint64]bool
	// retired holds removed cgroups whose last values were emitted. Their
	// hash entries are deleted and their slots released; data that still
	// shows up for them (a slot not yet taken over, a late socket close) is
	// not emitted. An id is forgotten once no table holds it. The value is
	// false for ids retired only because they stayed unresolvable (no file
	// handles to ask the kernel): those are emitted again if they resolve.
	retired map[uint64]bool
}

func newCollector(cfg *Config, p *probes.Set, attrs *resourceAttrs, m *cgroupMatcher, next consumer.Metrics, logger *zap.Logger) *collector {
	return &collector{cfg: cfg, p: p, attrs: attrs, matcher: m, next: next, logger: logger, disabled: disabledMetrics(cfg.Metrics),
		firstSeen: map[uint64]pcommon.Timestamp{}, unresolved: map[uint64]int{}, retired: map[uint64]bool{}}
}

func (c *collector) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			md := c.collect()
			if md.ResourceMetrics().Len() == 0 {
				continue
			}
			if err := c.next.ConsumeMetrics(ctx, md); err != nil {
				c.logger.Warn("the next consumer rejected eBPF metrics", zap.Error(err))
			}
		}
	}
}

// metricsBatch groups data points by cgroup into resources.
type metricsBatch struct {
	c   *collector
	md  pmetric.Metrics
	now pcommon.Timestamp
	res map[uint64]*resourceMetrics
}

func (b *metricsBatch) forCgroup(id uint64) *resourceMetrics {
	if r, ok := b.res[id]; ok {
		return r
	}
	start, ok := b.c.firstSeen[id]
	if !ok {
		start = b.now
		b.c.firstSeen[id] = start
	}
	rm := b.md.ResourceMetrics().AppendEmpty()
	b.c.attrs.fill(rm.Resource(), id)
	r := newResourceMetrics(rm, metadata.ScopeName, b.c.version, b.c.cfg.Histogram, b.c.disabled, start, b.now)
	b.res[id] = r
	return r
}

// collect reads all maps once. It never fails: unreadable entries are skipped and logged.
func (c *collector) collect() pmetric.Metrics {
	b := &metricsBatch{c: c, md: pmetric.NewMetrics(), now: pcommon.NewTimestampFromTime(time.Now()), res: map[uint64]*resourceMetrics{}}
	seen, retiredSeen := map[uint64]bool{}, map[uint64]bool{} // live and retired ids found
	include := func(id uint64) bool {
		if certain, ok := c.retired[id]; ok {
			if certain || !c.alive(id) {
				retiredSeen[id] = true
				return false
			}
			delete(c.retired, id) // alive after all: a new series from now on
		}
		seen[id] = true
		return c.attrs.included(c.matcher, id)
	}
	c.slotsOf, c.inHash = map[uint64][]uint32{}, map[uint64]bool{}

	if c.cfg.Scheduler.Enabled {
		forEachCgroup(c, c.p.SchedStats, c.p.SchedSlots, "scheduler", func(s *probes.ProbesSchedSlot) (uint64, *probes.ProbesSchedStats) {
			return s.Owner, &s.Stats
		}, func(id uint64, per []probes.ProbesSchedStats) {
			if !include(id) {
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
		})
	}

	if c.cfg.TCP.Enabled {
		forEachCgroup(c, c.p.TCPStats, c.p.TCPSlots, "tcp", func(s *probes.ProbesTcpSlot) (uint64, *probes.ProbesTcpStats) {
			return s.Owner, &s.Stats
		}, func(id uint64, per []probes.ProbesTcpStats) {
			if !include(id) {
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
			r.addSum(metricTCPIO, s.BytesSent, strAttr("network.io.direction", "transmit"))
			r.addSum(metricTCPIO, s.BytesReceived, strAttr("network.io.direction", "receive"))
			r.addHistogram(metricTCPSRTT, &rtt)
			r.addSum(metricTCPRetransmits, s.Retransmits)
			r.addSum(metricTCPResets, s.ResetsSent, strAttr("network.io.direction", "transmit"))
			r.addSum(metricTCPResets, s.ResetsReceived, strAttr("network.io.direction", "receive"))
		})

		if c.cfg.TCP.PerPeer.Enabled {
			readPerCPU(c, c.p.TCPPeerStats, "tcp_peer", func(key probes.ProbesTcpPeerKey, per []probes.ProbesTcpPeerStats) {
				if !include(key.CgroupId) {
					return
				}
				var s probes.ProbesTcpPeerStats
				for i := range per {
					s.Closes += per[i].Closes
					s.BytesSent += per[i].BytesSent
					s.BytesReceived += per[i].BytesReceived
					s.Retransmits += per[i].Retransmits
				}
				peer := []attr{strAttr("network.peer.address", peerAddr(key.Family, key.Addr).String())}
				if key.Port != 0 {
					peer = append(peer, intAttr("network.peer.port", int64(key.Port)))
				}
				r := b.forCgroup(key.CgroupId)
				r.addSum(metricTCPPeerClosed, s.Closes, peer...)
				r.addSum(metricTCPPeerIO, s.BytesSent, append(peer, strAttr("network.io.direction", "transmit"))...)
				r.addSum(metricTCPPeerIO, s.BytesReceived, append(peer, strAttr("network.io.direction", "receive"))...)
				r.addSum(metricTCPPeerRetransmits, s.Retransmits, peer...)
			})
		}
		if c.cfg.TCP.Edges.Enabled {
			c.collectEdges(b, include)
		}
	}

	if c.cfg.Memory.Enabled {
		forEachCgroup(c, c.p.MemoryStats, c.p.MemorySlots, "memory", func(s *probes.ProbesMemorySlot) (uint64, *probes.ProbesMemoryStats) {
			return s.Owner, &s.Stats
		}, func(id uint64, per []probes.ProbesMemoryStats) {
			if !include(id) {
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
		})
	}

	c.cgroupCount.Store(int64(len(seen)))
	c.removeDeadCgroups(seen)
	for id := range seen {
		retiredSeen[id] = true // just retired ones among them
	}
	c.retire(retiredSeen)
	return b.md
}

// removeDeadCgroups retires the cgroups that no longer exist, after their last
// values were emitted (see retire), so max_cgroups counts live cgroups.
func (c *collector) removeDeadCgroups(seen map[uint64]bool) {
	var dead []uint64
	certain := map[uint64]bool{}
	for id := range seen {
		if id == 0 || id == probes.OverflowCgroupID {
			continue
		}
		path, ok := c.attrs.cgroupPath(id)
		switch {
		case ok && c.attrs.resolver.Exists(id, path):
			delete(c.unresolved, id)
		case ok || c.attrs.resolver.Gone(id):
			dead = append(dead, id) // directory gone, or the kernel knows no such cgroup
			certain[id] = true
		default:
			// Undecidable without file handles: give the rate-limited walk a few rounds.
			if c.unresolved[id]++; c.unresolved[id] >= unresolvedRounds {
				dead = append(dead, id)
			}
		}
	}
	if len(dead) == 0 {
		return
	}
	isDead := map[uint64]bool{}
	for _, id := range dead {
		isDead[id] = true
		c.retired[id] = certain[id]
		delete(c.firstSeen, id)
		delete(c.unresolved, id)
		c.attrs.forget(id)
	}
	if c.cfg.TCP.Edges.Enabled {
		c.deleteEdges(isDead)
	}
	if c.cfg.TCP.PerPeer.Enabled {
		var keys []probes.ProbesTcpPeerKey
		readPerCPU(c, c.p.TCPPeerStats, "tcp_peer", func(key probes.ProbesTcpPeerKey, _ []probes.ProbesTcpPeerStats) {
			if isDead[key.CgroupId] {
				keys = append(keys, key)
			}
		})
		for _, k := range keys {
			_ = c.p.TCPPeerStats.Delete(k)
		}
	}
}

// alive reports whether the cgroup id resolves to an existing directory.
func (c *collector) alive(id uint64) bool {
	path, ok := c.attrs.cgroupPath(id)
	return ok && c.attrs.resolver.Exists(id, path)
}

// retire deletes the hash entries of retired cgroups and releases their
// slots; found are the ids this collection read from some table. Ids found
// nowhere are forgotten.
func (c *collector) retire(found map[uint64]bool) {
	released := map[uint32]bool{}
	for id := range c.retired {
		if !found[id] {
			delete(c.retired, id)
			continue
		}
		if c.inHash[id] {
			for _, m := range []*ebpf.Map{c.p.SchedStats, c.p.TCPStats, c.p.MemoryStats} {
				if m != nil {
					_ = m.Delete(id) // absent from some maps
				}
			}
		}
		// One owner per slot index can be released per collection; another
		// removed cgroup holding the same index elsewhere waits for the next.
		for _, idx := range c.slotsOf[id] {
			if released[idx] {
				continue
			}
			released[idx] = true
			if err := c.p.ReleasedSlots.Put(idx, id); err != nil {
				c.logger.Warn("releasing a slot of a removed cgroup", zap.Uint64("cgroup_id", id), zap.Error(err))
			}
		}
	}
}

// forEachCgroup calls fn with every cgroup's per-CPU values of one signal:
// those of its hash entry and of the slots it owns (bpf/common.h: stats_for).
// split returns a slot's owner and stats.
func forEachCgroup[S, V any](c *collector, hash, slots *ebpf.Map, table string, split func(*S) (uint64, *V), fn func(id uint64, per []V)) {
	all := map[uint64][]V{}
	readPerCPU(c, hash, table, func(id uint64, per []V) {
		all[id] = append(all[id], per...)
		c.inHash[id] = true
	})
	readPerCPU(c, slots, table+" slots", func(idx uint32, per []S) {
		for i := range per {
			owner, v := split(&per[i])
			if owner == 0 || owner == probes.SlotTaking {
				continue
			}
			all[owner] = append(all[owner], *v)
			if !slices.Contains(c.slotsOf[owner], idx) {
				c.slotsOf[owner] = append(c.slotsOf[owner], idx)
			}
		}
	})
	for id, per := range all {
		fn(id, per)
	}
}

// readPerCPU calls fn with every entry of a per-CPU map: the key and one value
// per CPU. An iteration that ends early (entries deleted meanwhile) is logged;
// what was read is still used.
func readPerCPU[K, V any](c *collector, m *ebpf.Map, table string, fn func(key K, perCPU []V)) {
	if m == nil {
		return // not created: no loaded program uses it (e.g. no slot tables in the compat object)
	}
	var key K
	var per []V
	it := m.Iterate()
	for it.Next(&key, &per) {
		fn(key, per)
	}
	if err := it.Err(); err != nil {
		c.logger.Warn("reading eBPF map incomplete", zap.String("table", table), zap.Error(err))
	}
}

// peerAddr converts an address of a BPF struct (IPv4 in the first 4 bytes) to netip.
func peerAddr(family uint16, b [16]uint8) netip.Addr {
	if family == afInet {
		return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	}
	return netip.AddrFrom16(b)
}

const (
	afInet  = 2
	afInet6 = 10
)
