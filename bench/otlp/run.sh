#!/usr/bin/env bash
# OTLP pass-through: loadgen → collector (OTLP gRPC in → batch → OTLP gRPC out) → counting sink,
# otelcol-custom vs otelcol-upstream, alternating, same config, per signal. Reports items/s
# accepted, collector CPU seconds per million items, peak RSS. Markdown on stdout, progress on stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${DURATION:-20}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ours=$root/_build/otelcol-custom peer=$root/_build/otelcol-upstream
for b in "$ours" "$peer"; do [ -x "$b" ] || { echo "missing $b: run 'make build peers'" >&2; exit 1; }; done
(cd "$root" && go build -o "$work/loadgen" ./bench/otlp/loadgen)
source "$root/bench/lib.sh"
clk=$(getconf CLK_TCK)

# run BIN SIGNAL → "items_per_sec cpu_s_per_million peak_rss_mib delivered"
run() {
  local bin=$1 sig=$2 in out pid sinkpid cpu0 cpu1 res items rate hwm got
  in=$(free_port); out=$(free_port)
  "$work/loadgen" -mode sink -listen "127.0.0.1:$out" > "$work/sink.out" & sinkpid=$!
  cat > "$work/cfg.yaml" <<YAML
receivers:
  otlp:
    protocols: {grpc: {endpoint: "127.0.0.1:$in"}}
processors:
  batch: {}
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:$out
    tls: {insecure: true}
service:
  telemetry: {metrics: {level: none}, logs: {level: warn}}
  pipelines:
    $sig: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}
YAML
  "$bin" --config "$work/cfg.yaml" > "$work/col.log" 2>&1 & pid=$!
  until (echo > /dev/tcp/127.0.0.1/$in) 2>/dev/null; do sleep 0.05; done
  cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
  res=$("$work/loadgen" -mode send -target "127.0.0.1:$in" -signal "$sig" -duration "${secs}s" -conns 4)
  cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
  hwm=$(awk '/^VmHWM/{print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid 2>/dev/null || true
  kill -TERM $sinkpid; wait $sinkpid 2>/dev/null || true
  got=$(cat "$work/sink.out")
  items=$(echo "$res" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])')
  rate=$(echo "$res" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["items_per_sec"]))')
  awk -v r=$rate -v c0=$cpu0 -v c1=$cpu1 -v k=$clk -v n=$items -v h=$hwm -v g=$got \
    'BEGIN{printf "%d %.3f %.1f %d\n", r, ((c1-c0)/k)/(n/1e6), h/1024, g}'
}

echo "### OTLP pass-through (OTLP gRPC → batch → OTLP gRPC sink, ${secs}s per run, 4 sender connections)"
echo
echo "| signal | figure | otelcol-custom | otelcol-upstream | ratio |"
echo "|---|---|---|---|---|"
for sig in traces metrics logs; do
  echo "otlp bench: $sig (ours)" >&2; read -r ro co mo go_ <<<"$(run "$ours" $sig)"
  echo "otlp bench: $sig (upstream)" >&2; read -r rp cp mp gp <<<"$(run "$peer" $sig)"
  echo "| $sig | items/s accepted | $ro | $rp | $(ratio $ro $rp) |"
  echo "| $sig | CPU s per million items | $co | $cp | $(ratio $co $cp) |"
  echo "| $sig | peak RSS (MiB) | $mo | $mp | $(ratio $mo $mp) |"
  echo "| $sig | items delivered to sink | $go_ | $gp | |"
done
