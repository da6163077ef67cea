//go:build linux

package probes

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// SlotTaking is the owner of a slot while it is zeroed for a new owner (SLOT_TAKING).
const SlotTaking = ^uint64(1)

// OverflowCgroupID is the key that collects data of cgroups beyond the map capacity.
const OverflowCgroupID = ^uint64(0)

// Indexes of the overflow counter array, as enum overflow_kind in bpf/common.h.
const (
	OverflowTCP = iota
	OverflowTCPPeer
	OverflowSched
	OverflowMemory
	OverflowKinds
)

// Event types, as enum event_type in bpf/common.h.
const (
	EventExec     = 1
	EventExit     = 2
	EventOOM      = 3
	EventTCPReset = 4
	EventTCPConn  = 5
)

// DefaultSlotsPerCPU is the slot table size per CPU and signal: enough for
// the cgroups that are busy on one CPU of a full Kubernetes node, at about
// 200 KiB per CPU for the three signals together.
const DefaultSlotsPerCPU = 128

// slotsPerCPU is the power of two the slot tables get for o.
func (o Options) slotsPerCPU() uint32 {
	n := o.SlotsPerCPU
	if n == 0 {
		n = min(DefaultSlotsPerCPU, o.MaxCgroups+1)
	}
	p := uint32(2) // a cgroup's two candidate slots are a pair
	for p < n && p < 1<<20 {
		p <<= 1
	}
	return p
}

// HistSlots is the number of log2 slots of a struct hist (HIST_SLOTS).
const HistSlots = len(ProbesHist{}.Slots)

// Options selects the programs to load and sizes the maps.
type Options struct {
	TCP, Scheduler, Memory bool
	TCPSpans               bool
	TCPPerPeer             bool
	TCPPeerMaxSeries       uint32
	MaxCgroups             uint32
	// SlotsPerCPU sizes the per-CPU slot tables in front of the per-cgroup
	// hashes (bpf/common.h); rounded up to a power of two >= 2. 0 picks
	// DefaultSlotsPerCPU, capped by MaxCgroups.
	SlotsPerCPU    uint32
	RingBufferSize uint32
	// RunQueueFromSchedInfo reads run-queue wait starts from the kernel's
	// task->sched_info instead of timestamping wakeups (the wakeup programs
	// are then not loaded). Ignored, see Set.RunQueueFromSchedInfo, when the
	// kernel lacks CONFIG_SCHED_INFO.
	RunQueueFromSchedInfo bool
	// Logs makes the programs send exec/exit/OOM/reset events; without it only
	// metrics (and spans when TCPSpans) are produced.
	Logs bool
}

// programsBySignal lists the programs of each signal, in attach order.
var programsBySignal = map[string][]string{
	"tcp": {
		"handle_inet_sock_set_state", "handle_tcp_retransmit_skb",
		"handle_tcp_send_reset", "handle_tcp_receive_reset",
	},
	"scheduler": {
		"handle_sched_wakeup", "handle_sched_wakeup_new", "handle_sched_switch",
		"handle_sched_process_fork", "handle_sched_process_exec", "handle_sched_process_exit",
	},
	"memory": {
		"handle_mm_page_alloc", "handle_mm_page_alloc_extfrag",
		"handle_direct_reclaim_begin", "handle_direct_reclaim_end", "handle_mark_victim",
	},
}

// wakeupPrograms only timestamp wakeups for the run-queue latency.
var wakeupPrograms = map[string]bool{"handle_sched_wakeup": true, "handle_sched_wakeup_new": true}

// kernelHasSchedInfo reports whether the running kernel's task_struct has
// sched_info (CONFIG_SCHED_INFO, set by CONFIG_SCHEDSTATS or
// CONFIG_TASK_DELAY_ACCT, which distribution kernels enable) and the programs
// can read the run queue clock its timestamps are in (task->se.cfs_rq->rq,
// CONFIG_FAIR_GROUP_SCHED; bpf/sched.h: task_rq_clock).
func kernelHasSchedInfo() bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	return structHas(spec, "task_struct", "sched_info") && structHas(spec, "sched_entity", "cfs_rq") &&
		structHas(spec, "cfs_rq", "rq")
}

