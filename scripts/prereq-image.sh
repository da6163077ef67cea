#!/usr/bin/env bash
# Tools for deploy/image/build.sh (container image build and smoke test): podman with vfs storage,
# runc (crun refuses hosts with hybrid cgroups), curl and nsenter for the smoke test, the CA bundle
# copied into the image. Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(podman runc curl util-linux ca-certificates)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "prereq-image: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
fi
