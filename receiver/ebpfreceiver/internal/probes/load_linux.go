//go:build linux

package probes

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// SlotTaking is the owner of a slot while it is zeroed for a new owner (SLOT_TAKING).
const SlotTaking = ^uint64(1)

// OverflowCgroupID is the key that collects data of cgroups beyond the map capacity.
const OverflowCgroupID = ^uint64(0)

// Indexes of the overflow counter array, as enum overflow_kind in bpf/common.bpf.h.
const (
	OverflowTCP = iota
	OverflowTCPPeer
	OverflowSched
	OverflowMemory
	OverflowTasks
	OverflowSockets
	OverflowExiting
	OverflowReclaiming
	OverflowNested
	OverflowSwitchUntracked
	OverflowTCPEdges
	OverflowKinds
)

// Event types, as enum event_type in bpf/common.bpf.h.
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
	// TCPEdges loads the per-edge programs (bpf/tcp_edges.bpf.h); TCPMaxEdges caps the edge table.
	TCPEdges    bool
	TCPMaxEdges uint32
	MaxCgroups  uint32
	// SlotsPerCPU sizes the per-CPU slot tables in front of the per-cgroup
	// hashes (bpf/common.bpf.h); rounded up to a power of two >= 2. 0 picks
	// DefaultSlotsPerCPU, capped by MaxCgroups.
	SlotsPerCPU    uint32
	RingBufferSize uint32
	// RunQueueFromSchedInfo reads run-queue wait starts from the kernel's
	// task->sched_info instead of timestamping wakeups (the wakeup programs
	// are then not loaded). Ignored, see Set.RunQueueFromSchedInfo, when the
	// kernel lacks CONFIG_SCHED_INFO or CONFIG_FAIR_GROUP_SCHED.
	RunQueueFromSchedInfo bool
	// Logs makes the programs send exec/exit/OOM/reset events; without it only
	// metrics (and spans when TCPSpans) are produced.
	Logs bool

	// Test seams, so the host's test run also exercises what older kernels
	// need: Compat loads the compat object whatever the kernel supports, and
	// Variants picks the named object program for a logical program instead
	// of the one the kernel's prototype selects.
	Compat   bool
	Variants map[ProgramName]string
}

// Set is a loaded and attached set of programs with their maps. A map that no
// loaded program uses is not created: its field is nil.
type Set struct {
	maps  map[string]*ebpf.Map
	progs []*ebpf.Program
	links []link.Link

	// Programs are the attached programs: the chosen variant of each logical
	// program by its logical name, companions by their own name.
	Programs map[string]*ebpf.Program
	// Variants names the object program chosen for each attached logical program.
	Variants map[ProgramName]string
	// Failed are the enabled logical programs that this kernel could not
	// load or attach, with the reason. Their signals run without them.
	Failed []ProgramError
	// KernelRelease is the running kernel's release (uname -r), for messages.
	KernelRelease string

	SchedStats   *ebpf.Map
	TCPStats     *ebpf.Map
	TCPPeerStats *ebpf.Map
	MemoryStats  *ebpf.Map
	// Per-CPU slot tables in front of the stats hashes and the slots' release
	// marks (bpf/common.bpf.h: stats_for); nil in the Compat object.
	SchedSlots, TCPSlots, MemorySlots *ebpf.Map
	ReleasedSlots                     *ebpf.Map
	Overflow                          *ebpf.Map
	RingDrops                         *ebpf.Map
	Events                            *ebpf.Map
	// TCPEdges is the edge table (nil without Options.TCPEdges); edgeIter
	// the attached iterator that brings live connections' bytes into it.
	TCPEdges *ebpf.Map
	edgeIter *link.Iter

	// RunQueueFromSchedInfo tells whether Options.RunQueueFromSchedInfo took
	// effect (false: the kernel has no task_struct.sched_info).
	RunQueueFromSchedInfo bool
	// Compat tells that the object for kernels without BPF atomics was
	// loaded: no slot tables, hash maps instead of task and socket storage.
	Compat bool
	// ResetsWithoutSocket tells whether this kernel's tcp_send_reset fires
	// for a RST sent without a socket (Linux >= 6.10); before, such resets
	// are not seen at all.
	ResetsWithoutSocket bool
}

// Maps returns the created maps by name.
func (s *Set) Maps() map[string]*ebpf.Map { return s.maps }

// ProgramError is a logical program that could not be loaded or attached.
type ProgramError struct {
	Program Program
	Err     error
}

func (e ProgramError) Error() string {
	return fmt.Sprintf("program %s (tracepoint %s): %v", e.Program.Name, e.Program.Tracepoint, e.Err)
}

func (e ProgramError) Unwrap() error { return e.Err }

