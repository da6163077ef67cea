/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Scheduler signal: run-queue latency, context switches, on-CPU time and
 * process lifecycle, aggregated per cgroup; exec/exit also as events.
 */
#pragma once

#include "common.bpf.h"

/* struct sched_stats, the per-cgroup value: cgroup_stats.h */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4097); /* max_cgroups + overflow entry, set by user space */
	__type(key, __u64);
	__type(value, struct sched_stats);
} sched_stats_map SEC(".maps");

/*
 * Timestamps come from the scheduler's own clock, rq->clock of the run queue
 * involved: the scheduler has just updated it (update_rq_clock) whenever
 * sched_switch or sched_wakeup* fires, so reading it is a plain load, while
 * bpf_ktime_get_ns() reads the clocksource again (on a KVM guest with
 * kvm-clock that read is the most expensive part of a scheduler program).
 * It is the clock the kernel's own run-delay accounting (schedstat) uses:
 * nanoseconds, consistent across CPUs as far as sched_clock is. Only
 * differences of it are used, never absolute times.
 */
static __always_inline __u64 task_rq_clock(struct task_struct *p)
{
	/*
	 * p's run queue through its fair-class entity (valid for tasks of every
	 * class): se.cfs_rq->rq needs CONFIG_FAIR_GROUP_SCHED. cilium/ebpf
	 * cannot load the per-CPU `runqueues` ksym, so this is the way to the rq
	 * without a helper call. Without the fields, every scheduler program
	 * falls back to bpf_ktime_get_ns(), so the clocks never mix.
	 */
	if (bpf_core_field_exists(p->se.cfs_rq) && bpf_core_field_exists(((struct cfs_rq *)0)->rq))
		return p->se.cfs_rq->rq->clock;
	return bpf_ktime_get_ns();
}

/* When a task became runnable and started waiting for a CPU. */
struct task_times {
	__u64 enqueued_ns; /* rq clock at wakeup or preemption; 0 = not queued */
};

#ifndef COMPAT_OBJECT
/* Task local storage: freed with the task, no size limit, no hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_times);
} task_times_map SEC(".maps");

static __always_inline struct task_times *task_times_get(struct task_struct *t, bool create)
{
	return bpf_task_storage_get(&task_times_map, t, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline void task_times_forget(struct task_struct *t)
{
	/* Task storage is freed with the task. */
}
#else
/*
 * Compat object: a hash keyed by thread id, bounded, entries deleted when the
 * thread exits. A thread id reused before its entry was deleted (a wakeup
 * after the exit tracepoint) overwrites the stale entry. Creations that find
 * the table full are counted. Preallocated: it is written with the run
 * queue's lock held, where these kernels' run-time allocation could recurse
 * into the scheduler (waking kswapd) and deadlock.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct task_times);
} task_times_map SEC(".maps");

static __always_inline struct task_times *task_times_get(struct task_struct *t, bool create)
{
	static const struct task_times zero;
	__u32 pid = t->pid;
	struct task_times *v = bpf_map_lookup_elem(&task_times_map, &pid);

	if (v || !create)
		return v;
	if (map_insert(&task_times_map, &pid, &zero) == -E2BIG)
		count_overflow(OVERFLOW_TASKS);
	return bpf_map_lookup_elem(&task_times_map, &pid);
}

static __always_inline void task_times_forget(struct task_struct *t)
{
	__u32 pid = t->pid;

	bpf_map_delete_elem(&task_times_map, &pid);
}
#endif

/*
 * Per-CPU scratch of sched_switch: which task this CPU switched in last and
 * when. The task switched out next on this CPU is that task, so its on-CPU
 * time needs no per-task storage lookup (an array lookup is a few
 * instructions once the verifier inlines it).
 */
struct cpu_oncpu {
	__u64 since_ns; /* rq clock when `pid` was switched in; 0 = unknown */
	__u32 pid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_oncpu);
} cpu_oncpu_map SEC(".maps");

struct sched_stats zero_sched_stats;

