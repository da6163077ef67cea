#!/usr/bin/env bash
# eBPF receiver benchmark: builds bench/ebpf and runs three phases (detached,
# receiver attached, per-event streaming variant) on the same workload.
# Needs root. Usage: bench/ebpf/run.sh [-duration 10s] [-pairs 2] [-tcp 1] [-mem 1]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/.work/ebpf
mkdir -p "$out"
CGO_ENABLED=0 go build -o "$out/ebpfbench" ./bench/ebpf
"$out/ebpfbench" "$@" | tee "$out/results.md"
