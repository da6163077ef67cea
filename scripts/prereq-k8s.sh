#!/usr/bin/env bash
# Prerequisites of the tests that run against a real Kubernetes API server (internal/k8stest and its
# users: processor/k8staggingprocessor, deploy/):
#   - etcd from Debian's etcd-server package;
#   - kube-apiserver, which Debian does not package: built once from the module proxy with the nested
#     module internal/k8stest/kube-apiserver (k8s.io/kubernetes v1.34.4) into
#     ${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}/kube-apiserver-v1.34.4/kube-apiserver.
#     A cold build takes 10-20 minutes on 2 cores and ~2 GB of RAM; afterwards this script is a no-op.
# The harness looks for the binary in $KUBE_APISERVER first, then at the cache path above.
set -euo pipefail

K8S_VERSION=v1.34.4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}
dest=$cache/kube-apiserver-$K8S_VERSION
bin=$dest/kube-apiserver

if ! command -v etcd >/dev/null 2>&1; then
  echo "prereq-k8s: installing etcd-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq etcd-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq etcd-server; }
  # The package starts a system etcd on :2379; the tests run their own on random ports.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
fi

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION"; then
  exit 0
fi

echo "prereq-k8s: building kube-apiserver $K8S_VERSION into $dest (one time, 10-20 minutes)"
mkdir -p "$dest"
# Release builds stamp the version; without it /version reports v0.0.0-master+$Format:...$ which
# client-go and kubectl fail to parse.
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=34"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
ldflags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000"
tmp=$(mktemp "$dest/.kube-apiserver.XXXXXX")
trap 'rm -f "$tmp"' EXIT
(
  cd "$root/internal/k8stest/kube-apiserver"
  CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$tmp" k8s.io/kubernetes/cmd/kube-apiserver
)
chmod 0755 "$tmp"
"$tmp" --version
mv -f "$tmp" "$bin"
trap - EXIT
echo "prereq-k8s: kube-apiserver ready at $bin"
