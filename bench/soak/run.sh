#!/usr/bin/env bash
# `make soak`: the long reliability tests of the built binary (test/soak, build tag soak):
#   TestBackendOutage  backend down for SOAK_OUTAGE (5m) under 2k spans/s, file_storage queue:
#                      within the bound every id arrives; beyond it the loss is counted and logged
#   TestSoak           SOAK_DURATION (30m) with every otelcol-custom component on; RSS and
#                      goroutines must grow < 5% after SOAK_WARMUP (5m)
# Needs root (eBPF receiver) and `make prereqs` (kube-apiserver, etcd, VictoriaMetrics).
# Results (summaries, soak-series.csv) go to $SOAK_RESULTS_DIR (default bench/soak/results); the
# full log, with a progress line every 10–30 s, to stdout and $SOAK_RESULTS_DIR/soak.log.
# SOAK_TESTS selects tests (a go test -run pattern). Runs under flock bench/.bench.lock like every
# benchmark: the figures are only meaningful on a machine not running other benchmarks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export OTELCOL_CUSTOM_BINARY=${OTELCOL_CUSTOM_BINARY:-$root/_build/otelcol-custom}
export SOAK_RESULTS_DIR=${SOAK_RESULTS_DIR:-$here/results}
tests=${SOAK_TESTS:-'TestBackendOutage|TestSoak'}
if [ ! -x "$OTELCOL_CUSTOM_BINARY" ]; then
  echo "soak: $OTELCOL_CUSTOM_BINARY missing: run \`make build\`" >&2; exit 1
fi
mkdir -p "$SOAK_RESULTS_DIR"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(go version | awk '{print $3}')"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "binary: $OTELCOL_CUSTOM_BINARY ($(stat -c %y "$OTELCOL_CUSTOM_BINARY" | cut -d. -f1), $("$OTELCOL_CUSTOM_BINARY" --version 2>/dev/null | head -1))"
  echo "settings: SOAK_OUTAGE=${SOAK_OUTAGE:-5m} SOAK_DURATION=${SOAK_DURATION:-30m} SOAK_WARMUP=${SOAK_WARMUP:-5m} SOAK_SAMPLE=${SOAK_SAMPLE:-30s} SOAK_RATE=${SOAK_RATE:-2000} tests=$tests"
} > "$SOAK_RESULTS_DIR/machine.txt"
cd "$root"
flock "$root/.bench.lock" go test -count=1 -tags soak -timeout 3h -v -run "$tests" ./test/soak/ 2>&1 |
  tee "$SOAK_RESULTS_DIR/soak.log"
