//go:build linux

package probes

// Signal is one of the receiver's signals; each has its own programs.
type Signal string

// The receiver's signals.
const (
	SignalTCP       Signal = "tcp"
	SignalScheduler Signal = "scheduler"
	SignalMemory    Signal = "memory"
	// SignalTCPEdges is the optional per-peer breakdown of TCP (tcp.edges, bpf/tcp_edges.h).
	SignalTCPEdges Signal = "tcp_edges"
)

// ProgramName names a logical program: what the receiver attaches to one
// tracepoint, whichever variant this kernel needed. It is the name of the
// variant for current kernels.
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
	// variants, preferred first; the loader takes the first whose arguments
	// match the kernel's tracepoint prototype.
	variants []variant
	// compatOnly: the program exists in the compat object only.
	compatOnly bool
	// iterator: a BPF iterator program, attached as such (Tracepoint only
	// names what it walks) and run by user space, see Set.FlushEdges.
	iterator bool
}

// variant is one program of the BPF object implementing a logical program.
type variant struct {
	elf string
	// args are the tracepoint arguments the variant reads, spelled like
	// typeName spells the kernel's BTF types (as in the C prototype, without
	// const). nil: the variant fits every kernel with the tracepoint.
	args []string
	// companions are programs loaded and attached with the variant, which
	// it needs to work (their own tracepoints never changed prototype).
	companions []string
}

func only(p ProgramName) []variant { return []variant{{elf: string(p)}} }

// Programs lists every logical program, per signal in attach order.
var Programs = []Program{
	{Name: ProgInetSockSetState, Tracepoint: "inet_sock_set_state", Signal: SignalTCP, variants: only(ProgInetSockSetState)},
	{Name: ProgTCPRetransmitSkb, Tracepoint: "tcp_retransmit_skb", Signal: SignalTCP, variants: only(ProgTCPRetransmitSkb)},
	{Name: ProgTCPSendReset, Tracepoint: "tcp_send_reset", Signal: SignalTCP, variants: only(ProgTCPSendReset)},
	{Name: ProgTCPReceiveReset, Tracepoint: "tcp_receive_reset", Signal: SignalTCP, variants: only(ProgTCPReceiveReset)},
	{Name: ProgTCPEdgeState, Tracepoint: "inet_sock_set_state", Signal: SignalTCPEdges, variants: only(ProgTCPEdgeState)},
	{Name: ProgTCPEdgeIter, Tracepoint: "iter/task_file", Signal: SignalTCPEdges, variants: only(ProgTCPEdgeIter),
		iterator: true},

	{Name: ProgSchedWakeup, Tracepoint: "sched_wakeup", Signal: SignalScheduler, variants: only(ProgSchedWakeup)},
	{Name: ProgSchedWakeupNew, Tracepoint: "sched_wakeup_new", Signal: SignalScheduler, variants: only(ProgSchedWakeupNew)},
	{Name: ProgSchedSwitch, Tracepoint: "sched_switch", Signal: SignalScheduler, variants: []variant{
		{elf: "handle_sched_switch", args: []string{"bool", "struct task_struct *", "struct task_struct *", "unsigned int"}},
		// Before 5.18: no prev_state argument.
		{elf: "handle_sched_switch_task_state", args: []string{"bool", "struct task_struct *", "struct task_struct *"}},
	}},
	{Name: ProgSchedProcessFork, Tracepoint: "sched_process_fork", Signal: SignalScheduler, variants: only(ProgSchedProcessFork)},
	{Name: ProgSchedProcessExec, Tracepoint: "sched_process_exec", Signal: SignalScheduler, variants: only(ProgSchedProcessExec)},
	// Compat object: creates the scheduler entries that sched_switch may not (bpf/sched.h).
	{Name: ProgHrtimerExpiry, Tracepoint: "hrtimer_expire_entry", Signal: SignalScheduler, variants: only(ProgHrtimerExpiry),
		compatOnly: true},
	{Name: ProgSchedProcessExit, Tracepoint: "sched_process_exit", Signal: SignalScheduler, variants: []variant{
		{elf: "handle_sched_process_exit", args: []string{"struct task_struct *", "bool"}},
		// Before 6.16: no group_dead argument.
		{elf: "handle_sched_process_exit_live", args: []string{"struct task_struct *"}, companions: []string{"handle_sched_process_free"}},
	}},

	{Name: ProgMmPageAlloc, Tracepoint: "mm_page_alloc", Signal: SignalMemory, variants: only(ProgMmPageAlloc)},
	{Name: ProgMmPageAllocExtfrag, Tracepoint: "mm_page_alloc_extfrag", Signal: SignalMemory, variants: only(ProgMmPageAllocExtfrag)},
	{Name: ProgDirectReclaimBegin, Tracepoint: "mm_vmscan_direct_reclaim_begin", Signal: SignalMemory, variants: only(ProgDirectReclaimBegin)},
	{Name: ProgDirectReclaimEnd, Tracepoint: "mm_vmscan_direct_reclaim_end", Signal: SignalMemory, variants: only(ProgDirectReclaimEnd)},
	{Name: ProgMarkVictim, Tracepoint: "mark_victim", Signal: SignalMemory, variants: []variant{
		{elf: "handle_mark_victim", args: []string{"struct task_struct *"}},
		// 5.10, and 6.1 before the (task, uid) prototype was backported: the victim's thread id only.
		{elf: "handle_mark_victim_pid", args: []string{"int"}, companions: []string{"handle_signal_generate"}},
	}},
}

// wakeupPrograms only timestamp wakeups for the run-queue latency.
var wakeupPrograms = map[ProgramName]bool{ProgSchedWakeup: true, ProgSchedWakeupNew: true}
