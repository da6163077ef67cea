#!/usr/bin/env bash
# Remote-write exporter benchmark: otelcol-custom's prometheus_remote_write exporter vs contrib's at
# v0.161.0, same in-process harness (prw_bench_test.go), into a decoding/counting sink process
# (default) or VictoriaMetrics (PRW_BENCH_TARGET=vm). Prints a markdown table on stdout.
#   BENCHTIME (default 10x) rounds per case; each round sends every series once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
benchtime=${BENCHTIME:-10x}
target=${PRW_BENCH_TARGET:-sink}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
echo "prw: running BenchmarkExport (benchtime $benchtime, target $target)" >&2
PRW_BENCH_TARGET=$target go test -run XXX -bench BenchmarkExport -benchtime "$benchtime" -timeout 60m . | tee "$raw" >&2
echo "### prometheus_remote_write exporter → $target (ours vs contrib v0.161.0)"
echo
echo "| series | exporter | samples/s | CPU s / M samples | allocs / sample | GC pause p99 (ms) | peak heap (MiB) |"
echo "|---|---|---|---|---|---|---|"
awk '/^BenchmarkExport/ {
  split($1, p, "/"); s=p[2]; sub("series=", "", s); e=p[3]; sub("impl=", "", e); sub("-[0-9]+$", "", e)
  for (i = 4; i < NF; i += 2) v[$(i+1)] = $i
  printf "| %s | %s | %.0f | %.2f | %.2f | %.2f | %.0f |\n", s, e, v["samples/s"], v["cpu-s/Msamples"], v["allocs/sample"], v["gc-p99-ms"], v["peak-heap-MiB"]
}' "$raw"