// structHas reports whether the kernel's struct name has a member called member.
func structHas(spec *btf.Spec, name, member string) bool {
	var s *btf.Struct
	if err := spec.TypeByName(name, &s); err != nil {
		return false
	}
	for _, m := range s.Members {
		if m.Name == member {
			return true
		}
	}
	return false
}

// Set is a loaded and attached set of programs with their maps.
type Set struct {
	coll     *ebpf.Collection
	links    []link.Link
	Programs map[string]*ebpf.Program // attached programs by name

	SchedStats   *ebpf.Map
	TCPStats     *ebpf.Map
	TCPPeerStats *ebpf.Map
	MemoryStats  *ebpf.Map
	// Per-CPU slot tables in front of the stats hashes and the slots' release
	// marks (bpf/common.h: stats_for).
	SchedSlots, TCPSlots, MemorySlots *ebpf.Map
	ReleasedSlots                     *ebpf.Map
	Overflow                          *ebpf.Map
	RingDrops                         *ebpf.Map
	Events                            *ebpf.Map

	// RunQueueFromSchedInfo tells whether Options.RunQueueFromSchedInfo took
	// effect (false: the kernel has no task_struct.sched_info).
	RunQueueFromSchedInfo bool
}

// Load checks the prerequisites, loads the enabled programs and attaches them.
// Every error names its cause and the fix; nothing is left in the kernel on error.
func Load(o Options) (s *Set, err error) {
	if _, statErr := os.Stat("/sys/kernel/btf/vmlinux"); statErr != nil {
		return nil, fmt.Errorf("kernel BTF not available (%v): the eBPF receiver needs a kernel built with "+
			"CONFIG_DEBUG_INFO_BTF=y (exposed at /sys/kernel/btf/vmlinux; default on current distribution kernels); "+
			"disable the ebpf receiver on this host or upgrade the kernel", statErr)
	}
	if err := checkCapabilities(); err != nil {
		return nil, err
	}
	// Kernels before 5.11 account BPF memory against RLIMIT_MEMLOCK.
	if rlErr := rlimit.RemoveMemlock(); rlErr != nil && !errors.Is(rlErr, unix.EPERM) {
		return nil, fmt.Errorf("raising RLIMIT_MEMLOCK for BPF maps: %w", rlErr)
	}

	spec, err := LoadProbes()
	if err != nil {
		return nil, err
	}
	enabled := map[string]bool{"tcp": o.TCP, "scheduler": o.Scheduler, "memory": o.Memory}
	schedInfo := o.Scheduler && o.RunQueueFromSchedInfo && kernelHasSchedInfo()
	if err := spec.Variables["runq_from_sched_info"].Set(schedInfo); err != nil {
		return nil, err
	}
	var attach []string
	for signal, progs := range programsBySignal {
		for _, p := range progs {
			if enabled[signal] && !(schedInfo && wakeupPrograms[p]) {
				attach = append(attach, p)
			} else {
				delete(spec.Programs, p)
			}
		}
	}
	if len(attach) == 0 {
		return nil, errors.New("no signal enabled: enable at least one of tcp, scheduler, memory")
	}

	for _, name := range []string{"sched_stats_map", "tcp_stats_map", "memory_stats_map"} {
		spec.Maps[name].MaxEntries = o.MaxCgroups + 1 // + the overflow entry
	}
	slots := o.slotsPerCPU()
	for name, on := range map[string]bool{"sched_slots": o.Scheduler, "tcp_slots": o.TCP, "memory_slots": o.Memory} {
		spec.Maps[name].MaxEntries = 1 // a disabled signal's programs are not loaded
		if on {
			spec.Maps[name].MaxEntries = slots
		}
	}
	spec.Maps["released_slots"].MaxEntries = slots
	if err := spec.Variables["slot_mask"].Set(slots - 1); err != nil {
		return nil, err
	}
	spec.Maps["tcp_peer_stats_map"].MaxEntries = max(o.TCPPeerMaxSeries, 1)
	spec.Maps["events"].MaxEntries = o.RingBufferSize
	if err := spec.Variables["tcp_spans_enabled"].Set(o.TCPSpans); err != nil {
		return nil, err
	}
	if err := spec.Variables["tcp_per_peer_enabled"].Set(o.TCPPerPeer); err != nil {
		return nil, err
	}
	if err := spec.Variables["logs_enabled"].Set(o.Logs); err != nil {
		return nil, err
	}

	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{})
	if err != nil {
		return nil, explainLoadError(err)
	}
	s = &Set{
		coll:          coll,
		Programs:      map[string]*ebpf.Program{},
		SchedStats:    coll.Maps["sched_stats_map"],
		TCPStats:      coll.Maps["tcp_stats_map"],
		TCPPeerStats:  coll.Maps["tcp_peer_stats_map"],
		MemoryStats:   coll.Maps["memory_stats_map"],
		SchedSlots:    coll.Maps["sched_slots"],
		TCPSlots:      coll.Maps["tcp_slots"],
		MemorySlots:   coll.Maps["memory_slots"],
		ReleasedSlots: coll.Maps["released_slots"],

		RunQueueFromSchedInfo: schedInfo,
		Overflow:              coll.Maps["overflow"],
		RingDrops:             coll.Maps["ringbuf_drops"],
		Events:                coll.Maps["events"],
	}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()

	// The overflow entries must exist before any program can need them.
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	for _, m := range []struct {
		m    *ebpf.Map
		zero any
	}{
		{s.SchedStats, make([]ProbesSchedStats, ncpu)},
		{s.TCPStats, make([]ProbesTcpStats, ncpu)},
		{s.MemoryStats, make([]ProbesMemoryStats, ncpu)},
	} {
		if err := m.m.Update(OverflowCgroupID, m.zero, ebpf.UpdateNoExist); err != nil {
			return nil, fmt.Errorf("creating overflow entry in %s: %w", m.m, err)
		}
	}

	for _, name := range attach {
		prog := coll.Programs[name]
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return nil, fmt.Errorf("attaching %s (%s): %w", name, spec.Programs[name].AttachTo, explainLoadError(err))
		}
		s.links = append(s.links, l)
		s.Programs[name] = prog
	}
	return s, nil
}

