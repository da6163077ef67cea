/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Memory signal: page allocations by order, direct-reclaim latency,
 * fragmentation fallbacks and OOM kills per cgroup; OOM kills also as events.
 */
#pragma once

#include "common.bpf.h"

/* struct memory_stats, the per-cgroup value: cgroup_stats.h */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4097);
	__type(key, __u64);
	__type(value, struct memory_stats);
} memory_stats_map SEC(".maps");

struct memory_stats zero_memory_stats;

/*
 * Direct reclaim start per thread id: begin and end run in the same task, and
 * end deletes the entry, so the table only holds the threads reclaiming right
 * now. Preallocated: it is written under memory pressure, when a run-time
 * allocation is most likely to fail. (A hash, not task storage: reclaim is
 * rare, and the same program then works on every kernel.)
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} reclaim_start_map SEC(".maps");

/* Per-CPU slots in front of memory_stats_map (see stats_for in common.bpf.h). */
struct memory_slot {
	__u64 owner; /* cgroup id */
	struct memory_stats stats;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 128); /* slot_mask + 1, set by user space */
	__type(key, __u32);
	__type(value, struct memory_slot);
} memory_slots SEC(".maps");

static __always_inline struct memory_stats *memory_stats_for(__u64 cgroup_id)
{
	return stats_for(&memory_slots, &memory_stats_map, cgroup_id, &zero_memory_stats, sizeof(struct memory_stats), OVERFLOW_MEMORY);
}

/* Attributed to the allocating task's cgroup (interrupt-context allocations included). */
SEC("tp_btf/mm_page_alloc")
int BPF_PROG(handle_mm_page_alloc, struct page *page, unsigned int order)
{
	struct memory_stats *s;

	if (!page)
		return 0; /* failed allocation */
	s = memory_stats_for(bpf_get_current_cgroup_id());
	if (s)
		s->pages_by_order[order < PAGE_ORDERS ? order : PAGE_ORDERS - 1]++;
	return 0;
}

SEC("tp_btf/mm_page_alloc_extfrag")
int BPF_PROG(handle_mm_page_alloc_extfrag, struct page *page)
{
	struct memory_stats *s = memory_stats_for(bpf_get_current_cgroup_id());

	if (s)
		s->extfrag_events++;
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(handle_direct_reclaim_begin)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();

	if (map_update(&reclaim_start_map, &tid, &now, BPF_ANY) == -E2BIG)
		count_overflow(OVERFLOW_RECLAIMING);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(handle_direct_reclaim_end)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *start = bpf_map_lookup_elem(&reclaim_start_map, &tid);
	struct memory_stats *s;
	__u64 now = bpf_ktime_get_ns();

	if (!start)
		return 0;
	s = memory_stats_for(bpf_get_current_cgroup_id());
	if (s) {
		s->direct_reclaims++;
		hist_add(&s->direct_reclaim_ns, now - *start);
	}
	bpf_map_delete_elem(&reclaim_start_map, &tid);
	return 0;
}

struct oom_event {
	struct event_header hdr;
	__u32 pid;
	__u32 uid;
	char comm[16];
	__u64 total_vm_pages;
	__u64 anon_rss_pages;
	__u64 file_rss_pages;
	__u64 shmem_rss_pages;
	__s64 oom_score_adj;
};

/* Before Linux 6.2 the RSS counters were atomics in a struct mm_rss_stat. */
struct mm_rss_stat___atomic {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___atomic_rss {
	struct mm_rss_stat___atomic rss_stat;
} __attribute__((preserve_access_index));

/*
 * RSS pages of one counter (MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES in enum
 * mm counter order): 6.2+ keeps a percpu_counter per counter, whose `count`
 * is the folded value; before, an atomic_long_t. The branch that does not
 * match this kernel is removed by CO-RE before the verifier sees it.
 */
static __always_inline __u64 rss_pages(struct mm_struct *mm, int member)
{
	__s64 v;

	if (bpf_core_type_exists(struct mm_rss_stat___atomic))
		v = BPF_CORE_READ((struct mm_struct___atomic_rss *)mm, rss_stat.count[member].counter);
	else
		v = BPF_CORE_READ(mm, rss_stat[member].count);
	return v > 0 ? v : 0;
}

/*
 * Counts the OOM kill of task and reports it. task may come from a map
 * (handle_mark_victim_pid), so every field is read with BPF_CORE_READ.
 */
static __always_inline int oom_victim(struct task_struct *task)
{
	__u64 cgroup_id = task_cgroup_id_read(task);
	struct memory_stats *s = memory_stats_for(cgroup_id);
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct oom_event *e;

	if (s)
		s->oom_kills++;
	if (!logs_enabled)
		return 0;
	e = event_reserve(sizeof(*e));
	if (!e)
		return 0;
	event_header_fill(&e->hdr, EVENT_OOM, cgroup_id);
	e->pid = BPF_CORE_READ(task, tgid);
	e->uid = BPF_CORE_READ(task, cred, uid.val);
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	e->total_vm_pages = BPF_CORE_READ(mm, total_vm);
	e->file_rss_pages = rss_pages(mm, MM_FILEPAGES);
	e->anon_rss_pages = rss_pages(mm, MM_ANONPAGES);
	e->shmem_rss_pages = rss_pages(mm, MM_SHMEMPAGES);
	e->oom_score_adj = BPF_CORE_READ(task, signal, oom_score_adj);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* mark_victim(struct task_struct *task, uid_t uid): 6.8+, backported to 6.1.y. */
SEC("tp_btf/mark_victim")
int BPF_PROG(handle_mark_victim, struct task_struct *task)
{
	return oom_victim(task);
}

/*
 * Older kernels' mark_victim(int pid) names only the victim's thread id. The
 * OOM killer sends the victim SIGKILL just before (__oom_kill_process:
 * do_send_sig_info, then mark_oom_victim), so handle_signal_generate records
 * the targets of SIGKILL by thread id, and the victim is found there.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64); /* struct task_struct * */
} sigkill_targets SEC(".maps");

#define SIGKILL 9

/* Companion of handle_mark_victim_pid. */
SEC("tp_btf/signal_generate")
int BPF_PROG(handle_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task)
{
	__u32 pid;
	__u64 ptr = (__u64)task;

	if (sig != SIGKILL)
		return 0;
	pid = task->pid;
	bpf_map_update_elem(&sigkill_targets, &pid, &ptr, BPF_ANY);
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(handle_mark_victim_pid, int pid)
{
	__u32 key = pid;
	__u64 *ptr = bpf_map_lookup_elem(&sigkill_targets, &key);
	struct task_struct *task;

	if (ptr) {
		task = (struct task_struct *)*ptr;
		bpf_map_delete_elem(&sigkill_targets, &key);
		/* The record may be stale (thread id reused): it must still name this thread. */
		if (BPF_CORE_READ(task, pid) == pid)
			return oom_victim(task);
	}
	/* No record: a memory cgroup's OOM killer often runs in the victim itself. */
	task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, pid) == pid)
		return oom_victim(task);
	task = BPF_CORE_READ(task, group_leader);
	if (BPF_CORE_READ(task, pid) == pid)
		return oom_victim(task);
	return 0;
}
