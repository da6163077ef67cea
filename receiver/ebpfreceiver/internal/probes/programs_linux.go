//go:build linux

package probes

import "github.com/cilium/ebpf"

// Signal is one of the receiver's signals; each has its own programs.
type Signal string

// The receiver's signals.
const (
	SignalTCP       Signal = "tcp"
	SignalScheduler Signal = "scheduler"
	SignalMemory    Signal = "memory"
	// SignalTCPEdges is the optional per-peer breakdown of TCP (tcp.edges, bpf/tcp_edges.bpf.h).
	SignalTCPEdges Signal = "tcp_edges"
)

// ProgramName names a logical program: what the receiver attaches to one
// tracepoint, whichever variant this kernel needed. It is the name of the
// variant for current kernels; it names the program in logs and telemetry
// and is never used to look a program up.
type ProgramName string

// The logical programs.
const (
	ProgInetSockSetState   ProgramName = "handle_inet_sock_set_state"
	ProgTCPRetransmitSkb   ProgramName = "handle_tcp_retransmit_skb"
	ProgTCPSendReset       ProgramName = "handle_tcp_send_reset"
	ProgTCPReceiveReset    ProgramName = "handle_tcp_receive_reset"
	ProgSchedWakeup        ProgramName = "handle_sched_wakeup"
	ProgSchedWakeupNew     ProgramName = "handle_sched_wakeup_new"
	ProgSchedSwitch        ProgramName = "handle_sched_switch"
	ProgSchedProcessFork   ProgramName = "handle_sched_process_fork"
	ProgSchedProcessExec   ProgramName = "handle_sched_process_exec"
	ProgSchedProcessExit   ProgramName = "handle_sched_process_exit"
	ProgMmPageAlloc        ProgramName = "handle_mm_page_alloc"
	ProgMmPageAllocExtfrag ProgramName = "handle_mm_page_alloc_extfrag"
	ProgDirectReclaimBegin ProgramName = "handle_direct_reclaim_begin"
	ProgDirectReclaimEnd   ProgramName = "handle_direct_reclaim_end"
	ProgMarkVictim         ProgramName = "handle_mark_victim"
	ProgHrtimerExpiry      ProgramName = "handle_hrtimer_expire_entry"
	ProgTCPEdgeState       ProgramName = "handle_tcp_edge_state"
	ProgTCPEdgeIter        ProgramName = "iter_tcp_edge_conns"
)

// Program is a logical program with the variants it has in the BPF object.
type Program struct {
	Name       ProgramName
	Tracepoint string
	Signal     Signal
	// variants, preferred first, picked from the loaded object's typed specs;
	// the loader takes the first whose arguments match the kernel's
	// tracepoint prototype.
	variants func(*objectSpecs) []variant
	// compatOnly: the program exists in the compat object only.
	compatOnly bool
	// iterator: a BPF iterator program, attached as such (Tracepoint only
	// names what it walks) and run by user space, see Set.FlushEdges.
	iterator bool
}

// variant is one program of the BPF object implementing a logical program.
type variant struct {
	prog *ebpf.ProgramSpec
	// args are the tracepoint arguments the variant reads, spelled like
	// typeName spells the kernel's BTF types (as in the C prototype, without
	// const). nil: the variant fits every kernel with the tracepoint.
	args []string
	// companions are programs loaded and attached with the variant, which
	// it needs to work (their own tracepoints never changed prototype).
	companions []*ebpf.ProgramSpec
}

// name is the variant's program name in the object (what Set.Variants reports).
func (v variant) name() string { return v.prog.Name }

func only(p *ebpf.ProgramSpec) []variant { return []variant{{prog: p}} }

