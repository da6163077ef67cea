// Package ebpftest holds the workloads that tests and benchmarks of the eBPF
// receiver run for its programs to see: a TCP server that discards what it
// receives, fresh cgroups, and child processes that re-execute the running
// binary in a named role (so a workload runs in its own process, inside a
// given cgroup, with no helper binary to build).
//
// It is shared by the receiver's kernel tests, bench/ebpf, test/e2e and
// test/soak. Errors are returned, not asserted, so a benchmark's main can use
// it as well as a test.
package ebpftest
