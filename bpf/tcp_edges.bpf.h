/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * TCP edges (tcp.edges): per (cgroup, peer address, peer port for client
 * connections, side) the bytes, connections opened/closed/failed,
 * retransmits and an RTT histogram, for the network map.
 *
 * Counting without per-packet work: each connection's state (its edge key
 * and the socket counters already added to the edge) lives in a table keyed
 * by socket from establishment to close. At close the rest is added; in
 * between, user space runs the iterator below once per collection interval,
 * which adds what each live connection sent and received since the previous
 * pass. So a long-lived connection reports its bytes every interval
 * and no program runs per segment; the cost is one iterator visit per open
 * connection per interval, paid in the collector's own thread.
 *
 * The edge table is a plain hash (not per-CPU) updated with atomic adds:
 * updates come at connection rate, not packet rate, and a per-CPU value
 * with a histogram would cost ~400 bytes per CPU per edge.
 */
#pragma once

#include "common.bpf.h"
#include "tcp.bpf.h"

enum tcp_edge_side {
	TCP_EDGE_CLIENT = 1, /* this socket connected (active open) */
	TCP_EDGE_SERVER = 2, /* this socket was accepted (passive open) */
};

struct tcp_edge_key {
	__u64 cgroup_id;
	__u8 addr[16]; /* peer address; IPv4 in the first 4 bytes */
	__u16 port;    /* peer port for client edges; 0 for server edges (the peers' ports are ephemeral) */
	__u16 family;
	__u8 side;     /* enum tcp_edge_side; 0 on the overflow edge */
	__u8 pad[3];
};

struct tcp_edge_stats {
	__u64 bytes_sent;     /* payload sent once (retransmissions not counted again) */
	__u64 bytes_received;
	__u64 opened;
	__u64 closed;
	__u64 failed;         /* connects that never established (refused, timed out, aborted) */
	__u64 retransmits;
	struct hist srtt_us;  /* one sample per interval in which the connection carried data, one at close */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4097); /* tcp.edges.max_edges + the overflow edge, set by user space */
	__type(key, struct tcp_edge_key);
	__type(value, struct tcp_edge_stats);
} tcp_edges SEC(".maps");

struct tcp_edge_stats zero_tcp_edge_stats;

/* Per connection: its edge and the socket counters already added to it. */
struct tcp_edge_conn {
	struct tcp_edge_key key;
	__u64 sent, received, retrans;
	__u8 live; /* established and not yet closed */
	__u8 pad[7];
};

/*
 * Keyed by socket address in both objects: the iterator below finds a socket
 * through a file, as a plain pointer, which socket storage helpers do not
 * accept. Every established connection reaches TCP_CLOSE before its socket
 * is freed; the entry is deleted then. A connection that finds the table
 * full is counted (table "sockets") and reports its edge's opens only.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tcp_edge_conn);
} tcp_edge_conns SEC(".maps");

static __always_inline struct tcp_edge_conn *edge_conn_get(const struct sock *sk, bool create)
{
	static const struct tcp_edge_conn zero;

	return sock_entry(&tcp_edge_conns, sk, &zero, create);
}

static __always_inline void edge_conn_forget(const struct sock *sk, struct tcp_edge_conn *c)
{
	__u64 key = (__u64)sk;

	c->live = 0;
	bpf_map_delete_elem(&tcp_edge_conns, &key);
}

/* The edge's counters, created on first use; the overflow edge when the table is full. */
static __always_inline struct tcp_edge_stats *edge_stats(const struct tcp_edge_key *key)
{
	struct tcp_edge_key overflow = {.cgroup_id = OVERFLOW_CGROUP_ID};
	struct tcp_edge_stats *e = bpf_map_lookup_elem(&tcp_edges, key);
	int err;

	if (e)
		return e;
	err = map_insert(&tcp_edges, key, &zero_tcp_edge_stats);
	e = bpf_map_lookup_elem(&tcp_edges, key);
	if (e)
		return e;
	count_overflow(err == -EBUSY ? OVERFLOW_NESTED : OVERFLOW_TCP_EDGES);
	return bpf_map_lookup_elem(&tcp_edges, &overflow);
}

static __always_inline void edge_key_fill(const struct sock *sk, __u64 cgroup_id, __u8 side, struct tcp_edge_key *k)
{
	struct tcp_addrs a;

	read_addrs(sk, &a);
	__builtin_memset(k, 0, sizeof(*k));
	k->cgroup_id = cgroup_id;
	k->family = a.family;
	__builtin_memcpy(k->addr, a.raddr, sizeof(k->addr));
	k->port = side == TCP_EDGE_CLIENT ? a.rport : 0;
	k->side = side;
}