/* Per-CPU slots in front of sched_stats_map (see stats_for in common.bpf.h). */
struct sched_slot {
	__u64 owner; /* cgroup id */
	struct sched_stats stats;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 128); /* slot_mask + 1, set by user space */
	__type(key, __u32);
	__type(value, struct sched_slot);
} sched_slots SEC(".maps");

static __always_inline struct sched_stats *sched_stats_for(__u64 cgroup_id)
{
	return stats_for(&sched_slots, &sched_stats_map, cgroup_id, &zero_sched_stats, sizeof(struct sched_stats), OVERFLOW_SCHED);
}

#ifdef COMPAT_OBJECT
/*
 * The stats of a cgroup for sched_switch, which runs with the run queue
 * locked. The compat object's kernels allocate a new map element right there,
 * and the allocation can wake kswapd or a kworker onto this very run queue: a
 * deadlock. So the switch only looks its cgroup up. Entries are created by
 * fork, exec, exit and, for tasks that do none of these, by a timer interrupt
 * that finds the running task's cgroup without one
 * (handle_hrtimer_expire_entry); switches before that go to the overflow
 * entry and are counted.
 */
static __always_inline struct sched_stats *sched_stats_locked(__u64 cgroup_id)
{
	struct sched_stats *s = bpf_map_lookup_elem(&sched_stats_map, &cgroup_id);
	__u64 overflow = OVERFLOW_CGROUP_ID;

	if (s)
		return s;
	count_overflow(OVERFLOW_SWITCH_UNTRACKED);
	return bpf_map_lookup_elem(&sched_stats_map, &overflow);
}

/*
 * Creates the entry of the interrupted task's cgroup (hard interrupts cannot
 * arrive while this CPU holds a run queue lock, so allocating is safe here).
 * Runs on every expiring hrtimer, which includes the scheduler tick: a task
 * that runs has its cgroup's entry within a tick.
 */
SEC("tp_btf/hrtimer_expire_entry")
int BPF_PROG(handle_hrtimer_expire_entry)
{
	__u64 cgroup_id = bpf_get_current_cgroup_id();

	if (!bpf_map_lookup_elem(&sched_stats_map, &cgroup_id))
		sched_stats_for(cgroup_id);
	return 0;
}
#else
static __always_inline struct sched_stats *sched_stats_locked(__u64 cgroup_id)
{
	return sched_stats_for(cgroup_id);
}
#endif

