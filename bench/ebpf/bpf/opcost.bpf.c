// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Benchmark-only: what single operations of the receiver's scheduler programs
 * cost on this machine. `ebpfbench -ops` attaches each program alone to
 * sched_switch under the ping-pong load and reads its BPF statistics; the
 * difference to op_empty is the operation's cost. Map shapes follow
 * bpf/sched.bpf.h (per-CPU hash keyed by cgroup id with the receiver's
 * struct sched_stats as value, task storage, a one-entry per-CPU array).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "cgroup_stats.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} op_task_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4097);
	__type(key, __u64);
	__type(value, struct sched_stats);
} op_hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[2]);
} op_array_map SEC(".maps");

/* Results go to a global so the compiler keeps the operation. */
__u64 op_sink;
struct sched_stats op_zero;

SEC("tp_btf/sched_switch")
int BPF_PROG(op_empty)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_ktime_get_ns)
{
	op_sink = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_rq_clock_load, bool preempt, struct task_struct *prev)
{
	op_sink = prev->se.cfs_rq->rq->clock;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_current_cgroup_id)
{
	op_sink = bpf_get_current_cgroup_id();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_task_cgroup_loads, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	op_sink = next->cgroups->dfl_cgrp->kn->id;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_percpu_array, bool preempt, struct task_struct *prev)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&op_array_map, &zero);

	if (v)
		v[0] = prev->pid;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_task_storage, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 *v = bpf_task_storage_get(&op_task_map, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (v)
		(*v)++;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_percpu_hash)
{
	__u64 key = bpf_get_current_cgroup_id();
	struct sched_stats *v = bpf_map_lookup_elem(&op_hash_map, &key);

	if (!v) {
		bpf_map_update_elem(&op_hash_map, &key, &op_zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&op_hash_map, &key);
	}
	if (v)
		v->voluntary_switches++;
	return 0;
}

/*
 * Per-CPU slot table in front of the hash (candidate design): a per-CPU array
 * indexed by a hash of the cgroup id, each slot owned by one cgroup per CPU.
 */
#define OP_SLOTS 256
struct op_slot {
	__u64 cgroup_id;
	struct sched_stats s;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OP_SLOTS);
	__type(key, __u32);
	__type(value, struct op_slot);
} op_slot_map SEC(".maps");

static __always_inline struct sched_stats *op_slot_for(__u64 cg)
{
	__u32 idx = (__u32)((cg * 0x9E3779B97F4A7C15ULL) >> 56) & (OP_SLOTS - 1);
	struct op_slot *slot = bpf_map_lookup_elem(&op_slot_map, &idx);

	if (!slot)
		return 0;
	if (slot->cgroup_id != cg && __sync_val_compare_and_swap(&slot->cgroup_id, 0, cg) != 0)
		return 0;
	return &slot->s;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_slot_table)
{
	struct sched_stats *v = op_slot_for(bpf_get_current_cgroup_id());

	if (v)
		v->voluntary_switches++;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(op_sched_info_loads, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	op_sink = next->sched_info.last_queued + prev->sched_info.last_arrival;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
