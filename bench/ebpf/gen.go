// Command ebpfbench measures the eBPF receiver's cost: ns per event per BPF
// program, workload throughput with the receiver attached vs detached,
// collector CPU and RSS, and the same for a per-event streaming design.
// Run it through run.sh (needs root); see README.md.
package main

//go:generate bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -tags linux -type sched_event streaming bpf/streaming.bpf.c -- -O2 -g -Wall -Werror -I../../bpf
//go:generate bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -tags linux baseline bpf/baseline.bpf.c -- -O2 -g -Wall -Werror -I../../bpf
//go:generate bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -tags linux opcost bpf/opcost.bpf.c -- -O2 -g -Wall -Werror -I../../bpf