/* hist_add for a value shared between CPUs. */
static __always_inline void hist_add_atomic(struct hist *h, __u64 v)
{
	__u32 slot;

	__sync_fetch_and_add(&h->sum, v);
	if (v == 0) {
		__sync_fetch_and_add(&h->zero, 1);
		return;
	}
	slot = log2_ceil(v);
	if (slot >= HIST_SLOTS) {
		slot = HIST_SLOTS - 1;
		__sync_fetch_and_add(&h->clamped, 1);
	}
	asm volatile("" : "+r"(slot));
	if (slot < HIST_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
}

/*
 * Moves *seen up to now and returns by how much. The close of a connection
 * and the iterator's visit can run at once on two CPUs: with
 * compare-and-swap each increment is handed to exactly one of them, and a
 * reading older than what the other already added yields 0. The compat
 * object has no compare-and-swap: there a close that coincides with the
 * iterator's visit of the same socket can add the bytes since the previous
 * collection twice (README, Supported kernels).
 */
static __always_inline __u64 advance(__u64 *seen, __u64 now)
{
#ifndef COMPAT_OBJECT
#pragma unroll
	for (int i = 0; i < 3; i++) {
		__u64 old = *(volatile __u64 *)seen;

		if (now <= old)
			return 0;
		if (__sync_val_compare_and_swap(seen, old, now) == old)
			return now - old;
	}
	return 0;
#else
	__u64 old = *seen;

	if (now <= old)
		return 0;
	*seen = now;
	return now - old;
#endif
}

/*
 * Adds what the connection on sk sent, received and retransmitted since the
 * last flush to its edge. sk may be a plain pointer (compat iterator), so
 * every read is a probe read.
 */
static __always_inline void edge_flush(const struct sock *sk, struct tcp_edge_conn *c, bool closing)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 sent = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
	__u64 received = BPF_CORE_READ(tp, bytes_received);

	if (!closing) {
		/*
		 * The iterator reads without the socket lock: a retransmit adds to
		 * bytes_sent before bytes_retrans, so sent can read one segment high
		 * for a moment, and advance() never takes back what it added. Cap it
		 * by bytes_acked (one field; counts an active open's SYN, and a FIN
		 * once acked, by which time no data is retransmitted): never above
		 * the payload sent once. The close below runs under the lock, exact.
		 */
		__u64 acked = BPF_CORE_READ(tp, bytes_acked);

		if (c->key.side == TCP_EDGE_CLIENT && acked)
			acked--;
		if (acked < sent)
			sent = acked;
	}
	__u64 retrans = BPF_CORE_READ(tp, total_retrans);
	__u32 srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	struct tcp_edge_stats *e;
	__u64 d_sent, d_received, d_retrans;

	/* bytes_received counts the peer's FIN as one byte; RCV_SHUTDOWN (1) marks a received FIN. */
	if (received && (BPF_CORE_READ(sk, sk_shutdown) & 1))
		received--;
	d_sent = advance(&c->sent, sent);
	d_received = advance(&c->received, received);
	d_retrans = advance(&c->retrans, retrans);
	if (!closing && !d_sent && !d_received && !d_retrans)
		return; /* idle since the last pass: nothing to add, no RTT sample */
	e = edge_stats(&c->key);
	if (!e)
		return;
	if (d_sent)
		__sync_fetch_and_add(&e->bytes_sent, d_sent);
	if (d_received)
		__sync_fetch_and_add(&e->bytes_received, d_received);
	if (d_retrans)
		__sync_fetch_and_add(&e->retransmits, d_retrans);
	if (srtt_us)
		hist_add_atomic(&e->srtt_us, srtt_us);
}

/*
 * A second program on inet_sock_set_state, beside the per-cgroup one in
 * tcp.bpf.h: it is loaded only with tcp.edges, so without edges nothing of this
 * file runs, and the two keep separate per-socket state.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_tcp_edge_state, const struct sock *sk, int oldstate, int newstate)
{
	struct tcp_edge_key key;
	struct tcp_edge_stats *e;
	struct tcp_edge_conn *c;

	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		c = edge_conn_get(sk, true);
		if (!c)
			return 0;
		edge_key_fill(sk, sock_cgroup_id(sk), oldstate == TCP_SYN_SENT ? TCP_EDGE_CLIENT : TCP_EDGE_SERVER, &c->key);
		c->sent = c->received = c->retrans = 0;
		c->live = 1;
		e = edge_stats(&c->key);
		if (e)
			__sync_fetch_and_add(&e->opened, 1);
		return 0;
	}

	/* newstate == TCP_CLOSE */
	if (oldstate == TCP_SYN_SENT) {
		/* A connect that never established: refused (RST), timed out, unreachable or aborted. */
		edge_key_fill(sk, sock_cgroup_id(sk), TCP_EDGE_CLIENT, &key);
		e = edge_stats(&key);
		if (e) {
			__sync_fetch_and_add(&e->failed, 1);
			__sync_fetch_and_add(&e->retransmits, BPF_CORE_READ((const struct tcp_sock *)sk, total_retrans));
		}
		return 0;
	}
	c = edge_conn_get(sk, false);
	if (!c || !c->live)
		return 0;
	edge_flush(sk, c, true);
	e = edge_stats(&c->key);
	if (e)
		__sync_fetch_and_add(&e->closed, 1);
	edge_conn_forget(sk, c);
	return 0;
}

#define S_IFMT 0170000
#define S_IFSOCK 0140000

/*
 * Run by user space once per collection interval: visits every open file of
 * every process (threads sharing a file table once) and flushes the
 * connections behind TCP sockets. Files, not the connection table, because
 * the kernel refuses map-element iterators on some kernels (6.18 answers
 * EPERM) and iter/tcp only sees the opener's network namespace, while pods
 * have their own. The iterator holds a reference on the file, so the socket
 * stays valid during the visit. It sees the processes of the opener's PID
 * namespace: a collector without hostPID flushes its own pod's connections
 * only, the others' bytes then arrive at close (README).
 */
SEC("iter/task_file")
int iter_tcp_edge_conns(struct bpf_iter__task_file *ctx)
{
	struct file *f = ctx->file;
	struct tcp_edge_conn *c;
	struct socket *sock;
	__u64 key;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	key = (__u64)BPF_CORE_READ(sock, sk);
	if (!key)
		return 0;
	c = bpf_map_lookup_elem(&tcp_edge_conns, &key);
	if (!c || !c->live)
		return 0;
	edge_flush((const struct sock *)key, c, false);
	return 0;
}
