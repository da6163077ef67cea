//go:build linux

package ebpfreceiver // import "github.com/otelcol-custom/otelcol-custom/receiver/ebpfreceiver"

import (
	"context"
	"slices"
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

// mapReader reads the per-cgroup BPF maps every collection interval and
// emits their values as cumulative metrics.
type mapReader struct {
	cfg     *Config
	p       *probes.Set
	attrs   *resourceAttrs
	matcher *cgroupMatcher
	next    consumer.Metrics
	logger  *zap.Logger
	version string

	disabled    map[string]bool      // metrics switched off in the configuration
	firstSeen   seriesStarts[uint64] // start timestamp of each cgroup's series
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

	// edgeStarts and edgeActivity follow each edge of the kernel's edge table
	// from its first reading to its deletion (edges_linux.go); edgesExpired
	// counts the idle edges deleted.
	edgeStarts   seriesStarts[probes.ProbesTcpEdgeKey]
	edgeActivity map[probes.ProbesTcpEdgeKey]edgeActivity
	edgesExpired atomic.Int64
}

func newMapReader(cfg *Config, p *probes.Set, attrs *resourceAttrs, m *cgroupMatcher, next consumer.Metrics, logger *zap.Logger) *mapReader {
	return &mapReader{cfg: cfg, p: p, attrs: attrs, matcher: m, next: next, logger: logger, disabled: disabledMetrics(cfg.Metrics),
		firstSeen: seriesStarts[uint64]{}, edgeStarts: seriesStarts[probes.ProbesTcpEdgeKey]{},
		edgeActivity: map[probes.ProbesTcpEdgeKey]edgeActivity{}, unresolved: map[uint64]int{}, retired: map[uint64]bool{}}
}

func (r *mapReader) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			md := r.collect()
			if md.ResourceMetrics().Len() == 0 {
				continue
			}
			if err := r.next.ConsumeMetrics(ctx, md); err != nil {
				r.logger.Warn("the next consumer rejected eBPF metrics", zap.Error(err))
			}
		}
	}
}

// metricsBatch is one collection: data points grouped by cgroup into
// resources, and the cgroup ids its tables held.
type metricsBatch struct {
	r   *mapReader
	md  pmetric.Metrics
	at  time.Time // when the collection began, with the monotonic clock reading for durations
	now pcommon.Timestamp
	res map[uint64]*resourceMetrics
	// seen and retiredSeen are the live and the retired ids found.
	seen, retiredSeen map[uint64]bool
}

// include records that id was found and tells whether its data is emitted:
// not when it is retired, nor when the cgroup filter excludes it.
func (b *metricsBatch) include(id uint64) bool {
	if certain, ok := b.r.retired[id]; ok {
		if certain || !b.r.alive(id) {
			b.retiredSeen[id] = true
			return false
		}
		delete(b.r.retired, id) // alive after all: a new series from now on
	}
	b.seen[id] = true
	return b.r.attrs.included(b.r.matcher, id)
}

func (b *metricsBatch) forCgroup(id uint64) *resourceMetrics {
	if r, ok := b.res[id]; ok {
		return r
	}
	start := b.r.firstSeen.of(id, b.now)
	rm := b.md.ResourceMetrics().AppendEmpty()
	b.r.attrs.fill(rm.Resource(), id)
	r := newResourceMetrics(rm, metadata.ScopeName, b.r.version, b.r.cfg.Histogram, b.r.disabled, start, b.now)
	b.res[id] = r
	return r
}

// collect reads all maps once. It never fails: unreadable entries are skipped
// and logged. Each signal's values become metrics in its own function
// (signal_metrics_linux.go).
func (r *mapReader) collect() pmetric.Metrics {
	at := time.Now()
	b := &metricsBatch{r: r, md: pmetric.NewMetrics(), at: at, now: pcommon.NewTimestampFromTime(at),
		res: map[uint64]*resourceMetrics{}, seen: map[uint64]bool{}, retiredSeen: map[uint64]bool{}}
	r.slotsOf, r.inHash = map[uint64][]uint32{}, map[uint64]bool{}

	if r.cfg.Scheduler.Enabled {
		forEachCgroup(r, r.p.SchedStats, r.p.SchedSlots, "scheduler", schedSlot, b.addScheduler)
	}
	if r.cfg.TCP.Enabled {
		forEachCgroup(r, r.p.TCPStats, r.p.TCPSlots, "tcp", tcpSlot, b.addTCP)
		if r.cfg.TCP.PerPeer.Enabled {
			readPerCPU(r, r.p.TCPPeerStats, "tcp_peer", b.addTCPPeer)
		}
		if r.cfg.TCP.Edges.Enabled {
			b.addEdges()
		}
	}
	if r.cfg.Memory.Enabled {
		forEachCgroup(r, r.p.MemoryStats, r.p.MemorySlots, "memory", memorySlot, b.addMemory)
	}

	r.cgroupCount.Store(int64(len(b.seen)))
	r.removeDeadCgroups(b.seen)
	for id := range b.seen {
		b.retiredSeen[id] = true // just retired ones among them
	}
	r.retire(b.retiredSeen)
	return b.md
}

