// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Benchmark-only baseline: empty programs on the receiver's two hottest
 * tracepoints. What BPF statistics report for them is the floor every
 * program pays on this machine before doing any work: the trampoline and
 * the statistics' own two sched_clock() reads per run. bench/ebpf subtracts
 * it to state what the receiver's programs cost by themselves.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_switch")
int BPF_PROG(empty_sched_switch)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(empty_sched_wakeup)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
