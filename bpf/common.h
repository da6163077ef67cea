/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Shared definitions for the otelcol-custom eBPF receiver.
 *
 * Layout rules: every struct here is mirrored into Go by bpf2go (-type), so
 * fields are explicitly sized and padded; never reorder without regenerating.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

/*
 * log2 histograms. Slot i counts values v with 2^(i-1) < v <= 2^i (slot 0 holds
 * exactly v == 1), values of 0 go to `zero`. That is the bucket layout of an
 * OpenTelemetry exponential histogram at scale 0 with index offset -1, so user
 * space maps the slots without any loss. Values above 2^(HIST_SLOTS-1) are
 * clamped into the last slot and counted in `clamped` so the clamp is visible.
 */
#define HIST_SLOTS 40

struct hist {
	__u64 slots[HIST_SLOTS];
	__u64 zero;
	__u64 clamped;
	__u64 sum;
};

/* Smallest i with v <= 2^i, for v >= 1 (ceil(log2(v))). */
static __always_inline __u32 log2_ceil(__u64 v)
{
	__u64 x = v - 1;
	__u32 r = 0, shift;

	if (v <= 1)
		return 0;
	/* floor(log2(x)) + 1, branch-free binary search. */
	shift = (x > 0xFFFFFFFF) << 5; x >>= shift; r = shift;
	shift = (x > 0xFFFF) << 4; x >>= shift; r |= shift;
	shift = (x > 0xFF) << 3; x >>= shift; r |= shift;
	shift = (x > 0xF) << 2; x >>= shift; r |= shift;
	shift = (x > 0x3) << 1; x >>= shift; r |= shift;
	r |= (x >> 1);
	return r + 1;
}

static __always_inline void hist_add(struct hist *h, __u64 v)
{
	__u32 slot;

	h->sum += v;
	if (v == 0) {
		h->zero++;
		return;
	}
	slot = log2_ceil(v);
	if (slot >= HIST_SLOTS) {
		slot = HIST_SLOTS - 1;
		h->clamped++;
	}
	/* Keep the compiler from indexing with a copy the verifier has not bounded. */
	asm volatile("" : "+r"(slot));
	if (slot < HIST_SLOTS)
		h->slots[slot]++;
}

/*
 * Key used for data whose cgroup table is full (max_cgroups reached). User
 * space inserts it before attaching so updates to it cannot fail.
 */
#define OVERFLOW_CGROUP_ID 0xFFFFFFFFFFFFFFFFULL

/* Indexes into the `overflow` per-CPU counter array. */
enum overflow_kind {
	OVERFLOW_TCP = 0,
	OVERFLOW_TCP_PEER = 1,
	OVERFLOW_SCHED = 2,
	OVERFLOW_MEMORY = 3,
	OVERFLOW_KINDS = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OVERFLOW_KINDS);
	__type(key, __u32);
	__type(value, __u64);
} overflow SEC(".maps");

static __always_inline void count_overflow(__u32 kind)
{
	__u64 *c = bpf_map_lookup_elem(&overflow, &kind);

	if (c)
		(*c)++;
}

/*
 * Look up the per-cgroup value for key in a per-CPU hash, creating a zeroed
 * entry on first use. When the table is full the overflow entry is returned
 * instead and the overflow counter of `kind` rises: data is never lost, only
 * folded into the overflow series.
 */
static __always_inline void *lookup_or_init(void *map, __u64 *key, const void *zero, __u32 kind)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	/* Fails with EEXIST when another CPU won the race, E2BIG when full. */
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	count_overflow(kind);
	*key = OVERFLOW_CGROUP_ID;
	return bpf_map_lookup_elem(map, key);
}

/*
 * cgroup v2 id of a task: the kernfs node id of its default-hierarchy cgroup.
 * t is a BTF pointer from a tp_btf argument: direct (CO-RE relocated) loads
 * are allowed and much cheaper than one bpf_probe_read_kernel per hop.
 */
static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id;
}

/* ---- Discrete events through the ring buffer --------------------------- */

enum event_type {
	EVENT_EXEC = 1,
	EVENT_EXIT = 2,
	EVENT_OOM = 3,
	EVENT_TCP_RESET = 4,
	EVENT_TCP_CONN = 5,
};

struct event_header {
	__u32 type;
	__u32 cpu;
	__u64 timestamp_ns; /* CLOCK_MONOTONIC */
	__u64 cgroup_id;
};

/* Set by user space: false when no logs pipeline reads exec/exit/OOM/reset events. */
const volatile bool logs_enabled = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* Replaced from the receiver's ring_buffer_size before loading. */
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Events that did not fit into the ring buffer, counted per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ringbuf_drops SEC(".maps");

/* Reserve room for an event; on a full ring count a drop and return NULL. */
static __always_inline void *event_reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e) {
		__u32 zero = 0;
		__u64 *c = bpf_map_lookup_elem(&ringbuf_drops, &zero);

		if (c)
			(*c)++;
	}
	return e;
}

static __always_inline void event_header_fill(struct event_header *h, __u32 type, __u64 cgroup_id)
{
	h->type = type;
	h->cpu = bpf_get_smp_processor_id();
	h->timestamp_ns = bpf_ktime_get_ns();
	h->cgroup_id = cgroup_id;
}
