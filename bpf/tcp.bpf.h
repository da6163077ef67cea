/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * TCP signal: connection lifecycle, bytes, RTT, retransmits and resets per
 * cgroup (the cgroup the socket was created in, not whatever task happens to
 * run when a softirq changes its state). Closed connections and resets are
 * also sent as events for spans and logs.
 */
#pragma once

#include "common.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* Set by user space before loading (tcp.spans, tcp.per_peer). */
const volatile bool tcp_spans_enabled = false;
const volatile bool tcp_per_peer_enabled = false;

/* struct tcp_stats, the per-cgroup value: cgroup_stats.h */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4097);
	__type(key, __u64);
	__type(value, struct tcp_stats);
} tcp_stats_map SEC(".maps");

struct tcp_stats zero_tcp_stats;

/* Optional breakdown of closed connections by peer (tcp.per_peer). */
struct tcp_peer_key {
	__u64 cgroup_id;
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
	__u16 port;    /* remote port for client connections, 0 for server ones */
	__u16 family;
	__u32 pad;
};

struct tcp_peer_stats {
	__u64 closes;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 retransmits;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024); /* tcp.per_peer.max_series */
	__type(key, struct tcp_peer_key);
	__type(value, struct tcp_peer_stats);
} tcp_peer_stats_map SEC(".maps");

struct tcp_peer_stats zero_tcp_peer_stats;

/* Per-socket state from establishment to close. */
struct conn_info {
	__u64 established_ns;
	__u64 cgroup_id;
	__u8 active;
};

#ifndef COMPAT_OBJECT
/* Socket local storage: freed with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn_info);
} conn_map SEC(".maps");

static __always_inline struct conn_info *conn_get(const struct sock *sk, bool create)
{
	return bpf_sk_storage_get(&conn_map, (void *)sk, 0, create ? BPF_SK_STORAGE_GET_F_CREATE : 0);
}

static __always_inline void conn_forget(const struct sock *sk, struct conn_info *c)
{
	c->established_ns = 0; /* the storage goes with the socket */
}
#else
/*
 * Compat object: a hash keyed by the socket's address, bounded (max_entries
 * set by user space). Every connection that was established reaches
 * TCP_CLOSE before its socket is freed, and the entry is deleted then; a
 * creation that finds the table full is counted and the connection is not
 * tracked.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct conn_info);
} conn_map SEC(".maps");

static __always_inline struct conn_info *conn_get(const struct sock *sk, bool create)
{
	static const struct conn_info zero;

	return sock_entry(&conn_map, sk, &zero, create);
}

static __always_inline void conn_forget(const struct sock *sk, struct conn_info *c)
{
	__u64 key = (__u64)sk;

	bpf_map_delete_elem(&conn_map, &key);
}
#endif

struct tcp_addrs {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u16 family;
	__u16 pad;
};

struct tcp_conn_event {
	struct event_header hdr;
	struct tcp_addrs addrs;
	__u64 start_ns;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u32 retransmits;
	__u32 srtt_us;
	__u8 active;
	__u8 pad[7];
};

struct tcp_reset_event {
	struct event_header hdr;
	struct tcp_addrs addrs;
	__u32 state; /* TCP state of the socket, 0 when no socket was involved */
	__u8 sent;   /* 1 = we sent the RST, 0 = we received it */
	__u8 pad[3];
};

/* Sockets in these states are mini sockets without full-sock fields. */
/*
 * sk is a BTF pointer from a tracepoint argument: direct (CO-RE relocated)
 * loads are allowed and cost a load each instead of a bpf_probe_read_kernel
 * call; a fault is caught by the kernel's exception table and reads zero.
 */
static __always_inline bool is_full_sock(const struct sock *sk)
{
	int state = sk->__sk_common.skc_state;

	return state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
}

/* Before Linux 5.15 sock_cgroup_data was a union of the cgroup pointer with net_cls/net_prio data. */
struct sock_cgroup_data___val {
	__u64 val;
} __attribute__((preserve_access_index));

struct sock___cgroup_val {
	struct sock_cgroup_data___val sk_cgrp_data;
} __attribute__((preserve_access_index));

/* kernfs id of the cgroup2 root (the first id kernfs hands out). */
#define ROOT_CGROUP_ID 1