// removeDeadCgroups retires the cgroups that no longer exist, after their last
// values were emitted (see retire), so max_cgroups counts live cgroups.
func (r *mapReader) removeDeadCgroups(seen map[uint64]bool) {
	var dead []uint64
	certain := map[uint64]bool{}
	for id := range seen {
		if id == 0 || id == probes.OverflowCgroupID {
			continue
		}
		path, ok := r.attrs.cgroupPath(id)
		switch {
		case ok && r.attrs.resolver.Exists(id, path):
			delete(r.unresolved, id)
		case ok || r.attrs.resolver.Gone(id):
			dead = append(dead, id) // directory gone, or the kernel knows no such cgroup
			certain[id] = true
		default:
			// Undecidable without file handles: give the rate-limited walk a few rounds.
			if r.unresolved[id]++; r.unresolved[id] >= unresolvedRounds {
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
		r.retired[id] = certain[id]
		r.firstSeen.forget(id)
		delete(r.unresolved, id)
		r.attrs.forget(id)
	}
	if r.cfg.TCP.Edges.Enabled {
		r.deleteEdges(isDead)
	}
	if r.cfg.TCP.PerPeer.Enabled {
		var keys []probes.ProbesTcpPeerKey
		readPerCPU(r, r.p.TCPPeerStats, "tcp_peer", func(key probes.ProbesTcpPeerKey, _ []probes.ProbesTcpPeerStats) {
			if isDead[key.CgroupId] {
				keys = append(keys, key)
			}
		})
		for _, k := range keys {
			_ = r.p.TCPPeerStats.Delete(k)
		}
	}
}

// alive reports whether the cgroup id resolves to an existing directory.
func (r *mapReader) alive(id uint64) bool {
	path, ok := r.attrs.cgroupPath(id)
	return ok && r.attrs.resolver.Exists(id, path)
}

// retire deletes the hash entries of retired cgroups and releases their
// slots; found are the ids this collection read from some table. Ids found
// nowhere are forgotten.
func (r *mapReader) retire(found map[uint64]bool) {
	released := map[uint32]bool{}
	for id := range r.retired {
		if !found[id] {
			delete(r.retired, id)
			continue
		}
		if r.inHash[id] {
			for _, m := range []*ebpf.Map{r.p.SchedStats, r.p.TCPStats, r.p.MemoryStats} {
				if m != nil {
					_ = m.Delete(id) // absent from some maps
				}
			}
		}
		// One owner per slot index can be released per collection; another
		// removed cgroup holding the same index elsewhere waits for the next.
		for _, idx := range r.slotsOf[id] {
			if released[idx] {
				continue
			}
			released[idx] = true
			if err := r.p.ReleasedSlots.Put(idx, id); err != nil {
				r.logger.Warn("releasing a slot of a removed cgroup", zap.Uint64("cgroup_id", id), zap.Error(err))
			}
		}
	}
}

// forEachCgroup calls fn with every cgroup's per-CPU values of one signal:
// those of its hash entry and of the slots it owns (bpf/common.bpf.h: stats_for).
// split returns a slot's owner and stats.
func forEachCgroup[S, V any](r *mapReader, hash, slots *ebpf.Map, table string, split func(*S) (uint64, *V), fn func(id uint64, per []V)) {
	all := map[uint64][]V{}
	readPerCPU(r, hash, table, func(id uint64, per []V) {
		all[id] = append(all[id], per...)
		r.inHash[id] = true
	})
	readPerCPU(r, slots, table+" slots", func(idx uint32, per []S) {
		for i := range per {
			owner, v := split(&per[i])
			if owner == 0 || owner == probes.SlotTaking {
				continue
			}
			all[owner] = append(all[owner], *v)
			if !slices.Contains(r.slotsOf[owner], idx) {
				r.slotsOf[owner] = append(r.slotsOf[owner], idx)
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
func readPerCPU[K, V any](r *mapReader, m *ebpf.Map, table string, fn func(key K, perCPU []V)) {
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
		r.logger.Warn("reading eBPF map incomplete", zap.String("table", table), zap.Error(err))
	}
}
