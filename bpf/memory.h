/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Memory signal: page allocations by order, direct-reclaim latency,
 * fragmentation fallbacks and OOM kills per cgroup; OOM kills also as events.
 */
#pragma once

#include "common.h"

/* Orders 0..10 (NR_PAGE_ORDERS on common configs); higher orders fold into the last. */
#define PAGE_ORDERS 11

struct memory_stats {
	__u64 pages_by_order[PAGE_ORDERS]; /* allocations of 2^order pages */
	__u64 extfrag_events;
	__u64 direct_reclaims;
	__u64 oom_kills;
	struct hist direct_reclaim_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4097);
	__type(key, __u64);
	__type(value, struct memory_stats);
} memory_stats_map SEC(".maps");

struct memory_stats zero_memory_stats;

/* Direct reclaim start per thread (begin and end run in the same task). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} reclaim_start_map SEC(".maps");

/* Per-CPU slots in front of memory_stats_map (see stats_for in common.h). */
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
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 *start = bpf_task_storage_get(&reclaim_start_map, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (start)
		*start = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(handle_direct_reclaim_end)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 *start = bpf_task_storage_get(&reclaim_start_map, task, 0, 0);
	struct memory_stats *s;
	__u64 now = bpf_ktime_get_ns();

	if (!start || !*start)
		return 0;
	s = memory_stats_for(bpf_get_current_cgroup_id());
	if (s) {
		s->direct_reclaims++;
		hist_add(&s->direct_reclaim_ns, now - *start);
	}
	*start = 0;
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

/* MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES in enum mm counter order. */
static __always_inline __u64 rss_pages(struct mm_struct *mm, int member)
{
	__s64 v = BPF_CORE_READ(mm, rss_stat[member].count);

	return v > 0 ? v : 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(handle_mark_victim, struct task_struct *task)
{
	__u64 cgroup_id = task_cgroup_id(task);
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
	e->pid = task->tgid;
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
