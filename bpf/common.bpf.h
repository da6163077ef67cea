/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Shared definitions for the otelcol-custom eBPF receiver.
 *
 * Layout rules: every struct here is mirrored into Go by bpf2go (-type), so
 * fields are explicitly sized and padded; never reorder without regenerating.
 *
 * The sources are compiled twice (receiver/ebpfreceiver/internal/probes/gen.go):
 * as is, and with COMPAT_OBJECT for kernels whose verifier knows no BPF
 * atomics (cmpxchg, Linux 5.12) — it rejects such an instruction anywhere in a
 * program, even in dead code, so the object for those kernels must not
 * contain one. That object also keeps per-task and per-socket state in hash
 * maps instead of task and socket local storage, which tracing programs can
 * use since 5.11 only. User space picks the object with a feature probe.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "cgroup_stats.h"

/* Errors of bpf_map_update_elem (uapi errno values). */
#define E2BIG 7
#define EBUSY 16
#define EEXIST 17

/*
 * Key used for data whose cgroup table is full (max_cgroups reached). User
 * space inserts it before attaching so updates to it cannot fail.
 */
#define OVERFLOW_CGROUP_ID 0xFFFFFFFFFFFFFFFFULL

/*
 * Indexes into the `overflow` per-CPU counter array: per-cgroup tables, then
 * the bounded hash maps that stand in for local storage and the tables of
 * kernel-specific program variants (each counts updates it could not take).
 */
enum overflow_kind {
	OVERFLOW_TCP = 0,
	OVERFLOW_TCP_PEER = 1,
	OVERFLOW_SCHED = 2,
	OVERFLOW_MEMORY = 3,
	OVERFLOW_TASKS = 4,     /* compat: task_times_map keyed by pid */
	OVERFLOW_SOCKETS = 5,   /* compat: conn_map keyed by socket */
	OVERFLOW_EXITING = 6,   /* exiting_processes (exit without group_dead) */
	OVERFLOW_RECLAIMING = 7, /* reclaim_start_map */
	OVERFLOW_NESTED = 8,    /* an insert nested in another one on this CPU */
	OVERFLOW_SWITCH_UNTRACKED = 9, /* compat: a switch in a cgroup without an entry yet */
	OVERFLOW_TCP_EDGES = 10, /* tcp_edges full (tcp.edges.max_edges): counted in the overflow edge */
	OVERFLOW_KINDS = 11,
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

#ifdef COMPAT_OBJECT
/*
 * Kernels of the compat object (before 5.11) take a hash map's bucket lock
 * before they allocate a new element, do not stop a BPF program from running
 * inside another, and have no guard against a program taking a bucket lock
 * its own CPU already holds: the page allocation inside that allocation runs
 * handle_mm_page_alloc, whose insert into the same bucket deadlocks the CPU.
 * So an insert marks this CPU while it runs (programs are not preemptible on
 * these kernels: the mark is only seen by programs nested in it), and a
 * nested program does not insert, it gets -EBUSY like newer kernels return.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inserting SEC(".maps");
#endif

/*
 * The error of a map update as an int. Before Linux 6.4 the map operations
 * return int and the verifier calls them directly, so a negative error
 * reaches the program zero-extended (-17 as 0x00000000ffffffef): only its
 * low 32 bits can be compared.
 */
static __always_inline int map_update(void *map, const void *key, const void *value, __u64 flags)
{
	return (int)bpf_map_update_elem(map, key, value, flags);
}

/* Adds key -> value to a hash map unless key is there (BPF_NOEXIST). */
static __always_inline int map_insert(void *map, const void *key, const void *value)
{
#ifdef COMPAT_OBJECT
	__u32 zero = 0;
	__u32 *busy = bpf_map_lookup_elem(&inserting, &zero);
	int err;

	if (!busy || *busy)
		return -EBUSY;
	*busy = 1;
	err = map_update(map, key, value, BPF_NOEXIST);
	*busy = 0;
	return err;
#else
	return map_update(map, key, value, BPF_NOEXIST);
#endif
}

/*
 * The entry of a socket in a hash keyed by the socket's address (a stand-in
 * for socket storage): created zeroed when create is set and the socket has
 * none. A creation that finds the table full is counted (table "sockets")
 * and returns NULL: that connection is not tracked.
 */
static __always_inline void *sock_entry(void *map, const void *sk, const void *zero, bool create)
{
	__u64 key = (__u64)sk;
	void *v = bpf_map_lookup_elem(map, &key);

	if (v || !create)
		return v;
	if (map_insert(map, &key, zero) == -E2BIG)
		count_overflow(OVERFLOW_SOCKETS);
	return bpf_map_lookup_elem(map, &key);
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
	int err;

	if (v)
		return v;
	/* Fails with EEXIST when another CPU won the race, E2BIG when full, EBUSY when nested. */
	err = map_insert(map, key, zero);
	v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	count_overflow(err == -EBUSY ? OVERFLOW_NESTED : kind);
	*key = OVERFLOW_CGROUP_ID;
	return bpf_map_lookup_elem(map, key);
}

/*
 * Per-CPU slot tables in front of the per-cgroup hashes. A hash lookup is the
 * most expensive step of the hot programs (on the reference VM ~150 ns, an
 * inlined array access a few tens), so each per-cgroup hash has a per-CPU
 * array of slots in front of it: on each CPU a cgroup owns one of two
 * candidate slots chosen by a hash of its id, and user space sums its slots
 * with its hash entry. The hash stays the admission record: a cgroup takes a
 * slot only once it has a hash entry, so max_cgroups and the overflow series
 * keep their meaning, and the hash takes the updates of a cgroup whose two
 * slots are owned by others on that CPU.
 *
 * A slot value is { __u64 owner; <stats> }. Owners change only here, by
 * compare-and-swap, because a preemptible program (exec, fork) and the
 * scheduler's program can interleave on one CPU. A slot is free when its
 * owner is 0, or when user space has released its owner: after emitting the
 * last values of a removed cgroup it writes the id into released_slots at the
 * slot's index, and the next cgroup that needs the slot zeroes and takes it.
 */
#define SLOT_FREE 0ULL
#define SLOT_TAKING 0xFFFFFFFFFFFFFFFEULL /* being zeroed for a new owner */

/* Slots per CPU - 1 (a power of two - 1), set by user space with the table sizes. */
const volatile __u32 slot_mask = 127;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 128); /* slot_mask + 1, set by user space */
	__type(key, __u32);
	__type(value, __u64);
} released_slots SEC(".maps");

