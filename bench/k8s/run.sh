#!/usr/bin/env bash
# Compares k8s_tagging with contrib's k8sattributes on a real kube-apiserver holding BENCH_PODS pods
# (default 10,000) in BENCH_REPLICASETS ReplicaSets (1,000) and BENCH_NAMESPACES namespaces (100).
# Needs the API server harness binaries (`make prereqs`) and, for the "binary" scenario, the
# collector binaries _build/otelcol-custom and _build/otelcol-k8sattributes (`make build peers`).
#
# BENCH_SCENARIOS (comma-separated, default default,three_signals,agent,binary):
#   default, deployment_uid, three_signals, agent
#                                           in-process: each processor (contrib v1.0.0 = our pin,
#                                           and ours) from its factory in its own child process;
#                                           agent = filter.node_from_env_var for one of 50 nodes
#   binary                                  the whole collector binaries as users run them
# In-process scenarios start both processors (each syncs alone), then churn pods (created, deleted
# five seconds later) at BENCH_CHURN_RATE/s (10) for BENCH_CHURN_SECONDS (300; 0 = no churn) while
# both watch, so both receive the same events; then each measures memory and tagging cost.
# Writes results.json (raw figures, API request logs) and results.md (tables, also on stdout for
# bench/run.sh); progress goes to stderr, the full log to $BENCH_LOG (/tmp/k8s-bench.log).
# Takes ~25 minutes with the defaults (each scenario churns once while both processors watch).
# Run it under `flock /work/main/.bench.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")"
export OTELCOL_K8S_BENCH=1
export BENCH_OUT=${BENCH_OUT:-$PWD/results.json} BENCH_TABLE=${BENCH_TABLE:-$PWD/results.md}
export BENCH_CHURN_SECONDS=${BENCH_CHURN_SECONDS:-300} BENCH_SCENARIOS=${BENCH_SCENARIOS:-default,three_signals,agent,binary}
log=${BENCH_LOG:-/tmp/k8s-bench.log}
rm -f "$BENCH_TABLE.tmp"
status=0
BENCH_TABLE=$BENCH_TABLE.tmp go test -run '^TestCompare$' -timeout 120m -v . 2>&1 |
  grep -av '^[IWE][0-9]\{4\} ' | tee "$log" | grep -aE '^(---|ok|FAIL|\s+(k8s|binary|encodings)_bench_test)' >&2 || status=$?
if [ ! -s "$BENCH_TABLE.tmp" ]; then
  echo "bench/k8s: no results (see $log)" >&2
  exit 1
fi
mv "$BENCH_TABLE.tmp" "$BENCH_TABLE"
cat "$BENCH_TABLE"
exit "$status"