/* p was woken up: it waits in the run queue of its CPU from now on. */
static __always_inline void mark_enqueued(struct task_struct *p)
{
	struct task_times *t;

	if (p->pid == 0)
		return;
	t = task_times_get(p, true);
	if (t)
		t->enqueued_ns = task_rq_clock(p);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_sched_wakeup, struct task_struct *p)
{
	mark_enqueued(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_sched_wakeup_new, struct task_struct *p)
{
	mark_enqueued(p);
	return 0;
}

/*
 * Set by user space (scheduler.run_queue_latency: sched_info): read when a
 * task started waiting from the kernel's own schedstat fields instead of
 * timestamping wakeups. task->sched_info (CONFIG_SCHED_INFO) holds
 * last_queued, set by enqueue_task() and by the switch-out of a preempted
 * task, and last_arrival, the switch-in time; sched_info_switch() updates both
 * right after this tracepoint, so here they still describe the waits and runs
 * that end now. Both are rq clock values, like task_rq_clock(). The wakeup
 * programs are then not loaded at all.
 */
const volatile bool runq_from_sched_info = false;

/*
 * Where the run-queue wait of next started (0 = it did not wait), and since
 * when prev ran, from the receiver's own timestamps: the switch-in time of the
 * task on this CPU is in a per-CPU array (the task switched out next is that
 * task, so no per-task lookup), a wait start in next's task storage. A
 * preempted prev starts waiting now.
 */
static __always_inline void own_timestamps(struct task_struct *prev, struct task_struct *next, bool runnable,
					   __u64 now, __u64 *ran_since, __u64 *queued_since)
{
	__u32 zero = 0;
	struct cpu_oncpu *cpu = bpf_map_lookup_elem(&cpu_oncpu_map, &zero);
	struct task_times *t;

	if (!cpu)
		return;
	if (prev->pid != 0) {
		if (cpu->pid == prev->pid)
			*ran_since = cpu->since_ns;
		if (runnable) {
			t = task_times_get(prev, true);
			if (t)
				t->enqueued_ns = now;
		}
	}
	cpu->pid = next->pid;
	cpu->since_ns = now;
	if (next->pid == 0)
		return;
	/* Tasks without storage were never seen runnable: nothing to measure. */
	t = task_times_get(next, false);
	if (t) {
		*queued_since = t->enqueued_ns;
		t->enqueued_ns = 0;
	}
}

/*
 * Per switch: one clock load, the stats of prev's cgroup (a per-CPU slot,
 * see stats_for), next's cgroup's only when next waited in another cgroup,
 * and the wait/run start times (own_timestamps, or two loads from the
 * kernel's sched_info). The idle tasks (pid 0) are skipped on both sides.
 * TASK_RUNNING is 0: a task switched out while still runnable was preempted.
 */
static __always_inline int on_switch(struct task_struct *prev, struct task_struct *next, bool runnable)
{
	/* prev and next share this CPU's run queue; prev is never NULL. */
	__u64 now = task_rq_clock(prev);
	struct sched_stats *prev_stats = NULL, *s;
	__u64 prev_cgroup = 0, ran_since = 0, queued_since = 0;

	/* sched_info holds rq clock values: only comparable when `now` is the rq clock too. */
	if (runq_from_sched_info && bpf_core_field_exists(prev->sched_info) && bpf_core_field_exists(prev->se.cfs_rq) &&
	    bpf_core_field_exists(((struct cfs_rq *)0)->rq)) {
		if (prev->pid != 0)
			ran_since = prev->sched_info.last_arrival;
		if (next->pid != 0)
			queued_since = next->sched_info.last_queued;
	} else {
		own_timestamps(prev, next, runnable, now, &ran_since, &queued_since);
	}

	if (prev->pid != 0) {
		prev_cgroup = task_cgroup_id(prev); /* four loads, cheaper than the helper call */
		s = prev_stats = sched_stats_locked(prev_cgroup);
		if (s) {
			if (runnable)
				s->involuntary_switches++;
			else
				s->voluntary_switches++;
			if (ran_since && now > ran_since)
				s->oncpu_ns += now - ran_since;
		}
	}
	if (queued_since && now >= queued_since) {
		/*
		 * Most switches stay within one cgroup: reuse its entry. Tasks with
		 * the same css_set are in the same cgroups, which spares the loads.
		 */
		if (prev_stats && next->cgroups == prev->cgroups)
			s = prev_stats;
		else if (prev_stats && task_cgroup_id(next) == prev_cgroup)
			s = prev_stats;
		else
			s = sched_stats_locked(task_cgroup_id(next));
		if (s)
			hist_add(&s->runq_latency_ns, now - queued_since);
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return on_switch(prev, next, preempt || prev_state == 0);
}

/* task_struct before Linux 5.14 named the state `state` (a long). */
struct task_struct___state_long {
	long state;
} __attribute__((preserve_access_index));

/*
 * Variant for kernels whose sched_switch has no prev_state argument (before
 * 5.18): the state is read from prev. The kernel has already set it back to
 * TASK_RUNNING when a pending signal keeps prev runnable, so such a switch
 * counts as involuntary here (5.18+ reports the state before that check).
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(handle_sched_switch_task_state, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	long state;

	if (bpf_core_field_exists(prev->__state))
		state = BPF_CORE_READ(prev, __state);
	else
		state = BPF_CORE_READ((struct task_struct___state_long *)prev, state);
	return on_switch(prev, next, preempt || state == 0);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct sched_stats *s;

	/* Threads share the tgid of their process: count processes only. */
	if (child->pid != child->tgid)
		return 0;
	s = sched_stats_for(task_cgroup_id(child));
	if (s)
		s->process_forks++;
	return 0;
}

struct exec_event {
	struct event_header hdr;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 pad;
	char comm[16];
	char filename[256];
};

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	struct sched_stats *s = sched_stats_for(cgroup_id);
	struct exec_event *e;

	if (s)
		s->execs++;
	if (!logs_enabled)
		return 0;

	e = event_reserve(sizeof(*e));
	if (!e)
		return 0;
	event_header_fill(&e->hdr, EVENT_EXEC, cgroup_id);
	e->pid = p->tgid;
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

struct exit_event {
	struct event_header hdr;
	__u32 pid;
	__u32 ppid;
	__s32 exit_status; /* exit(2) status, valid when signal == 0 */
	__u32 signal;      /* terminating signal, 0 for a normal exit */
	__u64 lifetime_ns;
	char comm[16];
};

/* The process p, whose last thread is exiting now, exited: count it and report it. */
static __always_inline int process_exited(struct task_struct *p)
{
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	struct sched_stats *s;
	struct exit_event *e;
	int code;

	s = sched_stats_for(cgroup_id);
	if (s)
		s->process_exits++;
	if (!logs_enabled)
		return 0;

	e = event_reserve(sizeof(*e));
	if (!e)
		return 0;
	/*
	 * exit_group() and fatal signals store the wait(2)-style code in
	 * signal->group_exit_code before the threads exit; a lone thread's
	 * exit() path stores it in task->exit_code.
	 */
	code = BPF_CORE_READ(p, signal, group_exit_code);
	if (code == 0)
		code = p->exit_code;
	event_header_fill(&e->hdr, EVENT_EXIT, cgroup_id);
	e->pid = p->tgid;
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->signal = code & 0x7f;
	e->exit_status = (code >> 8) & 0xff;
	e->lifetime_ns = e->hdr.timestamp_ns - p->start_time;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Linux >= 6.16: the kernel says whether this thread is the last one of its process. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_sched_process_exit, struct task_struct *p, bool group_dead)
{
	task_times_forget(p);
	if (!group_dead)
		return 0;
	return process_exited(p);
}

/*
 * Processes whose last thread has passed the exit tracepoint, keyed by their
 * signal_struct (shared by the threads, not reused before the process is
 * freed): the claim that makes one thread report the exit. Deleted when the
 * group leader is freed (handle_sched_process_free), which happens after
 * every thread of the process has passed the tracepoint.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} exiting_processes SEC(".maps");

/*
 * Before 6.16 the tracepoint has no group_dead. do_exit() decrements
 * signal->live before the tracepoint, so a thread that reads 0 there exited
 * after or with the last one; when threads exit together (exit_group, a fatal
 * signal) several of them can read 0. The first one to insert the
 * signal_struct into exiting_processes reports the exit; the others find it
 * there. A full table is counted and the exit reported without the claim.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_sched_process_exit_live, struct task_struct *p)
{
	__u64 key = (__u64)p->signal;
	__u8 one = 1;
	int err;

	task_times_forget(p);
	if (p->signal->live.counter != 0)
		return 0;
	err = map_insert(&exiting_processes, &key, &one);
	if (err == -EEXIST)
		return 0;
	if (err)
		count_overflow(OVERFLOW_EXITING);
	return process_exited(p);
}

/*
 * Companion of handle_sched_process_exit_live: the group leader is freed (an
 * RCU grace period after it was reaped) only after every other thread was
 * released, so no thread of the process can still reach the exit tracepoint.
 * After an exec by another thread the old leader's group_leader is the new
 * one: it is skipped.
 */
SEC("tp_btf/sched_process_free")
int BPF_PROG(handle_sched_process_free, struct task_struct *p)
{
	__u64 key = (__u64)p->signal;

	if (p->group_leader != p)
		return 0;
	bpf_map_delete_elem(&exiting_processes, &key);
	return 0;
}
