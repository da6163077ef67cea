#!/usr/bin/env bash
# Base packages for building and testing otelcol-custom on Debian 12: clang/llvm/libbpf/bpftool for
# the BPF code (make generate), libcap2-bin (capsh, for the reduced-capability eBPF test), curl, git.
# Idempotent: installs only what is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"
apt_install_missing prereq-base clang-19 llvm-19 libbpf-dev bpftool libcap2-bin curl git make python3