// Load checks the prerequisites, loads the programs of the enabled signals in
// the variants this kernel needs and attaches them. A program that fails is
// reported in Set.Failed and the others run; Load fails when an enabled
// signal has no program left, or when the maps cannot be created. Every error
// names its cause and the fix; nothing is left in the kernel on error.
func Load(o Options) (*Set, error) {
	if err := checkPrerequisites(o); err != nil {
		return nil, err
	}
	k, err := inspectKernel()
	if err != nil {
		return nil, err
	}
	if o.Compat {
		k.atomics = false
	}
	obj, err := loadObjectSpecs(!k.atomics)
	if err != nil {
		return nil, err
	}
	enabled := map[Signal]bool{SignalTCP: o.TCP, SignalScheduler: o.Scheduler, SignalMemory: o.Memory,
		SignalTCPEdges: o.TCP && o.TCPEdges}
	schedInfo := o.Scheduler && o.RunQueueFromSchedInfo && k.hasSchedInfo()
	s := &Set{
		Programs: map[string]*ebpf.Program{}, Variants: map[ProgramName]string{}, KernelRelease: k.release,
		RunQueueFromSchedInfo: schedInfo, Compat: !k.atomics, ResetsWithoutSocket: k.tracesResetsWithoutSocket(),
	}
	plan := s.plan(k, obj, o, enabled)
	if err := configure(obj, o, schedInfo); err != nil {
		return nil, err
	}
	if err := s.createMaps(obj.all, plan.specs()); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.assignMaps(obj); err != nil {
		_ = s.Close()
		return nil, err
	}
	for _, pl := range plan {
		if err := s.loadAndAttach(pl.prog, pl.v); err != nil {
			s.Failed = append(s.Failed, ProgramError{pl.prog, err})
		}
	}
	if err := s.checkSignals(enabled); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// checkPrerequisites fails, with the fix, when this host or o cannot work:
// no kernel BTF, missing capabilities, no signal enabled.
func checkPrerequisites(o Options) error {
	if _, statErr := os.Stat("/sys/kernel/btf/vmlinux"); statErr != nil {
		return fmt.Errorf("kernel BTF not available (%v): the eBPF receiver needs a kernel built with "+
			"CONFIG_DEBUG_INFO_BTF=y (exposed at /sys/kernel/btf/vmlinux; default on current distribution kernels); "+
			"disable the ebpf receiver on this host or upgrade the kernel", statErr)
	}
	if err := checkCapabilities(); err != nil {
		return err
	}
	// Kernels before 5.11 account BPF memory against RLIMIT_MEMLOCK.
	if rlErr := rlimit.RemoveMemlock(); rlErr != nil && !errors.Is(rlErr, unix.EPERM) {
		return fmt.Errorf("raising RLIMIT_MEMLOCK for BPF maps: %w", rlErr)
	}
	if !o.TCP && !o.Scheduler && !o.Memory {
		return errors.New("no signal enabled: enable at least one of tcp, scheduler, memory")
	}
	return nil
}

// objectSpecs is the typed view of the BPF object Load picked. The two
// objects are compiled from the same sources (gen.go) and share every
// program, map and variable but the compat object's own: the Probes bindings
// name the shared ones for either object, the Compat bindings the rest. So a
// renamed program, map or variable breaks the build, not a load.
type objectSpecs struct {
	all *ebpf.CollectionSpec
	ProbesSpecs
	// compat: programs only the compat object has; nil fields in the other.
	compat CompatProgramSpecs
}

// loadObjectSpecs parses the embedded object: the compat one when compat.
func loadObjectSpecs(compat bool) (*objectSpecs, error) {
	load := LoadProbes
	if compat {
		load = LoadCompat
	}
	spec, err := load()
	if err != nil {
		return nil, err
	}
	o := &objectSpecs{all: spec}
	if err := spec.Assign(&o.ProbesSpecs); err != nil {
		return nil, fmt.Errorf("BPF object does not match its bindings (run make generate): %w", err)
	}
	if compat {
		if err := spec.Assign(&o.compat); err != nil {
			return nil, fmt.Errorf("compat BPF object does not match its bindings (run make generate): %w", err)
		}
	}
	return o, nil
}

// planned is an enabled logical program with the variant this kernel gets.
type planned struct {
	prog Program
	v    variant
}

type loadPlan []planned

// specs are the object programs the plan loads: variants and companions.
func (p loadPlan) specs() []*ebpf.ProgramSpec {
	var specs []*ebpf.ProgramSpec
	for _, pl := range p {
		specs = append(append(specs, pl.v.prog), pl.v.companions...)
	}
	return specs
}

// plan chooses the variant of each enabled program; a program without a
// variant for this kernel goes to s.Failed.
func (s *Set) plan(k *kernel, obj *objectSpecs, o Options, enabled map[Signal]bool) loadPlan {
	var plan loadPlan
	for _, p := range Programs {
		if !enabled[p.Signal] || (s.RunQueueFromSchedInfo && wakeupPrograms[p.Name]) || (p.compatOnly && !s.Compat) {
			continue
		}
		v, err := k.chooseVariant(p, obj, o.Variants[p.Name])
		if err != nil {
			s.Failed = append(s.Failed, ProgramError{p, err})
			continue
		}
		plan = append(plan, planned{p, v})
	}
	return plan
}

// configure sizes the maps and sets the BPF side's constants from o.
func configure(obj *objectSpecs, o Options, schedInfo bool) error {
	for _, m := range []*ebpf.MapSpec{obj.SchedStatsMap, obj.TcpStatsMap, obj.MemoryStatsMap} {
		m.MaxEntries = o.MaxCgroups + 1 // + the overflow entry
	}
	slots := o.slotsPerCPU()
	for _, m := range []*ebpf.MapSpec{obj.SchedSlots, obj.TcpSlots, obj.MemorySlots, obj.ReleasedSlots} {
		m.MaxEntries = slots
	}
	obj.TcpPeerStatsMap.MaxEntries = max(o.TCPPeerMaxSeries, 1)
	obj.TcpEdges.MaxEntries = max(o.TCPMaxEdges, 1) + 1 // + the overflow edge
	obj.Events.MaxEntries = o.RingBufferSize
	for _, c := range []struct {
		v     *ebpf.VariableSpec
		value any
	}{
		{obj.SlotMask, slots - 1},
		{obj.RunqFromSchedInfo, schedInfo},
		{obj.TcpSpansEnabled, o.TCPSpans},
		{obj.TcpPerPeerEnabled, o.TCPPerPeer},
		{obj.LogsEnabled, o.Logs},
	} {
		if err := c.v.Set(c.value); err != nil {
			return fmt.Errorf("setting %s: %w", c.v.Type().Name, err)
		}
	}
	return nil
}

// createMaps creates the maps of spec that progs use; a map no loaded
// program uses is not created.
func (s *Set) createMaps(spec *ebpf.CollectionSpec, progs []*ebpf.ProgramSpec) error {
	used := map[string]bool{}
	for _, p := range progs {
		for _, ins := range p.Instructions {
			if ins.IsLoadFromMap() && ins.Reference() != "" {
				used[ins.Reference()] = true
			}
		}
	}
	s.maps = map[string]*ebpf.Map{}
	for name, ms := range spec.Maps {
		if !used[name] {
			continue
		}
		m, err := ebpf.NewMap(ms)
		if err != nil {
			return explainMapError(ms, err)
		}
		s.maps[name] = m
	}
	return nil
}

// assignMaps fills the Set's map fields from the created maps, and creates
// the overflow entries, which must exist before any program can need them.
func (s *Set) assignMaps(obj *objectSpecs) error {
	created := func(ms *ebpf.MapSpec) *ebpf.Map { return s.maps[ms.Name] }
	s.SchedStats, s.TCPStats, s.TCPPeerStats = created(obj.SchedStatsMap), created(obj.TcpStatsMap), created(obj.TcpPeerStatsMap)
	s.MemoryStats = created(obj.MemoryStatsMap)
	s.SchedSlots, s.TCPSlots, s.MemorySlots = created(obj.SchedSlots), created(obj.TcpSlots), created(obj.MemorySlots)
	s.ReleasedSlots, s.Overflow = created(obj.ReleasedSlots), created(obj.Overflow)
	s.RingDrops, s.Events = created(obj.RingbufDrops), created(obj.Events)
	s.TCPEdges = created(obj.TcpEdges)

	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	for _, m := range []struct {
		m    *ebpf.Map
		zero any
	}{
		{s.SchedStats, make([]ProbesSchedStats, ncpu)},
		{s.TCPStats, make([]ProbesTcpStats, ncpu)},
		{s.MemoryStats, make([]ProbesMemoryStats, ncpu)},
	} {
		if m.m == nil {
			continue
		}
		if err := m.m.Update(OverflowCgroupID, m.zero, ebpf.UpdateNoExist); err != nil {
			return fmt.Errorf("creating overflow entry in %s: %w", m.m, err)
		}
	}
	if s.TCPEdges != nil {
		if err := s.TCPEdges.Update(OverflowEdge, ProbesTcpEdgeStats{}, ebpf.UpdateNoExist); err != nil {
			return fmt.Errorf("creating the overflow edge: %w", err)
		}
	}
	return nil
}

// loadAndAttach loads variant v of p with its companions and attaches them,
// companions first; on error nothing of them stays loaded.
func (s *Set) loadAndAttach(p Program, v variant) (err error) {
	var progs []*ebpf.Program
	var links []link.Link
	defer func() {
		if err != nil {
			for _, l := range links {
				_ = l.Close()
			}
			for _, pr := range progs {
				_ = pr.Close()
			}
		}
	}()
	specs := append(slices.Clone(v.companions), v.prog)
	for _, spec := range specs {
		ps := spec.Copy()
		for i := range ps.Instructions {
			ins := &ps.Instructions[i]
			if !ins.IsLoadFromMap() || ins.Reference() == "" {
				continue
			}
			if err := ins.AssociateMap(s.maps[ins.Reference()]); err != nil {
				return fmt.Errorf("%s: map %s: %w", ps.Name, ins.Reference(), err)
			}
		}
		prog, err := ebpf.NewProgram(ps)
		if err != nil {
			return explainLoadError(fmt.Errorf("loading %s: %w", ps.Name, err))
		}
		progs = append(progs, prog)
		if p.iterator {
			it, err := link.AttachIter(link.IterOptions{Program: prog})
			if err != nil {
				return explainLoadError(fmt.Errorf("attaching iterator %s: %w", ps.Name, err))
			}
			links = append(links, it)
			s.edgeIter = it
			continue
		}
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return explainLoadError(fmt.Errorf("attaching %s to %s: %w", ps.Name, ps.AttachTo, err))
		}
		links = append(links, l)
	}
	s.progs = append(s.progs, progs...)
	s.links = append(s.links, links...)
	for i, spec := range specs {
		name := spec.Name
		if spec == v.prog {
			name = string(p.Name)
		}
		s.Programs[name] = progs[i]
	}
	s.Variants[p.Name] = v.name()
	return nil
}

