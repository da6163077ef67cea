#!/usr/bin/env bash
# Builds the kernel-matrix initramfs (an uncompressed newc cpio: the VM's kernel unpacks it without
# decompressing under emulation): busybox-static, test/kernels/init, the receiver's static test
# binaries with their testdata and metadata.yaml at the package paths the tests read them from, and
# the built collector with test/kernels/collector.yaml.
#
# Usage: test/kernels/initramfs.sh OUT.cpio [COLLECTOR_BINARY]
#   Without COLLECTOR_BINARY the image has no collector (for runs without the "collector" suite).
#   The image's tree stays in OUT.root (run.sh HOST=1 runs the same suites from it on the host).
# Run from the repository root (make test-kernels does).
set -euo pipefail
out=$1 collector=${2:-}
here=$(dirname "${BASH_SOURCE[0]}")
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list | grep -qx taskset ||
  { echo "initramfs: $busybox (busybox-static) missing; run scripts/prereq-kernels.sh" >&2; exit 1; }
[ -z "$collector" ] || [ -x "$collector" ] ||
  { echo "initramfs: collector binary $collector missing; run make build" >&2; exit 1; }

root=${out%.cpio}.root
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,src,collector}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/init" "$root/init"

# The packages whose tests touch the kernel, each as a static test binary named after the package,
# next to a copy of its testdata and metadata.yaml; /suites lists them for /init as "name package".
packages=(receiver/ebpfreceiver/internal/probes receiver/ebpfreceiver/internal/cgroupfs receiver/ebpfreceiver)
: >"$root/suites"
for pkg in "${packages[@]}"; do
  echo "${pkg##*/} $pkg" >>"$root/suites"
  dst=$root/src/$pkg
  mkdir -p "$dst"
  CGO_ENABLED=0 go test -c -o "$dst/${pkg##*/}.test" "./$pkg"
  [ -f "$pkg/metadata.yaml" ] && cp "$pkg/metadata.yaml" "$dst/"
  [ -d "$pkg/testdata" ] && cp -r "$pkg/testdata" "$dst/"
done
if [ -n "$collector" ]; then
  cp "$collector" "$root/collector/otelcol-custom"
  cp "$here/collector.yaml" "$root/collector/config.yaml"
  install -m 0755 "$here/collector-check.sh" "$root/collector/check.sh"
fi

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out.tmp"
mv "$out.tmp" "$out"
