#!/usr/bin/env bash
# Remote-write exporter benchmark: otelcol-custom's prometheus_remote_write exporter vs contrib's at
# v0.161.0, same in-process harness (prw_bench_test.go), into a counting sink process (default) or
# VictoriaMetrics (PRW_BENCH_TARGET=vm). Then, unless PRW_RSS=0, each exporter alone in a child
# process at one fixed rate (rss_test.go) for RSS at equal load. Prints markdown tables on stdout.
#   BENCHTIME (default 10x) rounds per case; each round sends every series once.
#   PRW_BENCH_SERIES: a regexp on the series count, e.g. '10000$' (default: 10k and 1M).
#   PRW_SINK_FULL_DECODE=1: the sink unmarshals every request completely instead of counting.
#   PRW_RSS_RATE (50000 samples/s), PRW_RSS_SECONDS (60), PRW_RSS_WARMUP_SECONDS (15).
#   PRW_BENCH=0 skips BenchmarkExport; PRW_REQUESTS=0 skips the requests-per-export comparison.
# Run it under the machine's benchmark lock: flock /work/main/.bench.lock bench/prw/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
benchtime=${BENCHTIME:-10x}
target=${PRW_BENCH_TARGET:-sink}
series=${PRW_BENCH_SERIES:-}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
go test -c -o prw.test . >&2
if [ "${PRW_BENCH:-1}" != 0 ]; then
echo "prw: running BenchmarkExport (benchtime $benchtime, target $target)" >&2
PRW_BENCH_TARGET=$target ./prw.test -test.run XXX -test.bench "BenchmarkExport/series=${series}" -test.benchtime "$benchtime" -test.timeout 60m | tee "$raw" >&2
echo "### prometheus_remote_write exporter → $target (ours vs contrib v0.161.0)"
echo
echo "| series | exporter | samples/s | CPU s / M samples (process) | exporter CPU s / M (minus load generator) | target CPU s / M | allocs / sample | GC pause p99 (ms) | GC cycles | peak heap (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk '/^BenchmarkExport/ {
  split($1, p, "/"); s=p[2]; sub("series=", "", s); e=p[3]; sub("impl=", "", e); sub("-[0-9]+$", "", e)
  delete v
  for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
  sink = ("target-cpu-s/Msamples" in v) ? sprintf("%.2f", v["target-cpu-s/Msamples"]) : "n/a"
  gcs = ("gc-cycles" in v) ? sprintf("%.0f", v["gc-cycles"]) : "n/a"
  printf "| %s | %s | %.0f | %.2f | %.2f | %s | %.2f | %.2f | %s | %.0f |\n", s, e, v["samples/s"], v["cpu-s/Msamples"], v["exporter-cpu-s/Msamples"], sink, v["allocs/sample"], v["gc-p99-ms"], gcs, v["peak-heap-MiB"]
}' "$raw"
fi
if [ "${PRW_REQUESTS:-1}" != 0 ]; then
  echo >&2 "prw: requests per export"
  echo
  PRW_REQUESTS=1 ./prw.test -test.run '^TestRequestsPerExport$' -test.v -test.timeout 20m | grep -E '^(\||###|$)'
fi
if [ "${PRW_RSS:-1}" != 0 ]; then
  echo >&2 "prw: equal-load RSS comparison (child processes)"
  echo
  PRW_RSS=1 PRW_BENCH_TARGET=$target ./prw.test -test.run '^TestRSSAtEqualLoad$' -test.v -test.timeout 60m | grep -E '^(\||###|$)'
fi
rm -f prw.test
