#!/usr/bin/env bash
# Tools for deploy/image/build.sh (container image build and smoke test): podman with vfs storage,
# runc (crun refuses hosts with hybrid cgroups), curl and nsenter for the smoke test, the CA bundle
# copied into the image. Idempotent: installs only what is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"
apt_install_missing prereq-image podman runc curl util-linux ca-certificates