// Programs lists every logical program, per signal in attach order.
var Programs = []Program{
	{Name: ProgInetSockSetState, Tracepoint: "inet_sock_set_state", Signal: SignalTCP,
		variants: func(o *objectSpecs) []variant { return only(o.HandleInetSockSetState) }},
	{Name: ProgTCPRetransmitSkb, Tracepoint: "tcp_retransmit_skb", Signal: SignalTCP,
		variants: func(o *objectSpecs) []variant { return only(o.HandleTcpRetransmitSkb) }},
	{Name: ProgTCPSendReset, Tracepoint: "tcp_send_reset", Signal: SignalTCP,
		variants: func(o *objectSpecs) []variant { return only(o.HandleTcpSendReset) }},
	{Name: ProgTCPReceiveReset, Tracepoint: "tcp_receive_reset", Signal: SignalTCP,
		variants: func(o *objectSpecs) []variant { return only(o.HandleTcpReceiveReset) }},
	{Name: ProgTCPEdgeState, Tracepoint: "inet_sock_set_state", Signal: SignalTCPEdges,
		variants: func(o *objectSpecs) []variant { return only(o.HandleTcpEdgeState) }},
	{Name: ProgTCPEdgeIter, Tracepoint: "iter/task_file", Signal: SignalTCPEdges, iterator: true,
		variants: func(o *objectSpecs) []variant { return only(o.IterTcpEdgeConns) }},

	{Name: ProgSchedWakeup, Tracepoint: "sched_wakeup", Signal: SignalScheduler,
		variants: func(o *objectSpecs) []variant { return only(o.HandleSchedWakeup) }},
	{Name: ProgSchedWakeupNew, Tracepoint: "sched_wakeup_new", Signal: SignalScheduler,
		variants: func(o *objectSpecs) []variant { return only(o.HandleSchedWakeupNew) }},
	{Name: ProgSchedSwitch, Tracepoint: "sched_switch", Signal: SignalScheduler, variants: func(o *objectSpecs) []variant {
		return []variant{
			{prog: o.HandleSchedSwitch, args: []string{"bool", "struct task_struct *", "struct task_struct *", "unsigned int"}},
			// Before 5.18: no prev_state argument.
			{prog: o.HandleSchedSwitchTaskState, args: []string{"bool", "struct task_struct *", "struct task_struct *"}},
		}
	}},
	{Name: ProgSchedProcessFork, Tracepoint: "sched_process_fork", Signal: SignalScheduler,
		variants: func(o *objectSpecs) []variant { return only(o.HandleSchedProcessFork) }},
	{Name: ProgSchedProcessExec, Tracepoint: "sched_process_exec", Signal: SignalScheduler,
		variants: func(o *objectSpecs) []variant { return only(o.HandleSchedProcessExec) }},
	// Compat object: creates the scheduler entries that sched_switch may not (bpf/sched.bpf.h).
	{Name: ProgHrtimerExpiry, Tracepoint: "hrtimer_expire_entry", Signal: SignalScheduler,
		variants: func(o *objectSpecs) []variant { return only(o.compat.HandleHrtimerExpireEntry) }, compatOnly: true},
	{Name: ProgSchedProcessExit, Tracepoint: "sched_process_exit", Signal: SignalScheduler, variants: func(o *objectSpecs) []variant {
		return []variant{
			{prog: o.HandleSchedProcessExit, args: []string{"struct task_struct *", "bool"}},
			// Before 6.16: no group_dead argument.
			{prog: o.HandleSchedProcessExitLive, args: []string{"struct task_struct *"},
				companions: []*ebpf.ProgramSpec{o.HandleSchedProcessFree}},
		}
	}},

	{Name: ProgMmPageAlloc, Tracepoint: "mm_page_alloc", Signal: SignalMemory,
		variants: func(o *objectSpecs) []variant { return only(o.HandleMmPageAlloc) }},
	{Name: ProgMmPageAllocExtfrag, Tracepoint: "mm_page_alloc_extfrag", Signal: SignalMemory,
		variants: func(o *objectSpecs) []variant { return only(o.HandleMmPageAllocExtfrag) }},
	{Name: ProgDirectReclaimBegin, Tracepoint: "mm_vmscan_direct_reclaim_begin", Signal: SignalMemory,
		variants: func(o *objectSpecs) []variant { return only(o.HandleDirectReclaimBegin) }},
	{Name: ProgDirectReclaimEnd, Tracepoint: "mm_vmscan_direct_reclaim_end", Signal: SignalMemory,
		variants: func(o *objectSpecs) []variant { return only(o.HandleDirectReclaimEnd) }},
	{Name: ProgMarkVictim, Tracepoint: "mark_victim", Signal: SignalMemory, variants: func(o *objectSpecs) []variant {
		return []variant{
			{prog: o.HandleMarkVictim, args: []string{"struct task_struct *"}},
			// 5.10, and 6.1 before the (task, uid) prototype was backported: the victim's thread id only.
			{prog: o.HandleMarkVictimPid, args: []string{"int"}, companions: []*ebpf.ProgramSpec{o.HandleSignalGenerate}},
		}
	}},
}

// wakeupPrograms only timestamp wakeups for the run-queue latency.
var wakeupPrograms = map[ProgramName]bool{ProgSchedWakeup: true, ProgSchedWakeupNew: true}
