#!/usr/bin/env bash
# The kernel matrix (test/kernels, `make test-kernels`): QEMU for booting Debian's kernels under
# software emulation, busybox-static for the initramfs, cpio to pack it, and the decompressors that
# test/kernels/fetch.sh needs to pull each kernel's BTF out of its bzImage. The kernels themselves
# are downloaded on demand by test/kernels/fetch.sh into the project cache, never installed.
# Idempotent: installs only what is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"
# QEMU's recommends (firmware for other machines, GUI bits, …) are not needed for -nographic.
APT_INSTALL_OPTS=--no-install-recommends apt_install_missing prereq-kernels \
  qemu-system-x86 busybox-static cpio lz4 zstd xz-utils binutils
