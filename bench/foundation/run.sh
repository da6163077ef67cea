#!/usr/bin/env bash
# Foundation figures, otelcol-custom vs otelcol-upstream (same manifest without our components), in
# one run on the same machine: binary size, start → health_check ready, idle RSS after 10 s.
# Both run testdata/pipeline.yaml (minus the eBPF receiver) with the ports moved. Prints a markdown table (stdout).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${RUNS:-5}
ours=$root/_build/otelcol-custom
peer=$root/_build/otelcol-upstream
for b in "$ours" "$peer"; do [ -x "$b" ] || { echo "missing $b: run 'make build peers'" >&2; exit 1; }; done

# Both binaries run the default pipeline without the eBPF receiver (the upstream build has none).
config=$(mktemp --suffix=.yaml)
trap 'rm -f "$config"' EXIT
awk '/^  ebpf:/{skip=1; next} skip && /^    /{next} {skip=0; gsub(/, ebpf\]/, "]"); print}' "$root/testdata/pipeline.yaml" > "$config"

source "$root/bench/lib.sh"

# measure BIN → "startup_ms rss_kib" for one run
measure() {
  local bin=$1 hp gp tp pp mp pid t0 t1 rss
  hp=$(free_port); gp=$(free_port); tp=$(free_port); pp=$(free_port); mp=$(free_port)
  t0=$(date +%s%N)
  "$bin" --config "$config" \
    --set "extensions::health_check::endpoint=127.0.0.1:$hp" \
    --set "receivers::otlp::protocols::grpc::endpoint=127.0.0.1:$gp" \
    --set "receivers::otlp::protocols::http::endpoint=127.0.0.1:$tp" \
    --set "exporters::prometheus::endpoint=127.0.0.1:$pp" \
    --config "yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: $mp}}}}]" \
    >/dev/null 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$hp/" >/dev/null 2>&1; do
    kill -0 $pid 2>/dev/null || { echo "collector $bin died" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(date +%s%N)
  sleep 10
  rss=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid 2>/dev/null || true
  echo "$(( (t1 - t0) / 1000000 )) $rss"
}

median() { sort -n | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# Same page-cache state for both binaries, and a discarded warm-up run of each.
drop_page_cache
measure "$ours" >/dev/null; measure "$peer" >/dev/null

declare -A start rss
for b in ours peer; do
  bin=$ours; [ $b = peer ] && bin=$peer
  : > /tmp/foundation.$b
  for i in $(seq "$runs"); do measure "$bin" >> /tmp/foundation.$b; echo "foundation: $b run $i/$runs done" >&2; done
  start[$b]=$(awk '{print $1}' /tmp/foundation.$b | median)
  rss[$b]=$(awk '{print $2}' /tmp/foundation.$b | median)
done
size_o=$(stat -c %s "$ours"); size_p=$(stat -c %s "$peer")
cat <<MD
### Foundation: otelcol-custom vs otelcol-upstream ($runs runs, medians)

| figure | otelcol-custom | otelcol-upstream | ratio |
|---|---|---|---|
| binary size (MiB) | $(awk -v s=$size_o 'BEGIN{printf "%.1f", s/1048576}') | $(awk -v s=$size_p 'BEGIN{printf "%.1f", s/1048576}') | $(ratio $size_o $size_p) |
| start → health_check ready (ms) | ${start[ours]} | ${start[peer]} | $(ratio ${start[ours]} ${start[peer]}) |
| idle RSS after 10 s (MiB) | $(awk -v s=${rss[ours]} 'BEGIN{printf "%.1f", s/1024}') | $(awk -v s=${rss[peer]} 'BEGIN{printf "%.1f", s/1024}') | $(ratio ${rss[ours]} ${rss[peer]}) |
MD
