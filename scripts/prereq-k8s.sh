#!/usr/bin/env bash
# Prerequisites of the tests that run against a real Kubernetes API server (internal/k8stest and its
# users: processor/k8staggingprocessor, deploy/), built once from the module proxy with the nested
# module internal/k8stest/kube-apiserver into ${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}:
#   - etcd v3.6.4 (etcd-v3.6.4/etcd, ~1-3 minutes cold): Debian's etcd 3.4.23 lacks the progress
#     notifications kube-apiserver needs to stream lists (WatchList), which k8s_tagging uses;
#   - kube-apiserver v1.34.4 (kube-apiserver-v1.34.4/kube-apiserver), which Debian does not package.
#     A cold build takes 10-20 minutes on 2 cores and ~2 GB of RAM.
# Afterwards this script is a no-op. The harness looks for the binaries in $ETCD / $KUBE_APISERVER
# first, then at the cache paths above.
set -euo pipefail

K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${OTELCOL_CUSTOM_CACHE:-$HOME/.cache/otelcol-custom}
dest=$cache/kube-apiserver-$K8S_VERSION
bin=$dest/kube-apiserver
etcd_dest=$cache/etcd-$ETCD_VERSION

# build_tool PKG OUT [LDFLAGS]: go build a tool of the nested module into OUT, atomically.
build_tool() {
  local tmp
  mkdir -p "$(dirname "$2")"
  tmp=$(mktemp "$(dirname "$2")/.build.XXXXXX")
  (
    cd "$root/internal/k8stest/kube-apiserver"
    CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "${3:--s -w}" -o "$tmp" "$1"
  ) || { rm -f "$tmp"; return 1; }
  chmod 0755 "$tmp"
  mv -f "$tmp" "$2"
}

# version BINARY: its --version output (captured whole: a pipe into grep -q or head can kill it
# with SIGPIPE, which pipefail turns into a failure).
version() { [ -x "$1" ] && "$1" --version 2>/dev/null || true; }

if ! grep -qx "etcd Version: ${ETCD_VERSION#v}" <<<"$(version "$etcd_dest/etcd")"; then
  echo "prereq-k8s: building etcd $ETCD_VERSION into $etcd_dest (one time, 1-3 minutes)"
  build_tool go.etcd.io/etcd/server/v3 "$etcd_dest/etcd"
  echo "prereq-k8s: etcd ready at $etcd_dest/etcd"
fi

if grep -qx "Kubernetes $K8S_VERSION" <<<"$(version "$bin")"; then
  exit 0
fi

echo "prereq-k8s: building kube-apiserver $K8S_VERSION into $dest (one time, 10-20 minutes)"
# Release builds stamp the version; without it /version reports v0.0.0-master+$Format:...$ which
# client-go and kubectl fail to parse.
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=34"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
ldflags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000"
build_tool k8s.io/kubernetes/cmd/kube-apiserver "$bin" "$ldflags"
"$bin" --version
echo "prereq-k8s: kube-apiserver ready at $bin"