// Close detaches every program and closes all maps and programs.
func (s *Set) Close() error {
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	s.links = nil
	if s.coll != nil {
		s.coll.Close()
		s.coll = nil
	}
	return errors.Join(errs...)
}

// Capability numbers from linux/capability.h.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// checkCapabilities fails early, with the fix, when the effective capability
// set cannot load tracing programs; the kernel's own errors for that case
// (EPERM or EINVAL depending on which map it creates first) are confusing.
func checkCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil // cannot tell: let the kernel decide
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capPerfmon)) {
		return nil
	}
	return explainLoadError(fmt.Errorf("effective capabilities lack CAP_BPF/CAP_PERFMON: %w", unix.EPERM))
}

// verifierLogTail is how many lines of a verifier log an error message keeps.
const verifierLogTail = 20

// explainLoadError turns kernel errors into messages that name cause and fix.
func explainLoadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		lines := ve.Log
		if len(lines) > verifierLogTail {
			lines = lines[len(lines)-verifierLogTail:]
		}
		return fmt.Errorf("the kernel's BPF verifier rejected a program of the eBPF receiver "+
			"(kernel too old or built without a needed feature; tp_btf, task and socket storage "+
			"need Linux >= 5.11, non-preallocated per-CPU maps in tracing programs Linux >= 6.1): %v\n"+
			"verifier log (last %d lines):\n%s", ve.Cause, len(lines), strings.Join(lines, "\n"))
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("permission denied loading BPF programs (%w): the collector needs the "+
			"capabilities CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8) or must run as root. "+
			"In Kubernetes add to the container: securityContext: {capabilities: {add: [\"BPF\", \"PERFMON\"]}} "+
			"(or privileged: true); with systemd set AmbientCapabilities=CAP_BPF CAP_PERFMON", err)
	}
	return err
}
