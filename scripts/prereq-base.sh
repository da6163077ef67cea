#!/usr/bin/env bash
# Base packages for building and testing otelcol-custom on Debian 12: clang/llvm/libbpf/bpftool for
# the BPF code (make generate), libcap2-bin (capsh, for the reduced-capability eBPF test), curl, git.
# Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(clang-19 llvm-19 libbpf-dev bpftool libcap2-bin curl git make python3)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "prereq-base: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
fi
