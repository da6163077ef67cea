#!/usr/bin/env bash
# Compares k8s_tagging with contrib's k8sattributes (v1.0.0 = contrib v0.161.0) on a real
# kube-apiserver holding BENCH_PODS pods (default 10,000) in BENCH_REPLICASETS ReplicaSets (1,000)
# and BENCH_NAMESPACES namespaces (100). Needs the API server harness binaries (`make prereqs`).
# After each processor has synced, pods are churned (created and deleted five seconds later) at
# BENCH_CHURN_RATE/s (10) for BENCH_CHURN_SECONDS (60) while its watches stay open.
# Writes bench/k8s/results.json; the figures quoted in bench/k8s/README.md come from it.
set -euo pipefail
cd "$(dirname "$0")"
export OTELCOL_K8S_BENCH=1 BENCH_OUT=${BENCH_OUT:-$PWD/results.json}
go test -run '^TestCompare$' -timeout 90m -v . 2>&1 | grep -v '^[IWE][0-9]\{4\} ' | tee "${BENCH_LOG:-/tmp/k8s-bench.log}" | grep -E '^(---|ok|FAIL|\s+k8s_bench_test)'
