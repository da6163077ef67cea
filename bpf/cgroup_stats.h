/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The per-cgroup values of the receiver's three signals: the value types of
 * the per-cgroup hashes and slot tables, which bpf2go mirrors into Go and the
 * receiver sums per CPU (receiver/ebpfreceiver/signal_metrics_linux.go).
 *
 * Plain definitions, no maps or programs: the benchmark objects in bench/ebpf
 * include this file to give their maps the receiver's value sizes.
 * Every field is explicitly sized; never reorder without regenerating.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

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

struct sched_stats {
	__u64 voluntary_switches;
	__u64 involuntary_switches;
	__u64 oncpu_ns;
	__u64 process_forks;
	__u64 execs;
	__u64 process_exits;
	struct hist runq_latency_ns;
};

struct tcp_stats {
	__u64 active_opens;
	__u64 passive_opens;
	__u64 closes;
	__u64 bytes_sent;     /* payload bytes sent, without retransmissions, read at close */
	__u64 bytes_received; /* bytes received, read at close */
	__u64 retransmits;
	__u64 resets_sent;
	__u64 resets_received;
	struct hist duration_us;
	struct hist srtt_us;
};

/* Orders 0..10 (NR_PAGE_ORDERS on common configs); higher orders fold into the last. */
#define PAGE_ORDERS 11

struct memory_stats {
	__u64 pages_by_order[PAGE_ORDERS]; /* allocations of 2^order pages */
	__u64 extfrag_events;
	__u64 direct_reclaims;
	__u64 oom_kills;
	struct hist direct_reclaim_ns;
};
