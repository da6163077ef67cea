// Package probes holds the compiled BPF programs of the eBPF receiver (sources
// in bpf/ at the repository root) and their generated Go bindings.
//
// The object files and bindings are committed so that `go build` needs no
// clang; `make generate` rebuilds them with clang-19 and CI checks they are
// fresh.
//
// The sources are compiled twice: Probes for kernels with BPF atomics, Compat
// (-DCOMPAT_OBJECT, see bpf/common.bpf.h) for kernels without; both have the same
// programs and maps, so one set of Go types (Probes*) serves both.
package probes

//go:generate bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -tags linux -type sched_stats -type sched_slot -type tcp_stats -type tcp_slot -type memory_slot -type tcp_peer_key -type tcp_peer_stats -type tcp_edge_key -type tcp_edge_stats -type memory_stats -type hist -type event_header -type exec_event -type exit_event -type oom_event -type tcp_conn_event -type tcp_reset_event Probes ../../../../bpf/ebpfreceiver.bpf.c -- -O2 -g -Wall -Werror -I../../../../bpf
//go:generate bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -tags linux -no-global-types Compat ../../../../bpf/ebpfreceiver.bpf.c -- -O2 -g -Wall -Werror -I../../../../bpf -DCOMPAT_OBJECT