#ifndef COMPAT_OBJECT
static __always_inline __u32 slot_index(__u64 cgroup_id)
{
	/* Fibonacci hashing: kernfs ids are sequential, the high bits of the product spread them. */
	return (__u32)((cgroup_id * 0x9E3779B97F4A7C15ULL) >> 32) & slot_mask;
}

/* Take the slot at idx for cgroup_id if it is free; size is the stats' size. */
static __always_inline bool slot_take(__u64 *owner, __u32 idx, __u64 cgroup_id, __u32 size)
{
	__u64 cur = *owner;

	if (cur != SLOT_FREE) {
		__u64 *released = bpf_map_lookup_elem(&released_slots, &idx);

		if (!released || *released != cur)
			return false;
	}
	if (__sync_val_compare_and_swap(owner, cur, SLOT_TAKING) != cur)
		return false;
	if (cur != SLOT_FREE)
		__builtin_memset(owner + 1, 0, size);
	/* The zeroes must be in place before the new owner's updates can land. */
	asm volatile("" ::: "memory");
	*owner = cgroup_id;
	return true;
}

/*
 * The stats of cgroup_id on this CPU: its slot, else its hash entry (created
 * on first use; the overflow entry when the hash is full).
 */
static __always_inline void *stats_for(void *slots, void *hash, __u64 cgroup_id, const void *zero, __u32 size,
				       __u32 kind)
{
	__u32 idx = slot_index(cgroup_id), alt = idx ^ 1;
	__u64 *a = bpf_map_lookup_elem(slots, &idx);
	__u64 *b;
	void *v;

	if (a && *a == cgroup_id)
		return a + 1;
	b = bpf_map_lookup_elem(slots, &alt);
	if (b && *b == cgroup_id)
		return b + 1;
	v = lookup_or_init(hash, &cgroup_id, zero, kind);
	if (!v || cgroup_id == OVERFLOW_CGROUP_ID)
		return v; /* not admitted: counted in the overflow entry, never in a slot */
	if (a && slot_take(a, idx, cgroup_id, size))
		return a + 1;
	if (b && slot_take(b, alt, cgroup_id, size))
		return b + 1;
	return v;
}
#else
/*
 * Without compare-and-swap a slot cannot change owners safely, so the compat
 * object has no slot tables: every update goes through the hash. The slot
 * maps are then referenced by no program and not created.
 */
static __always_inline void *stats_for(void *slots, void *hash, __u64 cgroup_id, const void *zero, __u32 size,
				       __u32 kind)
{
	return lookup_or_init(hash, &cgroup_id, zero, kind);
}
#endif

/*
 * cgroup v2 id of a task: the kernfs node id of its default-hierarchy cgroup.
 * t is a BTF pointer from a tp_btf argument: direct (CO-RE relocated) loads
 * are allowed and much cheaper than one bpf_probe_read_kernel per hop.
 */
static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id;
}

/* The same for a task pointer that is not BTF-typed (read from a map): probe reads. */
static __always_inline __u64 task_cgroup_id_read(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
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
