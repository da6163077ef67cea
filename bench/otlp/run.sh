#!/usr/bin/env bash
# OTLP pass-through: loadgen → collector (OTLP gRPC in → batch → OTLP gRPC out) → counting sink,
# otelcol-custom vs otelcol-upstream, alternating, same config, per signal. Reports items/s
# accepted, collector CPU seconds per million items, peak RSS. Markdown on stdout, progress on stderr.
# ROUNDS (5), DURATION (20 s per run) and SIGNALS ("traces metrics logs") choose the work.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${DURATION:-20}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ours=$root/_build/otelcol-custom peer=$root/_build/otelcol-upstream
for b in "$ours" "$peer"; do [ -x "$b" ] || { echo "missing $b: run 'make build peers'" >&2; exit 1; }; done
(cd "$root" && go build -o "$work/loadgen" ./bench/otlp/loadgen)
source "$root/bench/lib.sh"
# Peak RSS counts the binary's file pages: a freshly linked binary reads ~30 MB high until the page
# cache is dropped (see lib.sh).
drop_page_cache
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

# median: the middle value of the numbers on stdin (mean of the two middle ones for an even count).
median() { sort -g | awk '{v[NR]=$1} END{if(NR==0){print 0}else if(NR%2){printf "%.6g\n", v[(NR+1)/2]}else{printf "%.6g\n",(v[NR/2]+v[NR/2+1])/2}}'; }

# Single runs on two shared cores move ±10 % with whatever else the machine does, so each signal
# runs ROUNDS paired rounds (ours and upstream back to back, the order swapped every round so
# neither always gets the warmer machine) and the table gives medians; the ratio is the median of
# the per-round ratios, which cancels drift that affects both binaries of a round alike.
rounds=${ROUNDS:-5}
echo "### OTLP pass-through (OTLP gRPC → batch → OTLP gRPC sink, ${rounds} paired rounds of ${secs}s, 4 sender connections, medians)"
echo
echo "| signal | figure | otelcol-custom | otelcol-upstream | ratio (median of rounds) |"
echo "|---|---|---|---|---|"
for sig in ${SIGNALS:-traces metrics logs}; do
  : > "$work/rounds"
  for ((i = 1; i <= rounds; i++)); do
    if ((i % 2)); then
      echo "otlp bench: $sig round $i/$rounds (ours, then upstream)" >&2
      o=$(run "$ours" "$sig"); p=$(run "$peer" "$sig")
    else
      echo "otlp bench: $sig round $i/$rounds (upstream, then ours)" >&2
      p=$(run "$peer" "$sig"); o=$(run "$ours" "$sig")
    fi
    echo "$o $p" >> "$work/rounds"
    echo "otlp bench:   ours $o | upstream $p" >&2
  done
  # columns: 1 rate 2 cpu 3 rss 4 delivered (ours), 5-8 the same for upstream
  col() { awk -v c="$1" '{print $c}' "$work/rounds" | median; }
  rcol() { awk -v a="$1" -v b="$2" '{printf "%.4f\n", ($b==0)?0:$a/$b}' "$work/rounds" | median; }
  echo "| $sig | items/s accepted | $(col 1) | $(col 5) | $(rcol 1 5) |"
  echo "| $sig | CPU s per million items | $(col 2) | $(col 6) | $(rcol 2 6) |"
  echo "| $sig | peak RSS (MiB) | $(col 3) | $(col 7) | $(rcol 3 7) |"
  echo "| $sig | items delivered to sink (all rounds) | $(awk '{s+=$4} END{print s}' "$work/rounds") | $(awk '{s+=$8} END{print s}' "$work/rounds") | |"
done