// checkSignals fails when an enabled signal has no program attached: the
// signal could produce nothing.
func (s *Set) checkSignals(enabled map[Signal]bool) error {
	var errs []error
	for _, sig := range []Signal{SignalTCP, SignalScheduler, SignalMemory} {
		if !enabled[sig] {
			continue
		}
		attached := false
		var failed []error
		for _, p := range Programs {
			if p.Signal != sig {
				continue
			}
			if _, ok := s.Variants[p.Name]; ok {
				attached = true
			}
		}
		for _, f := range s.Failed {
			if f.Program.Signal == sig {
				failed = append(failed, f)
			}
		}
		if !attached {
			errs = append(errs, fmt.Errorf("signal %s: none of its programs runs on kernel %s (disable %s.enabled "+
				"or use a supported kernel): %w", sig, s.KernelRelease, sig, errors.Join(failed...)))
		}
	}
	return errors.Join(errs...)
}

// Close detaches every program and closes all maps and programs.
func (s *Set) Close() error {
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	s.links = nil
	s.edgeIter = nil
	for _, p := range s.progs {
		errs = append(errs, p.Close())
	}
	s.progs = nil
	for _, m := range s.maps {
		errs = append(errs, m.Close())
	}
	s.maps = nil
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
		cause := "kernel too old or built without a needed feature"
		if logMentions(ve.Log, "-th argument") {
			// "func 'sched_process_exit' doesn't have 2-th argument"
			cause = "this kernel's tracepoint has another signature than the program reads; " +
				"report the kernel release so a variant can be added"
		}
		return fmt.Errorf("%w: the kernel's BPF verifier rejected it (%s)\nverifier log (last %d lines):\n%s",
			err, cause, len(lines), strings.Join(lines, "\n"))
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("permission denied loading BPF programs (%w): the collector needs the "+
			"capabilities CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8) or must run as root. "+
			"In Kubernetes add to the container: securityContext: {capabilities: {add: [\"BPF\", \"PERFMON\"]}} "+
			"(or privileged: true); with systemd set AmbientCapabilities=CAP_BPF CAP_PERFMON", err)
	}
	return err
}

func logMentions(log []string, s string) bool {
	return slices.ContainsFunc(log, func(l string) bool { return strings.Contains(l, s) })
}

// explainMapError names the cause of a failed map creation.
func explainMapError(ms *ebpf.MapSpec, err error) error {
	switch {
	case errors.Is(err, unix.EINVAL) && ms.Type == ebpf.TaskStorage:
		return fmt.Errorf("creating map %s: %w: kernel < 5.11 has no task storage; the receiver loads its "+
			"compat object there, so this kernel reports BPF atomics but no task storage (a backport?): "+
			"report the kernel release", ms.Name, err)
	case errors.Is(err, unix.EINVAL) && ms.Type == ebpf.SkStorage:
		return fmt.Errorf("creating map %s: %w: kernel < 5.2 has no socket storage: use Linux >= 5.10", ms.Name, err)
	}
	return explainLoadError(fmt.Errorf("creating map %s: %w", ms.Name, err))
}
