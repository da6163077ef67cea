#!/usr/bin/env bash
# `make bench`: runs every benchmark and writes bench/results.md — one table per benchmark with our
# figure, the peer's, the ratio, plus machine facts. Each bench/<name>/run.sh also runs alone and
# prints its markdown table on stdout (progress goes to stderr).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/results.md
only=${BENCH:-foundation otlp ebpf prw k8s}
{
  echo "# Benchmark results"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(go version | awk '{print $3}')"
  echo "- commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
} > "$out.tmp"
for b in $only; do
  script=$here/$b/run.sh
  if [ ! -x "$script" ]; then echo "bench: $b has no run.sh yet" >&2; continue; fi
  echo "bench: running $b" >&2
  if "$script" >> "$out.tmp"; then echo >> "$out.tmp"; else echo "bench: $b FAILED" >&2; echo "### $b: failed (see log)" >> "$out.tmp"; fi
done
mv "$out.tmp" "$out"
echo "bench: wrote $out" >&2
