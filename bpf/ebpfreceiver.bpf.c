// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * BPF programs of the otelcol-custom eBPF receiver (receiver/ebpfreceiver).
 *
 * Everything attaches to BTF tracepoints (tp_btf): no kprobes and no tracefs
 * are needed, and CO-RE relocations against vmlinux.h make one object run on
 * every kernel with BTF. Metrics are aggregated here in per-CPU hash maps keyed
 * by cgroup v2 id; user space only reads the maps once per collection interval.
 * Discrete events (exec, exit, OOM, TCP resets, closed connections) go through
 * one ring buffer that drops and counts when full instead of blocking.
 */
#include "common.bpf.h"
#include "sched.bpf.h"
#include "tcp.bpf.h"
#include "memory.bpf.h"
#include "tcp_edges.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Unused globals that put the event layouts into BTF, so bpf2go can mirror them into Go. */
const struct exec_event *unused_exec_event __attribute__((unused));
const struct exit_event *unused_exit_event __attribute__((unused));
const struct oom_event *unused_oom_event __attribute__((unused));
const struct tcp_conn_event *unused_tcp_conn_event __attribute__((unused));
const struct tcp_reset_event *unused_tcp_reset_event __attribute__((unused));
