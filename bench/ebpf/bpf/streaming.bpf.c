// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Benchmark-only comparison point: the "per-event streaming" design of
 * bcc-style tools. Every sched_switch / sched_wakeup goes through a ring
 * buffer to user space, which aggregates there. The receiver instead
 * aggregates in the kernel (bpf/sched.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sched_event {
	__u64 timestamp_ns;
	__u64 cgroup_id;
	__u32 prev_pid;
	__u32 next_pid;
	__u32 prev_state;
	__u32 kind; /* 0 = switch, 1 = wakeup */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} stream_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stream_drops SEC(".maps");

static __always_inline void emit(__u32 kind, __u32 prev, __u32 next, __u32 state)
{
	struct sched_event *e = bpf_ringbuf_reserve(&stream_events, sizeof(*e), 0);

	if (!e) {
		__u32 zero = 0;
		__u64 *c = bpf_map_lookup_elem(&stream_drops, &zero);

		if (c)
			(*c)++;
		return;
	}
	e->timestamp_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->prev_pid = prev;
	e->next_pid = next;
	e->prev_state = state;
	e->kind = kind;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(stream_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	emit(0, prev->pid, next->pid, prev_state);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(stream_sched_wakeup, struct task_struct *p)
{
	emit(1, 0, p->pid, 0);
	return 0;
}

const struct sched_event *unused_sched_event __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
