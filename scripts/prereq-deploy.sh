#!/usr/bin/env bash
# Tools the deploy/ tests use besides the API server (scripts/prereq-k8s.sh): TestCollectorListenersBind
# runs each collector config in a network namespace shaped like its pod (unshare from util-linux,
# ip from iproute2). Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(iproute2 util-linux)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "prereq-deploy: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
fi