static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	__u64 val;

	if (!is_full_sock(sk))
		return 0;
	if (bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return sk->sk_cgrp_data.cgroup->kn->id;
	/*
	 * val holds the cgroup pointer unless one of its two low bits says it
	 * holds net_cls/net_prio (cgroup v1) data: the kernel then attributes
	 * the socket to the root cgroup (sock_cgroup_ptr), and so do we.
	 */
	val = BPF_CORE_READ((struct sock___cgroup_val *)sk, sk_cgrp_data.val);
	if (val == 0 || (val & 3))
		return ROOT_CGROUP_ID;
	return BPF_CORE_READ((struct cgroup *)val, kn, id);
}

static __always_inline void read_addrs(const struct sock *sk, struct tcp_addrs *a)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	a->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* A closed socket gave its port back (skc_num = 0) but still sends from it. */
	if (a->lport == 0 && is_full_sock(sk))
		a->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	a->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (a->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)a->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)a->raddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(a->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(a->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

/* Per-CPU slots in front of tcp_stats_map (see stats_for in common.bpf.h). */
struct tcp_slot {
	__u64 owner; /* cgroup id */
	struct tcp_stats stats;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 128); /* slot_mask + 1, set by user space */
	__type(key, __u32);
	__type(value, struct tcp_slot);
} tcp_slots SEC(".maps");

static __always_inline struct tcp_stats *tcp_stats_for(__u64 cgroup_id)
{
	return stats_for(&tcp_slots, &tcp_stats_map, cgroup_id, &zero_tcp_stats, sizeof(struct tcp_stats), OVERFLOW_TCP);
}

static __always_inline void count_peer(const struct sock *sk, const struct conn_info *c, __u64 sent,
				       __u64 received, __u32 retrans)
{
	struct tcp_peer_key key = {};
	struct tcp_peer_stats *p;
	struct tcp_addrs a;

	read_addrs(sk, &a);
	key.cgroup_id = c->cgroup_id;
	key.family = a.family;
	__builtin_memcpy(key.addr, a.raddr, sizeof(key.addr));
	/* A server's peers use ephemeral ports: keep them out of the key. */
	key.port = c->active ? a.rport : 0;
	p = bpf_map_lookup_elem(&tcp_peer_stats_map, &key);
	if (!p) {
		map_insert(&tcp_peer_stats_map, &key, &zero_tcp_peer_stats);
		p = bpf_map_lookup_elem(&tcp_peer_stats_map, &key);
	}
	if (!p) {
		/* Cap reached: the per-cgroup totals still hold this connection. */
		count_overflow(OVERFLOW_TCP_PEER);
		return;
	}
	p->closes++;
	p->bytes_sent += sent;
	p->bytes_received += received;
	p->retransmits += retrans;
}

static __always_inline void tcp_closed(const struct sock *sk, struct conn_info *c)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 now = bpf_ktime_get_ns();
	/* Payload bytes sent once (bytes_acked would also count SYN and FIN). */
	__u64 sent = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
	__u64 received = BPF_CORE_READ(tp, bytes_received);
	__u32 srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	__u32 retrans = BPF_CORE_READ(tp, total_retrans);
	struct tcp_stats *s = tcp_stats_for(c->cgroup_id);
	struct tcp_conn_event *e;

	/* bytes_received counts the peer's FIN as one byte; RCV_SHUTDOWN (1) marks a received FIN. */
	if (received && (BPF_CORE_READ(sk, sk_shutdown) & 1))
		received--;
	if (s) {
		s->closes++;
		s->bytes_sent += sent;
		s->bytes_received += received;
		hist_add(&s->duration_us, (now - c->established_ns) / 1000);
		hist_add(&s->srtt_us, srtt_us);
	}
	if (tcp_per_peer_enabled)
		count_peer(sk, c, sent, received, retrans);
	if (!tcp_spans_enabled)
		return;

	e = event_reserve(sizeof(*e));
	if (!e)
		return;
	event_header_fill(&e->hdr, EVENT_TCP_CONN, c->cgroup_id);
	read_addrs(sk, &e->addrs);
	e->start_ns = c->established_ns;
	e->bytes_sent = sent;
	e->bytes_received = received;
	e->retransmits = retrans;
	e->srtt_us = srtt_us;
	e->active = c->active;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	struct conn_info *c;
	struct tcp_stats *s;

	/* Most transitions need no work: decide on the arguments before touching sk. */
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		c = conn_get(sk, true);
		if (!c)
			return 0;
		c->established_ns = bpf_ktime_get_ns();
		c->cgroup_id = sock_cgroup_id(sk);
		c->active = oldstate == TCP_SYN_SENT;
		s = tcp_stats_for(c->cgroup_id);
		if (s) {
			if (c->active)
				s->active_opens++;
			else
				s->passive_opens++;
		}
		return 0;
	}

	if (newstate == TCP_CLOSE) {
		/* Only connections we saw established are counted as closed. */
		c = conn_get(sk, false);
		if (!c || !c->established_ns)
			return 0;
		tcp_closed(sk, c);
		conn_forget(sk, c);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(handle_tcp_retransmit_skb, const struct sock *sk)
{
	struct tcp_stats *s = tcp_stats_for(sock_cgroup_id(sk));

	if (s)
		s->retransmits++;
	return 0;
}

/*
 * Addresses of a RST sent without a socket (the answer to a segment for which
 * no socket exists, e.g. a SYN to a closed port): taken from the segment that
 * triggered it, whose destination is our side. The headers are packet data,
 * not BTF-typed memory, so they are read with bpf_probe_read_kernel; this runs
 * once per such reset only. Returns false when the headers are not readable
 * or not IPv4/IPv6 + TCP, leaving the addresses zero.
 */
static __always_inline bool read_skb_addrs(const struct sk_buff *skb, struct tcp_addrs *a)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 network = BPF_CORE_READ(skb, network_header);
	__u16 transport = BPF_CORE_READ(skb, transport_header);
	__be16 ports[2]; /* source, dest of the received segment */
	__u8 version;

	__builtin_memset(a, 0, sizeof(*a));
	if (!head || bpf_probe_read_kernel(&version, 1, head + network))
		return false;
	version >>= 4;
	if (version == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + network) || ip.protocol != IPPROTO_TCP)
			return false;
		__builtin_memcpy(a->laddr, &ip.daddr, 4);
		__builtin_memcpy(a->raddr, &ip.saddr, 4);
		a->family = AF_INET;
	} else if (version == 6) {
		struct ipv6hdr ip6;

		/* The transport header offset skips any extension headers already. */
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + network))
			return false;
		__builtin_memcpy(a->laddr, &ip6.daddr, 16);
		__builtin_memcpy(a->raddr, &ip6.saddr, 16);
		a->family = AF_INET6;
	} else {
		return false;
	}
	if (bpf_probe_read_kernel(ports, sizeof(ports), head + transport)) {
		__builtin_memset(a, 0, sizeof(*a));
		return false;
	}
	a->lport = bpf_ntohs(ports[1]);
	a->rport = bpf_ntohs(ports[0]);
	return true;
}

/* skb is the segment being answered (send side only); NULL on the receive side. */
static __always_inline void tcp_reset(const struct sock *sk, const struct sk_buff *skb, bool sent)
{
	__u64 cgroup_id = sk ? sock_cgroup_id(sk) : 0;
	struct tcp_stats *s = tcp_stats_for(cgroup_id);
	struct tcp_reset_event *e;

	if (s) {
		if (sent)
			s->resets_sent++;
		else
			s->resets_received++;
	}
	if (!logs_enabled)
		return;
	e = event_reserve(sizeof(*e));
	if (!e)
		return;
	event_header_fill(&e->hdr, EVENT_TCP_RESET, cgroup_id);
	if (sk) {
		read_addrs(sk, &e->addrs);
		e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	} else {
		/* No socket: state 0, addresses from the segment when there is one. */
		if (skb)
			read_skb_addrs(skb, &e->addrs);
		else
			__builtin_memset(&e->addrs, 0, sizeof(e->addrs));
		e->state = 0;
	}
	e->sent = sent;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
}

/*
 * sk is NULL for a RST answering a segment without a socket, and a mini
 * socket (TIME_WAIT, NEW_SYN_RECV) in some paths. The answered segment is the
 * tracepoint's second argument since Linux 6.10 (the release that added enum
 * sk_rst_reason as the third); on older kernels the branch is dead after
 * CO-RE relocation and the verifier never sees the ctx[1] load.
 */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(handle_tcp_send_reset, const struct sock *sk)
{
	const struct sk_buff *skb = NULL;

	if (bpf_core_type_exists(enum sk_rst_reason))
		skb = (const struct sk_buff *)ctx[1];
	tcp_reset(sk, skb, true);
	return 0;
}

/* Always a full socket: tcp_reset() runs for established and connecting sockets only. */
SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(handle_tcp_receive_reset, struct sock *sk)
{
	tcp_reset(sk, NULL, false);
	return 0;
}
